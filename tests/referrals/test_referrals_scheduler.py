"""Two replicas of referrals share one PostgreSQL database: each durable timer fires once."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from uuid import UUID, uuid4

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from referrals import services
from referrals.app import MIGRATIONS
from referrals.domain import OfferStatus
from referrals.store import ReferralsUnitOfWork, TimerRow
from runtime.migrations import upgrade
from runtime.storage import make_engine, outbox
from tests.fakes import FakeClock
from tests.referrals.support import NOW, TTL, offered, partner

StartUow = Callable[[], ReferralsUnitOfWork]
REFERRALS = 40


@pytest.fixture
def start_uow(postgres_urls: dict[str, str]) -> Iterator[StartUow]:
    engine = make_engine(postgres_urls["referrals"])
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade(MIGRATIONS, engine)
    factory = sessionmaker(engine, class_=Session, expire_on_commit=False)
    yield lambda: ReferralsUnitOfWork(factory, "/brobygger/referrals")
    engine.dispose()


def test_two_schedulers_on_one_database_fire_each_timer_exactly_once(
    start_uow: StartUow,
) -> None:
    first_offers = {
        offered(start_uow, FakeClock(NOW), uuid4(), uuid4()).offers[0].id for _ in range(REFERRALS)
    }
    lifecycle = services.Lifecycle(start_uow, TTL, FakeClock(NOW + TTL))
    together = threading.Barrier(2)
    fired: list[int] = []
    failures: list[BaseException] = []

    def scheduler() -> None:
        together.wait(timeout=30)
        try:
            fired.append(services.fire_due_timers(lifecycle, limit=10 * REFERRALS))
        except BaseException as error:
            failures.append(error)

    replicas = [threading.Thread(target=scheduler) for _ in range(2)]
    for replica in replicas:
        replica.start()
    for replica in replicas:
        replica.join(timeout=120)
    assert not any(replica.is_alive() for replica in replicas), "a scheduler hung"
    assert failures == []
    assert sum(fired) == REFERRALS

    with start_uow() as uow:
        values = uow.session.execute(
            select(outbox.c.value).where(
                outbox.c.headers["ce_type"].as_string()
                == "dk.brobygger.referrals.referral.offer_expired.v1"
            )
        ).scalars()
        expired = Counter(UUID(json.loads(value)["offer_id"]) for value in values)
        timers = [
            (t.referral_id, t.due_at) for t in uow.session.execute(select(TimerRow)).scalars()
        ]
    assert expired == Counter(first_offers), "one offer_expired event per offer"
    assert len(timers) == REFERRALS  # each referral's second offer, not yet due
    assert {due_at for _, due_at in timers} == {NOW + 2 * TTL}
    with start_uow() as uow:
        for referral_id, _ in timers:
            referral = uow.referrals.get(referral_id)
            assert referral is not None
            assert [o.status for o in referral.offers] == [
                OfferStatus.EXPIRED,
                OfferStatus.PENDING,
            ]
            assert [t.action for t in referral.history].count("expire") == 1


def test_a_partner_answering_as_the_offer_expires_neither_waits_for_nor_deadlocks_the_scheduler(
    start_uow: StartUow,
) -> None:
    referral = offered(start_uow, FakeClock(NOW), uuid4(), uuid4())
    lifecycle = services.Lifecycle(start_uow, TTL, FakeClock(NOW + TTL))
    holder = partner(referral.offers[0].organization_id)
    fired: list[int] = []
    failures: list[BaseException] = []

    def scheduler() -> None:
        try:
            fired.append(services.fire_due_timers(lifecycle))
        except BaseException as error:
            failures.append(error)

    with start_uow() as uow:  # the partner's accept, halfway: the referral is locked
        answering = uow.referrals.get(referral.id, for_update=True)
        assert answering is not None
        replica = threading.Thread(target=scheduler)
        replica.start()
        replica.join(timeout=10)
        answering.accept(holder, NOW + TTL)
        uow.referrals.save(answering)  # drops the expiry timer
        uow.commit()
    replica.join(timeout=10)
    assert not replica.is_alive(), "the scheduler hung"
    assert (failures, fired) == ([], [0])
    with start_uow() as uow:
        stored = uow.referrals.get(referral.id)
        assert uow.session.execute(select(TimerRow)).first() is None
    assert stored is not None
    assert [o.status for o in stored.offers] == [OfferStatus.ACCEPTED]
