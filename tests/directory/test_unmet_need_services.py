"""What directory keeps for the unmet-need report, on in-memory fakes: referrals nothing
fits, escalated referrals, each once, and nothing of an erased one."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

import pytest

from contracts import NoMatchFound, ReferralErased
from directory import consumers, demo, reports, services
from runtime.consumer import EventConsumer
from tests.directory.fakes import FakeUnitOfWork
from tests.directory.test_directory_services import seeded
from tests.events import AT, referral_escalated, referral_submitted
from tests.kit import record_of

REFERRALS = "/brobygger/referrals"
NOTHING_FITS = {"interests": ["chess"], "languages": ["tr"]}
"""No demo service offers chess in Turkish."""


def consumer_on(uow: FakeUnitOfWork) -> EventConsumer:
    async def dead_letter(*letter: object) -> None:
        raise AssertionError(f"nothing should be dead-lettered: {letter[-1]}")

    return EventConsumer(
        group_id="brobygger-directory",
        handlers=consumers.handlers(max_matches=5, clock=lambda: AT),
        uow_factory=uow,  # type: ignore[arg-type]  # the fake stands in for the real one
        dead_letter_topic="directory.deadletter.v1",
        publish_raw=dead_letter,
    )


def test_a_referral_nothing_fits_is_kept_as_unmet_with_its_coded_categories_only() -> None:
    uow = seeded()
    submitted = referral_submitted(
        district=" Amager ",
        needs=["Wheelchair_Access", "Dementia", "physical_disability"],
        **NOTHING_FITS,
    )
    services.match_referral(submitted, uow, max_matches=5)
    [missed] = uow.committed_events
    assert isinstance(missed, NoMatchFound)
    assert uow.unmet_referrals.rows == {
        submitted.referral_id: reports.UnmetReferral(
            referral_id=submitted.referral_id,
            unmet_at=AT,
            reason="no_match",
            district="Amager",
            interests=frozenset({"chess"}),
            # Wheelchair access is about the place, not about whom a community is for.
            target_groups=frozenset({"dementia", "physical_disability"}),
        )
    }


def test_a_referral_that_is_matched_is_not_unmet() -> None:
    uow = seeded()
    services.match_referral(referral_submitted(), uow, max_matches=5)
    assert uow.unmet_referrals.rows == {}


def test_an_escalated_referral_is_unmet_for_its_reason_when_it_was_escalated() -> None:
    uow = seeded()
    escalated = referral_escalated(reason="all_expired", interests=[], needs=["dementia"])
    services.count_escalation(escalated, uow)
    [unmet] = uow.unmet_referrals.rows.values()
    assert (unmet.reason, unmet.unmet_at) == ("all_expired", escalated.escalated_at)
    assert unmet.target_groups == {"dementia"}
    assert unmet.interests == {reports.NONE}, "a referral without interests still counts"
    assert uow.commits == 3  # the vocabulary's, the seed's and the escalation's


def test_a_referral_that_found_no_match_and_was_escalated_for_it_counts_once() -> None:
    uow = seeded()
    submitted = referral_submitted(**NOTHING_FITS)
    services.match_referral(submitted, uow, max_matches=5)
    services.count_escalation(
        referral_escalated(referral_id=submitted.referral_id, reason="no_match", **NOTHING_FITS),
        uow,
    )
    [unmet] = uow.unmet_referrals.rows.values()
    assert (unmet.reason, unmet.unmet_at) == ("no_match", submitted.submitted_at)


def test_a_referral_escalated_again_keeps_the_reason_and_day_it_first_went_unmet() -> None:
    uow = seeded()
    first = referral_escalated(reason="all_declined")
    services.count_escalation(first, uow)
    services.count_escalation(
        referral_escalated(
            referral_id=first.referral_id,
            reason="none_available",
            escalated_at=datetime(2027, 1, 5, tzinfo=UTC),
        ),
        uow,
    )
    assert [(u.reason, u.unmet_at) for u in uow.unmet_referrals.rows.values()] == [
        ("all_declined", first.escalated_at)
    ]


async def test_a_redelivered_escalation_is_counted_once() -> None:
    uow = seeded()
    record = record_of(referral_escalated(), offset=3, source=REFERRALS)
    consumer = consumer_on(uow)
    await consumer.handle(record)
    await consumer.handle(record)
    assert len(uow.unmet_referrals.rows) == 1
    assert uow.inbox == {(REFERRALS, record.headers["ce_id"])}
    assert uow.committed_events == [], "an escalation publishes nothing"


async def test_a_redelivered_referral_nothing_fits_is_unmet_once_and_missed_once() -> None:
    uow = seeded()
    record = record_of(referral_submitted(**NOTHING_FITS), offset=4, source=REFERRALS)
    consumer = consumer_on(uow)
    await consumer.handle(record)
    await consumer.handle(record)
    assert len(uow.unmet_referrals.rows) == 1
    assert [type(event) for event in uow.committed_events] == [NoMatchFound]


async def test_an_erased_referral_leaves_nothing_in_the_report_even_when_redelivered() -> None:
    uow = seeded()
    consumer = consumer_on(uow)
    erased, kept = referral_escalated(), referral_escalated()
    for offset, escalated in enumerate((erased, kept)):
        await consumer.handle(record_of(escalated, offset, REFERRALS))
    erasure = ReferralErased(referral_id=erased.referral_id, organization_ids=[], erased_at=AT)
    record = record_of(erasure, 2, REFERRALS)
    await consumer.handle(record)
    await consumer.handle(record)
    assert set(uow.unmet_referrals.rows) == {kept.referral_id}
    assert len(uow.inbox) == 3


@pytest.mark.parametrize(
    ("unmet_at", "day"),
    [
        (datetime(2027, 1, 31, 22, 59, tzinfo=UTC), date(2027, 1, 31)),
        (datetime(2027, 1, 31, 23, 0, tzinfo=UTC), date(2027, 2, 1)),  # CET: UTC+1
        (datetime(2027, 6, 30, 22, 0, tzinfo=UTC), date(2027, 7, 1)),  # CEST: UTC+2
    ],
)
def test_a_referral_goes_unmet_on_a_day_of_copenhagens_calendar(
    unmet_at: datetime, day: date
) -> None:
    unmet = reports.unmet_referral(uuid4(), "Valby", ["walking"], [], "no_match", unmet_at)
    assert unmet.unmet_on == day
    assert unmet.target_groups == {reports.NONE}


def test_a_period_that_ends_before_it_begins_is_refused() -> None:
    assert reports.Period(date(2027, 3, 1), date(2027, 3, 1)).last == date(2027, 3, 1)
    with pytest.raises(reports.InvalidPeriod, match="ends"):
        reports.Period(date(2027, 3, 2), date(2027, 3, 1))


def test_every_target_group_of_the_demo_services_is_one_the_report_knows() -> None:
    used = {group for service in demo.SERVICES for group in service.facts.target_groups}
    assert used <= reports.TARGET_GROUPS
    assert reports.NONE not in reports.TARGET_GROUPS
