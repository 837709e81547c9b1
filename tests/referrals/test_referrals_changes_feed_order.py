"""The care systems' changes feed on PostgreSQL, with transactions that commit out of order:
a reader that follows the cursor never skips a change, nor sees one twice."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from sqlalchemy import text
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, select

from referrals.app import MIGRATIONS
from referrals.domain import HoldReason, Referral, ReferralStatus
from referrals.store import ChangeRow, ReferralsUnitOfWork
from runtime.migrations import upgrade
from runtime.storage import make_engine
from tests.kit import wait_for
from tests.referrals.support import NOW, referral_in, the_partner

StartUow = Callable[[], ReferralsUnitOfWork]

WRITERS = 6
STEPS = 12
"""Each writer puts its own referral on hold and back this many times."""


@pytest.fixture
def start_uow(postgres_urls: dict[str, str]) -> Iterator[StartUow]:
    engine = make_engine(postgres_urls["referrals"])
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade(MIGRATIONS, engine)
    factory = sessionmaker(engine, class_=Session, expire_on_commit=False)
    yield lambda: ReferralsUnitOfWork(factory, "/brobygger/referrals")
    engine.dispose()


def stored_in_progress(start_uow: StartUow) -> UUID:
    referral = referral_in(ReferralStatus.IN_PROGRESS)
    with start_uow() as uow:
        uow.referrals.add(referral, citizen_id=uuid4(), note=None)
        uow.commit()
    return referral.id


def hold_or_resume(referral: Referral, step: int) -> None:
    """One step that changes the status: on hold, then back, and so on."""
    partner, at = the_partner(referral), NOW + timedelta(minutes=step)
    if referral.status is ReferralStatus.ON_HOLD:
        referral.resume(partner, at)
    else:
        referral.put_on_hold(partner, HoldReason.CITIZEN_AWAY, None, at)


def read_on(start_uow: StartUow, after: int) -> list[int]:
    with start_uow() as uow:
        return [change.seq for change in uow.referrals.changes(None, after, 1000)]


def waiting_for_a_lock(start_uow: StartUow) -> bool:
    with start_uow() as uow:
        waiting = uow.session.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        ).scalar_one()
    return bool(waiting)


def test_a_change_committed_after_a_later_numbered_one_is_never_skipped(
    start_uow: StartUow,
) -> None:
    first, second = stored_in_progress(start_uow), stored_in_progress(start_uow)
    cursor = read_on(start_uow, 0)[-1]

    # The first transaction takes its number and stays open.
    slow = start_uow()
    slow.__enter__()
    referral = slow.referrals.get(first, for_update=True)
    assert referral is not None
    hold_or_resume(referral, 1)
    slow.referrals.save(referral)

    # A second one, on another referral, commits in a thread meanwhile, as far as it can.
    failures: list[BaseException] = []

    def quick() -> None:
        try:
            with start_uow() as uow:
                other = uow.referrals.get(second, for_update=True)
                assert other is not None
                hold_or_resume(other, 2)
                uow.referrals.save(other)
                uow.commit()
        except BaseException as error:
            failures.append(error)

    writer = threading.Thread(target=quick)
    writer.start()
    try:
        # It waits for the first to commit: it cannot take the next number before then.
        wait_for(lambda: waiting_for_a_lock(start_uow), "the second writer to wait", 10)
        assert writer.is_alive()
        assert read_on(start_uow, cursor) == [], "nothing may be visible past the open one"
        slow.commit()
    finally:
        slow.__exit__(None, None, None)
        writer.join(timeout=30)
    assert failures == []

    seen = read_on(start_uow, cursor)
    assert seen == [cursor + 1, cursor + 2]
    with start_uow() as uow:
        by_seq = {c.seq: c.referral_id for c in uow.referrals.changes(None, cursor, 10)}
    assert by_seq == {cursor + 1: first, cursor + 2: second}, "numbered in commit order"


def test_a_reader_following_the_cursor_sees_every_change_of_concurrent_writers_once(
    start_uow: StartUow,
) -> None:
    referrals = [stored_in_progress(start_uow) for _ in range(WRITERS)]
    start = read_on(start_uow, 0)[-1]
    together = threading.Barrier(WRITERS + 1)
    done = threading.Event()
    failures: list[BaseException] = []

    def writer(referral_id: UUID) -> None:
        try:
            together.wait(timeout=30)
            for step in range(STEPS):
                with start_uow() as uow:
                    referral = uow.referrals.get(referral_id, for_update=True)
                    assert referral is not None
                    hold_or_resume(referral, step)
                    uow.referrals.save(referral)
                    uow.commit()
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=writer, args=(r,)) for r in referrals]
    for thread in threads:
        thread.start()

    seen: list[int] = []
    together.wait(timeout=30)
    cursor = start
    while not done.is_set():
        done_before_reading = not any(thread.is_alive() for thread in threads)
        page = read_on(start_uow, cursor)
        seen += page
        cursor = page[-1] if page else cursor
        if done_before_reading:
            done.set()  # this read began after every writer had committed
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []

    with start_uow() as uow:
        stored = uow.session.execute(
            select(ChangeRow.seq, ChangeRow.referral_id).where(col(ChangeRow.seq) > start)
        ).all()
    assert len(stored) == WRITERS * STEPS
    assert seen == sorted(seen), "in order"
    assert seen == [seq for seq, _ in sorted(stored)], "every change, each once"
    assert seen == list(range(start + 1, start + WRITERS * STEPS + 1)), "no gap"
    with start_uow() as uow:
        changes = uow.referrals.changes(None, start, 1000)
    for referral_id in referrals:
        actions = [c.action for c in changes if c.referral_id == referral_id]
        assert actions == ["hold", "resume"] * (STEPS // 2), "each referral's steps in order"
