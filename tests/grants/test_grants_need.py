"""Where the need is, on fakes: which referrals count as unmet, once, in which district and
target groups, whatever order their events arrive in; and the 12 months a pool shows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from contracts import NoMatchFound, ReferralErased, ReferralEscalated, ReferralSubmitted
from grants import consumers, events, services
from grants.domain import GrantPool, InvalidPool
from grants.domain.need import DistrictNeed, ReferralNeed, last_twelve_months, target_groups_of
from tests.fakes import FakeClock
from tests.grants.fakes import FakeUnitOfWork
from tests.grants.support import DURING, TERMS

TODAY = date(2026, 11, 30)
SUBMITTED = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def submitted(
    referral_id: UUID,
    district: str = "Nørrebro",
    needs: list[str] | None = None,
    at: datetime = SUBMITTED,
) -> ReferralSubmitted:
    return ReferralSubmitted(
        referral_id=referral_id,
        citizen_ref="ref_01hzzzzzzzzzzzzzzzzzzzzzzz",
        age_band="80-84",
        district=district,
        interests=["walking"],
        languages=["da"],
        needs=["dementia"] if needs is None else needs,
        submitted_at=at,
    )


def no_match(referral_id: UUID) -> NoMatchFound:
    return NoMatchFound(referral_id=referral_id, reason="no service shares an interest")


def escalated(
    referral_id: UUID,
    district: str = "Nørrebro",
    needs: list[str] | None = None,
    at: datetime = SUBMITTED + timedelta(days=3),
    reason: Any = "all_declined",
) -> ReferralEscalated:
    return ReferralEscalated(
        referral_id=referral_id,
        district=district,
        interests=["walking"],
        languages=["da"],
        needs=["dementia"] if needs is None else needs,
        reason=reason,
        escalated_at=at,
    )


def erased(referral_id: UUID) -> ReferralErased:
    return ReferralErased(referral_id=referral_id, organization_ids=[], erased_at=SUBMITTED)


def handle(uow: FakeUnitOfWork, *consumed: Any) -> None:
    """Each event as the consumer hands it over: its handler, in a transaction of its own."""
    handlers = consumers.handlers()
    for event in consumed:
        with uow:
            handlers[type(event)](event, uow)


def need(uow: FakeUnitOfWork, target_groups: tuple[str, ...] = ()) -> list[DistrictNeed]:
    return services.unmet_need(target_groups, TODAY, uow).by_district


# -- the rules ------------------------------------------------------------------------------


def test_only_the_needs_that_are_target_groups_count_compared_in_lower_case() -> None:
    assert target_groups_of([" Dementia", "wheelchair_access", "likes_dogs", ""]) == {
        "dementia",
        "wheelchair_access",
    }


@pytest.mark.parametrize(
    ("today", "since"),
    [
        (date(2026, 11, 30), date(2025, 12, 1)),
        (date(2026, 1, 1), date(2025, 1, 2)),
        (date(2028, 2, 29), date(2027, 3, 1)),  # no 29 February the year before
    ],
)
def test_the_last_twelve_months_end_today_and_begin_the_day_after_a_year_before(
    today: date, since: date
) -> None:
    assert last_twelve_months(today) == (since, today)


def test_a_submitted_referral_is_not_unmet_and_a_no_match_alone_places_nothing() -> None:
    referral = ReferralNeed(uuid4())
    referral.found_no_match()
    assert referral.unmet_at is None

    matched = ReferralNeed(uuid4())
    matched.submitted("Valby", ["dementia"], SUBMITTED)
    assert matched.unmet_at is None


def test_a_referral_nothing_fits_is_unmet_from_its_submission_even_when_escalated_before() -> None:
    referral = ReferralNeed(uuid4())
    referral.escalated("Valby", ["dementia"], SUBMITTED + timedelta(days=1))
    assert referral.unmet_at == SUBMITTED + timedelta(days=1)

    referral.submitted("Valby", ["dementia"], SUBMITTED)
    referral.found_no_match()

    assert referral.unmet_at == SUBMITTED


def test_an_escalation_keeps_the_submissions_district_and_target_groups() -> None:
    referral = ReferralNeed(uuid4())
    referral.submitted(" Valby ", ["Dementia", "wheelchair_access"], SUBMITTED)

    referral.escalated("Amager Vest", ["older_people"], SUBMITTED + timedelta(days=1))

    assert referral.district == "Valby"
    assert referral.target_groups == {"dementia", "wheelchair_access"}


def test_a_pool_keeps_its_target_groups_sorted_and_once_and_is_for_everyone_without() -> None:
    pool = GrantPool.announce(
        **TERMS,
        now=DURING,
        today=DURING.date(),
        target_groups=["dementia", "older_people", "dementia"],
    )

    assert pool.target_groups == ["dementia", "older_people"]
    assert GrantPool.announce(**TERMS, now=DURING, today=DURING.date()).target_groups == []


def test_a_pool_refuses_a_target_group_that_is_not_in_the_vocabulary() -> None:
    with pytest.raises(InvalidPool, match="target_groups: the target groups are dementia, "):
        GrantPool.announce(**TERMS, now=DURING, today=DURING.date(), target_groups=["lonely"])


# -- the use cases ----------------------------------------------------------------------------


def test_grants_consumes_exactly_what_it_has_handlers_for() -> None:
    assert set(consumers.handlers()) == set(events.CONSUMES)


def test_a_referral_nothing_fits_counts_in_its_district_and_each_event_commits_once() -> None:
    uow = FakeUnitOfWork()
    referral_id = uuid4()

    handle(uow, submitted(referral_id, "Valby"), no_match(referral_id))

    assert uow.commits == 2
    assert need(uow) == [DistrictNeed("Valby", 1)]


def test_a_referral_something_fits_does_not_count() -> None:
    uow = FakeUnitOfWork()

    handle(uow, submitted(uuid4()))

    assert need(uow) == []


def test_a_no_match_before_its_submission_counts_once_the_submission_arrives() -> None:
    uow = FakeUnitOfWork()
    referral_id = uuid4()

    handle(uow, no_match(referral_id))
    assert need(uow) == []

    handle(uow, submitted(referral_id, "Bispebjerg"))
    assert need(uow) == [DistrictNeed("Bispebjerg", 1)]


def test_a_referral_nothing_fits_and_then_escalated_counts_once() -> None:
    uow = FakeUnitOfWork()
    referral_id = uuid4()

    handle(
        uow,
        submitted(referral_id),
        escalated(referral_id, reason="no_match"),  # its escalation overtook the no-match
        no_match(referral_id),
        escalated(referral_id, reason="no_match"),  # once more, under another event id
    )

    assert need(uow) == [DistrictNeed("Nørrebro", 1)]


def test_an_escalated_referral_counts_on_the_day_it_was_escalated() -> None:
    uow = FakeUnitOfWork()
    referral_id = uuid4()
    since, _ = last_twelve_months(TODAY)
    before_since = datetime.combine(since, datetime.min.time(), UTC) - timedelta(hours=1)

    # Submitted before the 12 months, escalated within them (every offer was declined).
    handle(
        uow,
        submitted(referral_id, "Amager Øst", at=before_since - timedelta(days=2)),
        escalated(referral_id, "Amager Øst", at=before_since + timedelta(hours=2)),
    )

    assert need(uow) == [DistrictNeed("Amager Øst", 1)]


def test_the_twelve_months_include_their_first_day_and_today_and_nothing_before() -> None:
    uow = FakeUnitOfWork()
    since, until = last_twelve_months(TODAY)
    midnight = datetime.combine(since, datetime.min.time(), UTC)
    days = {
        "Valby": midnight,  # the first moment of the first day
        "Vesterbro": datetime.combine(until, datetime.max.time(), UTC),  # the last of today
        "Østerbro": midnight - timedelta(microseconds=1),  # the day before: left out
    }
    for district, at in days.items():
        handle(uow, escalated(uuid4(), district, at=at))

    assert need(uow) == [DistrictNeed("Valby", 1), DistrictNeed("Vesterbro", 1)]


def test_a_pool_counts_the_referrals_of_its_target_groups_each_once_most_first() -> None:
    uow = FakeUnitOfWork()
    for district, needs in [
        ("Valby", ["dementia", "hard_to_leave_home"]),  # both groups: still one referral
        ("Valby", ["hard_to_leave_home"]),
        ("Amager Vest", ["dementia", "wheelchair_access"]),
        ("Nørrebro", ["older_people"]),  # not a group of the pool
        ("Nørrebro", []),  # no target group at all
    ]:
        referral_id = uuid4()
        handle(uow, submitted(referral_id, district, needs), no_match(referral_id))

    for_the_pool = services.unmet_need(("dementia", "hard_to_leave_home"), TODAY, uow)
    for_everyone = need(uow)

    assert for_the_pool.by_district == [DistrictNeed("Valby", 2), DistrictNeed("Amager Vest", 1)]
    assert (for_the_pool.since, for_the_pool.until, for_the_pool.total) == (
        date(2025, 12, 1),
        TODAY,
        3,
    )
    assert for_everyone == [
        DistrictNeed("Nørrebro", 2),
        DistrictNeed("Valby", 2),
        DistrictNeed("Amager Vest", 1),
    ]


def test_an_erased_referral_leaves_nothing_and_no_longer_counts() -> None:
    uow = FakeUnitOfWork()
    counted, waiting = uuid4(), uuid4()
    handle(uow, submitted(counted), no_match(counted), no_match(waiting))

    handle(uow, erased(counted), erased(waiting))

    assert uow.referral_needs.rows == {}
    assert need(uow) == []


def test_a_pool_opened_for_target_groups_keeps_them() -> None:
    uow = FakeUnitOfWork()

    pool, _ = services.open_pool(
        services.OpenPool(**TERMS, target_groups=("older_people", "dementia")),
        uow,
        FakeClock(DURING),
    )

    stored = uow.pools.get(pool.id)
    assert stored is not None
    assert stored.target_groups == ["dementia", "older_people"]
