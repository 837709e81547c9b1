"""What the outcome report reads, on the real databases: SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from uuid import uuid4

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from referrals.app import MIGRATIONS
from referrals.domain import (
    Accompaniment,
    Candidate,
    DeclineReason,
    FollowUpPlan,
    Outcome,
    Participation,
    ParticipationStatus,
    Referral,
    Scores,
    Ucla3,
    Who5,
)
from referrals.domain.reports import (
    CompletedReferral,
    FirstMeeting,
    ParticipationCount,
    Period,
    ReportScope,
)
from referrals.store import ReferralsUnitOfWork
from runtime.migrations import upgrade
from tests.referrals.support import CARE, CITY, TTL, consent, partner

StartUow = Callable[[], ReferralsUnitOfWork]

SUBMITTED_AT = datetime(2026, 1, 2, 9, tzinfo=UTC)
MET_ON = date(2026, 1, 12)
FIRST_DUE = datetime.combine(MET_ON + timedelta(days=28), time(9), CITY)
"""When the first follow-up of a meeting on MET_ON falls due (the default plan)."""
SECOND_DUE = datetime.combine(MET_ON + timedelta(days=91), time(9), CITY)
WALKERS = Candidate(uuid4(), uuid4(), 1.0, ["interest:walking"])
VISITORS = Candidate(uuid4(), uuid4(), 0.9, ["interest:walking"])


@dataclass(frozen=True)
class Report:
    """One follow-up's answers: the partner's and the care system's, and when."""

    at: datetime
    participation: Participation | None = None
    wellbeing: Scores | None = None


def taking_part(times: int = 4) -> Participation:
    return Participation(ParticipationStatus.TAKING_PART, times)


def journey(
    *,
    submitted_at: datetime = SUBMITTED_AT,
    district: str = "Nørrebro",
    declined_by: Candidate | None = None,
    accepted_by: Candidate = WALKERS,
    met_on: date | None = MET_ON,
    accompanied_by: Accompaniment = Accompaniment.VOLUNTEER,
    baseline: Scores | None = None,
    reports: Sequence[Report] = (),
    completed_at: datetime | None = None,
) -> Referral:
    """A referral walked through the domain's own methods: offered (and declined by
    `declined_by`), accepted by `accepted_by`, met on `met_on`, followed up with `reports`
    (the first, the second) and completed at `completed_at` (unless the last report
    completed it)."""
    referral = Referral.submit(
        Referral(
            id=uuid4(),
            submitted_by=CARE.subject,
            citizen_ref="ref_abcdefghijklmnopqrstuvwxyz",
            age_band="80-84",
            district=district,
            interests=["walking"],
            languages=["da"],
            needs=[],
            consent=consent(follow_up_questions=True),
            submitted_at=submitted_at,
            baseline=baseline,
        )
    )
    candidates = [c for c in (declined_by, accepted_by) if c is not None]
    referral.receive_candidates(candidates, {}, submitted_at, TTL)
    if declined_by is not None:
        holder = partner(declined_by.organization_id)
        referral.decline(holder, DeclineReason.NO_CAPACITY, None, {}, submitted_at, TTL)
    holder = partner(accepted_by.organization_id)
    referral.accept(holder, submitted_at)
    if met_on is not None:
        met_at = datetime.combine(met_on, time(15), CITY)
        referral.record_first_meeting(holder, met_on, accompanied_by, met_at, FollowUpPlan())
    for number, report in enumerate(reports, start=1):
        if report.participation is not None:
            referral.record_participation(holder, number, report.participation, report.at)
        if report.wellbeing is not None:
            referral.record_wellbeing(CARE, number, report.wellbeing, report.at)
    if completed_at is not None:
        referral.complete(holder, None, completed_at)
    return referral


def store(start_uow: StartUow, *referrals: Referral) -> None:
    """Store the referrals as they are now: added as submitted, then saved with the rest."""
    with start_uow() as uow:
        for referral in referrals:
            uow.referrals.add(referral, citizen_id=uuid4(), note=None)
            uow.referrals.save(referral)
        uow.commit()


@pytest.fixture
def start_uow(engine_for: Callable[[str], Engine]) -> StartUow:
    engine = engine_for("referrals")
    upgrade(MIGRATIONS, engine)
    factory = sessionmaker(engine, class_=Session, expire_on_commit=False)
    return lambda: ReferralsUnitOfWork(factory, "/brobygger/referrals")


def scope(first: date, last: date, **filters: object) -> ReportScope:
    return ReportScope(Period(first, last), **filters)  # type: ignore[arg-type]


def completed(start_uow: StartUow, of: ReportScope) -> list[CompletedReferral]:
    with start_uow() as uow:
        return uow.reports.completed(of)


def participation(start_uow: StartUow, of: ReportScope) -> set[ParticipationCount]:
    with start_uow() as uow:
        return set(uow.reports.participation(of))


def first_meetings(start_uow: StartUow, of: ReportScope) -> list[FirstMeeting]:
    with start_uow() as uow:
        return uow.reports.first_meetings(of)


def test_a_referral_counts_as_completed_on_its_day_in_copenhagen(start_uow: StartUow) -> None:
    # 23:30 UTC on 31 March is 01:30 on 1 April in Copenhagen (summer time).
    store(start_uow, journey(completed_at=datetime(2026, 3, 31, 23, 30, tzinfo=UTC)))
    assert completed(start_uow, scope(date(2026, 3, 1), date(2026, 3, 31))) == []
    [april] = completed(start_uow, scope(date(2026, 4, 1), date(2026, 4, 1)))
    assert april == CompletedReferral(outcome=None, baseline=None, answers=())


def test_a_completed_referral_comes_with_its_answers_at_intake_and_each_follow_up(
    start_uow: StartUow,
) -> None:
    baseline = Scores(Ucla3(3, 3, 2), Who5(1, 1, 2, 1, 1))
    first = Scores(Ucla3(2, 2, 2), None)
    second = Scores(Ucla3(2, 1, 2), Who5(3, 3, 2, 3, 3))
    referral = journey(
        baseline=baseline,
        reports=[
            Report(FIRST_DUE, taking_part(), first),
            Report(SECOND_DUE + timedelta(days=1), taking_part(2), second),
        ],
    )
    unanswered = journey(
        baseline=baseline,
        reports=[Report(FIRST_DUE, taking_part(), Scores())],
        completed_at=datetime(2026, 4, 2, 12, tzinfo=UTC),
    )
    store(start_uow, referral, unanswered)
    found = completed(start_uow, scope(date(2026, 4, 1), date(2026, 4, 30)))
    assert sorted(found, key=lambda r: len(r.answers)) == [
        CompletedReferral(Outcome.PARTICIPATING, baseline, ()),
        CompletedReferral(Outcome.PARTICIPATING, baseline, (first, second)),
    ]


def test_only_the_districts_referrals_count_in_any_letter_case(start_uow: StartUow) -> None:
    done = datetime(2026, 2, 1, 12, tzinfo=UTC)
    store(
        start_uow,
        journey(district="Østerbro", completed_at=done),
        journey(district="Nørrebro", completed_at=done),
    )
    february = (date(2026, 2, 1), date(2026, 2, 28))
    assert len(completed(start_uow, scope(*february))) == 2
    assert len(completed(start_uow, scope(*february, district="ØSTERBRO"))) == 1
    assert completed(start_uow, scope(*february, district="Valby")) == []
    assert len(first_meetings(start_uow, scope(date(2026, 1, 1), MET_ON, district="østerbro"))) == 1


def test_an_organisation_and_a_service_count_the_referrals_they_accepted_only(
    start_uow: StartUow,
) -> None:
    done = datetime(2026, 2, 1, 12, tzinfo=UTC)
    store(
        start_uow,
        journey(declined_by=WALKERS, accepted_by=VISITORS, completed_at=done),
        journey(accepted_by=WALKERS, completed_at=done),
        journey(accepted_by=WALKERS, met_on=None),  # accepted, never met, never completed
    )
    february = (date(2026, 2, 1), date(2026, 2, 28))
    assert len(completed(start_uow, scope(*february, organization_id=WALKERS.organization_id))) == 1
    assert len(completed(start_uow, scope(*february, service_id=VISITORS.service_id))) == 1
    assert (
        completed(
            start_uow,
            scope(
                *february, organization_id=WALKERS.organization_id, service_id=VISITORS.service_id
            ),
        )
        == []
    )
    assert completed(start_uow, scope(*february, organization_id=uuid4())) == []
    meetings = scope(MET_ON, MET_ON, organization_id=VISITORS.organization_id)
    assert len(first_meetings(start_uow, meetings)) == 1


def test_participation_reports_are_counted_per_follow_up_by_the_day_they_were_recorded(
    start_uow: StartUow,
) -> None:
    paused = Participation(ParticipationStatus.PAUSED, 0)
    stopped = Participation(ParticipationStatus.STOPPED, 0)
    store(
        start_uow,
        journey(reports=[Report(FIRST_DUE, taking_part()), Report(SECOND_DUE, stopped)]),
        journey(reports=[Report(FIRST_DUE + timedelta(days=1), taking_part())]),
        journey(reports=[Report(FIRST_DUE, paused)], accepted_by=VISITORS),
        journey(reports=[Report(FIRST_DUE + timedelta(days=40), stopped)]),
    )
    first_due_day = FIRST_DUE.date()
    counts = participation(start_uow, scope(first_due_day, first_due_day + timedelta(days=1)))
    assert counts == {
        ParticipationCount(1, ParticipationStatus.TAKING_PART, 2),
        ParticipationCount(1, ParticipationStatus.PAUSED, 1),
    }
    whole_spring = scope(
        date(2026, 2, 1), date(2026, 5, 31), organization_id=WALKERS.organization_id
    )
    assert participation(start_uow, whole_spring) == {
        ParticipationCount(1, ParticipationStatus.TAKING_PART, 2),
        ParticipationCount(1, ParticipationStatus.STOPPED, 1),
        ParticipationCount(2, ParticipationStatus.STOPPED, 1),
    }


def test_first_meetings_are_read_with_the_time_of_referral_and_who_came_along(
    start_uow: StartUow,
) -> None:
    late = datetime(2026, 1, 4, 23, 30, tzinfo=UTC)  # 5 January in Copenhagen
    store(
        start_uow,
        journey(submitted_at=late, met_on=date(2026, 1, 9), accompanied_by=Accompaniment.NOBODY),
        journey(met_on=date(2026, 1, 10)),
        journey(met_on=date(2026, 1, 11)),
        journey(met_on=None),
    )
    found = first_meetings(start_uow, scope(date(2026, 1, 9), date(2026, 1, 10)))
    assert sorted(found, key=lambda m: m.met_on) == [
        FirstMeeting(late, date(2026, 1, 9), Accompaniment.NOBODY),
        FirstMeeting(SUBMITTED_AT, date(2026, 1, 10), Accompaniment.VOLUNTEER),
    ]
    assert found[0].submitted_at.tzinfo is not None
    assert sorted(m.days_waited for m in found) == [4, 8]


def test_nothing_is_counted_in_a_period_at_the_calendars_ends(start_uow: StartUow) -> None:
    store(start_uow, journey(completed_at=datetime(2026, 2, 1, tzinfo=UTC)))
    for ends in (scope(date.min, date(1, 12, 31)), scope(date(9999, 1, 1), date.max)):
        assert completed(start_uow, ends) == []
        assert participation(start_uow, ends) == set()
        assert first_meetings(start_uow, ends) == []


def test_a_completed_referral_whose_citizen_withdrew_consent_counts_without_its_answers(
    start_uow: StartUow,
) -> None:
    completed_at = datetime(2026, 4, 2, 12, tzinfo=UTC)
    referral = journey(
        baseline=Scores(Ucla3(3, 3, 2), None),
        reports=[Report(FIRST_DUE, taking_part(), Scores(Ucla3(2, 2, 2), None))],
        completed_at=completed_at,
    )
    referral.withdraw_consent(CARE, None, None, completed_at + timedelta(days=1))
    store(start_uow, referral)
    [found] = completed(start_uow, scope(date(2026, 4, 1), date(2026, 4, 30)))
    assert found == CompletedReferral(Outcome.PARTICIPATING, None, ())
