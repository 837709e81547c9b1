"""Every event referrals consumes, delivered twice through the consumer as Kafka may
redeliver it: the second delivery changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID, uuid4

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from contracts import IntegrationEvent
from referrals import consumers, services
from referrals.app import MIGRATIONS
from referrals.domain import ReferralStatus
from referrals.store import Base, ReferralsUnitOfWork
from runtime.consumer import EventConsumer
from runtime.migrations import upgrade
from runtime.storage import inbox, outbox
from tests.events import matches_found, no_match_found, service_changed
from tests.fakes import FakeClock
from tests.kit import record_of
from tests.referrals.support import NOW, TTL, VAULT, partner, submit_command
from tests.runtime.plumbing import DeadLetters

StartUow = Callable[[], ReferralsUnitOfWork]
DIRECTORY = "/brobygger/directory"


@pytest.fixture
def engine(engine_for: Callable[[str], Engine]) -> Engine:
    engine = engine_for("referrals")
    upgrade(MIGRATIONS, engine)
    return engine


@pytest.fixture
def start_uow(engine: Engine) -> StartUow:
    factory = sessionmaker(engine, class_=Session, expire_on_commit=False)
    return lambda: ReferralsUnitOfWork(factory, "/brobygger/referrals")


def everything(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table referrals keeps, as comparable tuples."""
    tables = [*Base.metadata.sorted_tables, outbox, inbox]
    with engine.connect() as connection:
        return {
            table.name: sorted((tuple(row) for row in connection.execute(select(table))), key=repr)
            for table in tables
        }


def submitted_referral_id(start_uow: StartUow, clock: FakeClock) -> UUID:
    referral, _ = services.submit_referral(submit_command(), start_uow, VAULT, clock)
    return referral.id


CASES: dict[str, Callable[[StartUow, FakeClock], IntegrationEvent]] = {
    "matches_found": lambda start_uow, clock: matches_found(
        submitted_referral_id(start_uow, clock), uuid4(), uuid4()
    ),
    "no_match_found": lambda start_uow, clock: no_match_found(
        referral_id=submitted_referral_id(start_uow, clock)
    ),
    "service_changed": lambda _start_uow, _clock: service_changed(free_places=0),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_a_consumed_event_delivered_twice_changes_nothing_the_second_time(
    engine: Engine, start_uow: StartUow, case: str
) -> None:
    clock = FakeClock(NOW)
    event = CASES[case](start_uow, clock)
    dead = DeadLetters()
    consumer = EventConsumer(
        group_id="brobygger-referrals",
        handlers=consumers.handlers(TTL, clock),
        uow_factory=start_uow,
        dead_letter_topic="referrals.deadletter.v1",
        publish_raw=dead.publish,
        max_attempts=2,
        backoff_seconds=0.01,
    )
    record = record_of(event, offset=7, source=DIRECTORY)
    before = everything(engine)

    await consumer.handle(record)
    once = everything(engine)
    clock.advance(TTL)  # a redelivery may come much later
    await consumer.handle(record)
    twice = everything(engine)

    assert dead.sent == []
    assert once != before, "the first delivery was processed"
    assert len(once["inbox"]) == len(before["inbox"]) + 1
    assert twice == once


async def test_a_redelivered_match_list_does_not_undo_what_happened_since(
    engine: Engine, start_uow: StartUow
) -> None:
    clock = FakeClock(NOW)
    first, second = uuid4(), uuid4()
    found = matches_found(submitted_referral_id(start_uow, clock), first, second)
    consumer = EventConsumer(
        group_id="brobygger-referrals",
        handlers=consumers.handlers(TTL, clock),
        uow_factory=start_uow,
        dead_letter_topic="referrals.deadletter.v1",
        publish_raw=DeadLetters().publish,
    )
    record = record_of(found, source=DIRECTORY)
    await consumer.handle(record)
    lifecycle = services.Lifecycle(start_uow, TTL, clock)
    services.accept_offer(found.referral_id, partner(first), lifecycle)
    accepted = everything(engine)
    await consumer.handle(record)
    assert everything(engine) == accepted
    stored = services.get_referral(found.referral_id, partner(first), start_uow)
    assert stored.status is ReferralStatus.ACCEPTED
