"""The grants repository and unit of work on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlmodel
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import sessionmaker

from grants import events, services
from grants.domain import GrantPool, InvalidTransition, PoolChange, PoolStatus
from grants.store import GrantsUnitOfWork, SqlGrantPoolRepository
from runtime.storage import outbox
from tests.fakes import FakeClock
from tests.grants.support import BEFORE, DURING, TERMS
from tests.kit import wait_for, waiting_for_a_lock

UowFactory = Callable[[], GrantsUnitOfWork]
SOURCE = "/brobygger/grants"
WAIT_SECONDS = 30


def new_pool(**overrides: Any) -> GrantPool:
    """TERMS' pool created DURING its window (open), unless `today` says otherwise."""
    terms = TERMS | {
        "budget_dkk": 5_000_000_000,  # beyond a 32-bit integer
        "now": datetime.now(UTC),
        "today": DURING.date(),
    }
    return GrantPool.announce(**(terms | overrides))


def add(start_uow: UowFactory, pool: GrantPool) -> None:
    with start_uow() as uow:
        uow.pools.add(pool)
        uow.commit()


def outbox_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(outbox)).scalar_one()


def published(engine: Engine) -> list[tuple[str, str, dict[str, Any]]]:
    """(key, the event type's last words, data) of every event in the outbox, in order."""
    with engine.connect() as connection:
        rows = connection.execute(select(outbox).order_by(outbox.c.seq)).all()
    prefix = "dk.brobygger.grants."
    return [
        (row.key, row.headers["ce_type"].removeprefix(prefix), json.loads(row.value))
        for row in rows
    ]


@pytest.mark.parametrize("today", [BEFORE.date(), DURING.date()])
def test_a_pool_reads_back_as_it_was_stored(start_uow: UowFactory, today: date) -> None:
    pool = new_pool(today=today)
    add(start_uow, pool)

    with start_uow() as uow:
        stored = uow.pools.get(pool.id)

    assert stored == pool
    assert stored is not None
    assert stored.created_at.tzinfo is not None
    assert stored.changes == []  # what was published is not stored with the pool


def test_a_pool_without_a_short_form_keeps_none(start_uow: UowFactory) -> None:
    pool = new_pool(small_grant_limit_dkk=None)
    add(start_uow, pool)

    with start_uow() as uow:
        stored = uow.pools.get(pool.id)

    assert stored is not None
    assert stored.small_grant_limit_dkk is None


def test_a_closed_pool_stays_closed(start_uow: UowFactory) -> None:
    pool = new_pool()
    add(start_uow, pool)

    with start_uow() as uow:
        loaded = uow.pools.get(pool.id)
        assert loaded is not None
        loaded.close()
        uow.pools.save(loaded)
        uow.commit()

    with start_uow() as uow:
        stored = uow.pools.get(pool.id)
    assert stored is not None
    assert stored.status is PoolStatus.CLOSED


def test_pools_are_listed_newest_first_and_filtered_by_status(start_uow: UowFactory) -> None:
    now = datetime.now(UTC)
    older = new_pool(name="Older", now=now - timedelta(days=1))
    newer = new_pool(name="Newer", now=now)
    newer.close()
    add(start_uow, older)
    add(start_uow, newer)

    with start_uow() as uow:
        everything = [p.name for p in uow.pools.all()]
        open_ones = [p.name for p in uow.pools.all(PoolStatus.OPEN)]
        closed_ones = [p.name for p in uow.pools.all(PoolStatus.CLOSED)]

    assert everything == ["Newer", "Older"]
    assert open_ones == ["Older"]
    assert closed_ones == ["Newer"]


def test_opening_a_pool_writes_it_and_its_events_in_one_transaction(
    engine: Engine, start_uow: UowFactory
) -> None:
    clock = FakeClock(DURING)
    command = services.OpenPool(
        created_by="operator-1",
        name="New communities 2026",
        description="",
        budget_dkk=500_000,
        opens_on=date(2026, 3, 1),
        closes_on=date(2026, 4, 30),
        criteria="Open to associations in Copenhagen.",
        idempotency_key="key-1",
    )

    pool, created = services.open_pool(command, start_uow, clock)
    again, created_again = services.open_pool(command, start_uow, clock)

    assert (created, created_again) == (True, False)
    assert again == pool
    with engine.connect() as connection:
        rows = connection.execute(select(outbox).order_by(outbox.c.seq)).all()
    assert [(row.topic, row.key) for row in rows] == [("grants.pool.v1", str(pool.id))] * 2
    assert [row.headers["ce_type"] for row in rows] == [
        "dk.brobygger.grants.pool.announced.v1",
        "dk.brobygger.grants.pool.opened.v1",
    ]
    assert {row.headers["ce_source"] for row in rows} == {"/brobygger/grants"}
    assert {row.published_at for row in rows} == {None}


def test_leaving_without_commit_writes_neither_pool_nor_event(
    engine: Engine, start_uow: UowFactory
) -> None:
    pool = new_pool()
    with start_uow() as uow:
        uow.pools.add(pool)
        uow.publish(events.of_change(pool, PoolChange.ANNOUNCED, DURING.date()))

    with start_uow() as uow:
        assert uow.pools.get(pool.id) is None
    assert outbox_count(engine) == 0


def test_advancing_opens_and_closes_only_the_pools_that_are_due_each_once(
    engine: Engine, start_uow: UowFactory
) -> None:
    """On 10 March: TERMS' window (1 March to 30 April) has begun; one of 1 to 9 March has
    ended."""
    ahead = new_pool(name="Ahead", opens_on=date(2026, 4, 1), today=BEFORE.date())
    opening = new_pool(name="Opening", today=BEFORE.date())
    running = new_pool(name="Running")
    ended = new_pool(name="Ended", closes_on=date(2026, 3, 9), today=date(2026, 3, 1))
    closed = new_pool(name="Closed early")
    closed.close()
    for pool in (ahead, opening, running, ended, closed):
        add(start_uow, pool)
    clock = FakeClock(DURING)

    assert services.advance_pools(start_uow, clock) == 2
    assert services.advance_pools(start_uow, clock) == 0

    changes = {key: (kind, data) for key, kind, data in published(engine)}
    assert changes.keys() == {str(opening.id), str(ended.id)}
    assert changes[str(opening.id)][0] == "pool.opened.v1"
    assert changes[str(ended.id)] == (
        "pool.closed.v1",
        {"pool_id": str(ended.id), "closed_on": "2026-03-10", "reason": "window_ended"},
    )
    assert outbox_count(engine) == 2
    with start_uow() as uow:
        statuses = {pool.name: pool.status for pool in uow.pools.all()}
    assert statuses == {
        "Ahead": PoolStatus.ANNOUNCED,
        "Opening": PoolStatus.OPEN,
        "Running": PoolStatus.OPEN,
        "Ended": PoolStatus.CLOSED,
        "Closed early": PoolStatus.CLOSED,
    }


def test_advancing_takes_at_most_its_limit_at_a_time(start_uow: UowFactory) -> None:
    for n in range(3):
        add(start_uow, new_pool(name=f"Pool {n}", today=BEFORE.date()))
    clock = FakeClock(DURING)

    assert [services.advance_pools(start_uow, clock, limit=2) for _ in range(3)] == [2, 1, 0]


class ChoosesTogether(SqlGrantPoolRepository):
    """Waits, once it has chosen (and locked) the pools to advance, until the other
    advancer has chosen too: both hold their choice at the same moment."""

    def __init__(self, session: sqlmodel.Session, chosen: threading.Barrier) -> None:
        super().__init__(session)
        self.chosen = chosen

    def due_to_advance(self, today: date, limit: int) -> list[GrantPool]:
        due = super().due_to_advance(today, limit)
        self.chosen.wait(timeout=WAIT_SECONDS)
        return due


@pytest.mark.parametrize("engine_for", ["postgresql"], indirect=True)
def test_two_advancers_at_once_share_the_due_pools_and_never_publish_a_change_twice(
    engine: Engine, sessions: sessionmaker[sqlmodel.Session], start_uow: UowFactory
) -> None:
    pools = [new_pool(name=f"Pool {n}", today=BEFORE.date()) for n in range(6)]
    for pool in pools:
        add(start_uow, pool)
    chosen = threading.Barrier(2)

    class Replica(GrantsUnitOfWork):
        def _open(self) -> None:
            self._pools = ChoosesTogether(self.session, chosen)

    # Each may take 3: the second skips the pools the first holds, rather than wait for it
    # (that would leave the first waiting at the barrier) or take them too.
    with ThreadPoolExecutor(2) as replicas:
        advancing = [
            replicas.submit(
                services.advance_pools, lambda: Replica(sessions, SOURCE), FakeClock(DURING), 3
            )
            for _ in range(2)
        ]
        advanced = [future.result(timeout=2 * WAIT_SECONDS) for future in advancing]

    assert advanced == [3, 3]
    opened = Counter(key for key, kind, _ in published(engine) if kind == "pool.opened.v1")
    assert opened == Counter(str(pool.id) for pool in pools)
    assert services.advance_pools(start_uow, FakeClock(DURING)) == 0


@pytest.mark.parametrize("engine_for", ["postgresql"], indirect=True)
def test_an_operator_closing_a_pool_as_its_window_ends_waits_and_it_closes_once(
    engine: Engine, sessions: sessionmaker[sqlmodel.Session], start_uow: UowFactory
) -> None:
    """The scheduler has chosen the pool to close it (its window ended) when the operator
    closes it too: the operator waits for the scheduler and finds it closed."""
    pool = new_pool(closes_on=date(2026, 3, 9), today=date(2026, 3, 1))
    add(start_uow, pool)
    chose, commit = threading.Event(), threading.Event()

    class PausesAfterChoosing(SqlGrantPoolRepository):
        def due_to_advance(self, today: date, limit: int) -> list[GrantPool]:
            due = super().due_to_advance(today, limit)
            chose.set()
            assert commit.wait(WAIT_SECONDS), "never told to go on"
            return due

    class Scheduler(GrantsUnitOfWork):
        def _open(self) -> None:
            self._pools = PausesAfterChoosing(self.session)

    clock = FakeClock(DURING)
    with ThreadPoolExecutor(2) as threads:
        advancing = threads.submit(
            services.advance_pools, lambda: Scheduler(sessions, SOURCE), clock
        )
        assert chose.wait(WAIT_SECONDS), "the scheduler never chose"
        closing = threads.submit(services.close_pool, pool.id, start_uow, clock)
        wait_for(lambda: waiting_for_a_lock(engine), "the operator to wait", WAIT_SECONDS)
        commit.set()
        assert advancing.result(timeout=WAIT_SECONDS) == 1
        with pytest.raises(InvalidTransition, match="already closed"):
            closing.result(timeout=WAIT_SECONDS)

    assert [(kind, data["reason"]) for _, kind, data in published(engine)] == [
        ("pool.closed.v1", "window_ended")
    ]
