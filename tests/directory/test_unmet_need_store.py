"""The unmet-need report on the real databases, SQLite and PostgreSQL: grouped, ordered and
filtered in SQL; each referral once; nothing kept of an erased one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from contracts import ReferralErased
from directory import consumers, services
from directory.app import MIGRATIONS
from directory.reports import REASONS, Period, UnmetNeed
from directory.store import DirectoryUnitOfWork
from directory.store.tables import UnmetReferralRow, UnmetReferralTermRow
from runtime.consumer import EventConsumer
from runtime.migrations import upgrade
from runtime.storage import inbox
from tests.events import AT, referral_escalated, referral_submitted
from tests.kit import record_of

StartUow = Callable[[], DirectoryUnitOfWork]
REFERRALS = "/brobygger/referrals"
MARCH = Period(date(2027, 3, 1), date(2027, 3, 31))


@pytest.fixture
def start_uow(engine_for: Callable[[str], Engine]) -> StartUow:
    engine = engine_for("directory")
    upgrade(MIGRATIONS, engine)
    sessions = sessionmaker(engine, class_=Session, expire_on_commit=False)
    start: StartUow = lambda: DirectoryUnitOfWork(sessions, "/brobygger/directory")  # noqa: E731
    services.keep_vocabulary(start)
    assert services.seed_demo(start)
    return start


def escalate(
    start_uow: StartUow, at: datetime, reason: str = "all_declined", **fields: Any
) -> UUID:
    event = referral_escalated(escalated_at=at, reason=reason, **fields)
    with start_uow() as uow:
        services.count_escalation(event, uow)
    return event.referral_id


def reasons(**counts: int) -> dict[str, int]:
    return {reason: counts.get(reason, 0) for reason in REASONS}


def rows_of(start_uow: StartUow, referral_id: UUID) -> int:
    with start_uow() as uow:
        return sum(
            uow.session.execute(
                select(func.count()).select_from(table).where(table.referral_id == referral_id)  # type: ignore[attr-defined]
            ).scalar_one()
            for table in (UnmetReferralRow, UnmetReferralTermRow)
        )


def consumer_on(start_uow: StartUow) -> EventConsumer:
    async def never_dead_letter(*_: object) -> None:
        raise AssertionError("nothing should be dead-lettered")

    return EventConsumer(
        group_id="brobygger-directory",
        handlers=consumers.handlers(max_matches=5, clock=lambda: AT),
        uow_factory=start_uow,
        dead_letter_topic="directory.deadletter.v1",
        publish_raw=never_dead_letter,
    )


@pytest.fixture
def march(start_uow: StartUow) -> StartUow:
    """Four referrals unmet in March (by Copenhagen's calendar) and two just outside it."""
    norrebro: dict[str, Any] = {"district": "Nørrebro", "interests": ["walking"]}
    # 00:30 on 1 March in Copenhagen (CET): inside, though still February in UTC.
    escalate(
        start_uow,
        datetime(2027, 2, 28, 23, 30, tzinfo=UTC),
        district="Nørrebro",
        interests=["walking", "singing"],
        needs=["older_people", "wheelchair_access"],
    )
    # 23:59 on 31 March in Copenhagen (CEST since the 28th): inside.
    escalate(
        start_uow,
        datetime(2027, 3, 31, 21, 59, tzinfo=UTC),
        "no_match",
        needs=["older_people", "minority_background"],
        **norrebro,
    )
    escalate(start_uow, datetime(2027, 3, 15, 10, tzinfo=UTC), "no_match", needs=[], **norrebro)
    escalate(
        start_uow,
        datetime(2027, 3, 10, 10, tzinfo=UTC),
        "none_available",
        district="Amager",
        interests=["chess"],
        needs=["older_people"],
    )
    for outside in (
        datetime(2027, 2, 28, 22, 59, tzinfo=UTC),
        datetime(2027, 3, 31, 22, tzinfo=UTC),
    ):
        escalate(start_uow, outside, needs=["older_people"], **norrebro)
    return start_uow


def test_unmet_referrals_are_counted_by_district_target_group_and_interest_most_first(
    march: StartUow,
) -> None:
    found, total = services.unmet_need(MARCH, 0, 50, march)
    assert found == [
        UnmetNeed("Nørrebro", "older_people", "walking", 2, reasons(all_declined=1, no_match=1)),
        UnmetNeed("Amager", "older_people", "chess", 1, reasons(none_available=1)),
        UnmetNeed("Nørrebro", "minority_background", "walking", 1, reasons(no_match=1)),
        UnmetNeed("Nørrebro", "none", "walking", 1, reasons(no_match=1)),
        UnmetNeed("Nørrebro", "older_people", "singing", 1, reasons(all_declined=1)),
    ]
    assert total == 5


def test_the_report_is_paged_in_its_order_with_the_number_of_groups_in_all(
    march: StartUow,
) -> None:
    found, total = services.unmet_need(MARCH, 1, 2, march)
    assert [(need.district, need.target_group, need.interest) for need in found] == [
        ("Amager", "older_people", "chess"),
        ("Nørrebro", "minority_background", "walking"),
    ]
    assert total == 5
    assert services.unmet_need(MARCH, 5, 2, march) == ([], 5)


def test_a_period_of_one_day_holds_only_that_days_unmet_referrals(march: StartUow) -> None:
    found, total = services.unmet_need(Period(date(2027, 4, 1), date(2027, 4, 1)), 0, 50, march)
    assert [(need.district, need.referrals) for need in found] == [("Nørrebro", 1)]
    assert total == 1
    assert services.unmet_need(Period(date(2027, 5, 1), date(2027, 5, 31)), 0, 50, march) == (
        [],
        0,
    )


async def test_a_referral_nothing_fits_is_unmet_once_however_often_delivered_or_escalated(
    start_uow: StartUow,
) -> None:
    submitted = referral_submitted(
        interests=["chess"], languages=["tr"], submitted_at=datetime(2027, 3, 2, 9, tzinfo=UTC)
    )
    escalated = referral_escalated(
        referral_id=submitted.referral_id,
        reason="no_match",
        interests=["chess"],
        languages=["tr"],
        escalated_at=datetime(2027, 4, 2, 9, tzinfo=UTC),
    )
    consumer = consumer_on(start_uow)
    for offset, event in enumerate((submitted, escalated)):
        record = record_of(event, offset, REFERRALS)
        await consumer.handle(record)
        await consumer.handle(record)
    found, total = services.unmet_need(
        Period(date(2027, 1, 1), date(2027, 12, 31)), 0, 50, start_uow
    )
    assert (found, total) == ([UnmetNeed("Nørrebro", "none", "chess", 1, reasons(no_match=1))], 1)
    assert rows_of(start_uow, submitted.referral_id) == 3  # the referral, its interest and group
    with start_uow() as uow:
        assert uow.session.execute(select(func.count()).select_from(inbox)).scalar_one() == 2


async def test_an_erased_referral_leaves_no_row_of_the_report(march: StartUow) -> None:
    erased = escalate(march, datetime(2027, 3, 3, tzinfo=UTC), district="Valby", needs=["dementia"])
    kept = escalate(march, datetime(2027, 3, 3, tzinfo=UTC), district="Valby")
    record = record_of(
        ReferralErased(referral_id=erased, organization_ids=[], erased_at=AT), 0, REFERRALS
    )
    consumer = consumer_on(march)
    await consumer.handle(record)
    await consumer.handle(record)
    assert rows_of(march, erased) == 0
    assert rows_of(march, kept) == 3
    found, _ = services.unmet_need(MARCH, 0, 50, march)
    assert [need.target_group for need in found if need.district == "Valby"] == ["none"]
