"""Following the citizen after the first meeting: when follow-ups fall due, are reminded and
escalated, who answers what, and how the referral ends. The domain alone, no I/O."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import uuid4

import pytest

from contracts import (
    CareFollowUpDue,
    FollowUpDue,
    FollowUpEscalated,
    FollowUpOverdue,
    FollowUpRecorded,
    ReferralCompleted,
    ReferralStatusChanged,
)
from contracts.referrals import ScoreChangePublic
from referrals.domain import (
    FOLLOW_UP_DUE,
    FOLLOW_UP_ESCALATION,
    FOLLOW_UP_REMINDER,
    Accompaniment,
    Actor,
    CancelReason,
    Deadline,
    FailReason,
    FollowUp,
    FollowUpPlan,
    Forbidden,
    HoldReason,
    InvalidAnswer,
    InvalidTransition,
    NoSuchFollowUp,
    Outcome,
    Participation,
    ParticipationStatus,
    Party,
    Referral,
    ReferralStatus,
    ScoreChange,
    Scores,
    Ucla3,
    Who5,
)
from tests.referrals.support import (
    CARE,
    CITY,
    NOW,
    OPERATOR,
    PERSONAL_DATA,
    TTL,
    candidate,
    consent,
    partner,
    the_partner,
)

FIRST_MEETING = date(2026, 11, 22)
"""NOW's day in Copenhagen."""
DUE_1 = datetime(2026, 12, 20, 9, tzinfo=CITY)
DUE_2 = datetime(2027, 2, 21, 9, tzinfo=CITY)
"""28 and 91 days after the first meeting, at nine."""
REFERENCE = "EOJ-2026-004711"

BASELINE = Scores(Ucla3(3, 3, 3), Who5(1, 1, 1, 1, 1))
"""Lonely (total 9) and low (index 20) at intake."""
TAKING_PART = Participation(ParticipationStatus.TAKING_PART, 4)
STOPPED = Participation(ParticipationStatus.STOPPED, 0)
SCORES = Scores(Ucla3(2, 2, 2), Who5(3, 3, 3, 3, 3))


def followed(
    *,
    follow_up_questions: bool = True,
    share_outcome: bool = True,
    baseline: Scores | None = BASELINE,
    plan: FollowUpPlan | None = None,
) -> Referral:
    """A referral in progress after its first meeting on FIRST_MEETING, with the follow-ups
    of `plan` (the default: 28 and 91 days); its events so far cleared."""
    referral = Referral.submit(
        Referral(
            id=uuid4(),
            submitted_by=CARE.subject,
            citizen_ref="ref_abcdefghijklmnopqrstuvwxyz",
            age_band="80-84",
            district="Nørrebro",
            interests=["walking"],
            languages=["da"],
            needs=[],
            consent=consent(
                follow_up_questions=follow_up_questions,
                share_outcome_with_care_system=share_outcome,
            ),
            submitted_at=NOW,
            care_record_reference=REFERENCE,
            baseline=baseline,
        )
    )
    referral.receive_candidates([candidate()], {}, NOW, TTL)
    holder = the_partner(referral)
    referral.accept(holder, NOW)
    plan = plan or FollowUpPlan()
    referral.record_first_meeting(holder, FIRST_MEETING, Accompaniment.NOBODY, NOW, plan)
    referral.events.clear()
    referral.care_events.clear()
    return referral


def follow_up(referral: Referral, number: int) -> FollowUp:
    [found] = [f for f in referral.follow_ups if f.number == number]
    return found


def fire(referral: Referral, kind: str, number: int, at: datetime) -> bool:
    return referral.act_on(kind, follow_up(referral, number).id, {}, at, TTL)


def fall_due(referral: Referral, number: int) -> None:
    assert fire(referral, FOLLOW_UP_DUE, number, follow_up(referral, number).due_at)


def answer(
    referral: Referral,
    number: int,
    participation: Participation = TAKING_PART,
    scores: Scores = SCORES,
) -> None:
    """Both parts of follow-up `number`, at the moment it falls due (the care system's only
    if the citizen consented to follow-up questions)."""
    at = follow_up(referral, number).due_at
    referral.record_participation(the_partner(referral), number, participation, at)
    if referral.wellbeing_expected:
        referral.record_wellbeing(CARE, number, scores, at)


def of_type(events: list[Any], kind: type) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def nothing_happened(referral: Referral, before: Referral) -> None:
    assert referral == before
    assert referral.events == [] and referral.care_events == []


def settled(referral: Referral) -> Referral:
    """Forget the events so far; returns the referral as it now is, to compare with later."""
    referral.events.clear()
    referral.care_events.clear()
    return copy.deepcopy(referral)


# --- scheduling ---------------------------------------------------------------------------


def test_follow_ups_fall_due_four_weeks_and_three_months_after_the_first_meeting_at_nine() -> None:
    [first, second] = FollowUpPlan().schedule(FIRST_MEETING)
    assert (first.number, first.due_at, second.number, second.due_at) == (1, DUE_1, 2, DUE_2)
    assert (first.remind_at, first.escalate_at) == (
        DUE_1 + timedelta(days=14),
        DUE_1 + timedelta(days=28),
    )
    assert first.id != second.id
    assert (first.fell_due_at, first.participation, first.wellbeing) == (None, None, None)


def test_a_follow_up_falls_due_at_nine_copenhagen_time_also_after_the_clocks_changed() -> None:
    # 1 March is winter time (UTC+1); 29 March 2026, 28 days on, is the first day of summer
    # time (UTC+2), and 31 May, 91 days on, is summer time too.
    [first, second] = FollowUpPlan().schedule(date(2026, 3, 1))
    assert first.due_at == datetime(2026, 3, 29, 7, tzinfo=UTC)
    assert second.due_at == datetime(2026, 5, 31, 7, tzinfo=UTC)
    # And back: 1 October is summer time, 29 October winter time.
    [autumn] = FollowUpPlan(after_days=(28,)).schedule(date(2026, 10, 1))
    assert autumn.due_at == datetime(2026, 10, 29, 8, tzinfo=UTC)
    assert {f.due_at.astimezone(CITY).time() for f in (first, second, autumn)} == {time(9)}


def test_the_first_meeting_schedules_the_follow_ups_of_the_plan_given() -> None:
    plan = FollowUpPlan(
        after_days=(7, 30, 60), remind_after=timedelta(days=2), escalate_after=timedelta(days=3)
    )
    referral = followed(plan=plan)
    assert [f.number for f in referral.follow_ups] == [1, 2, 3]
    assert [f.due_at.astimezone(CITY).date() for f in referral.follow_ups] == [
        date(2026, 11, 29),
        date(2026, 12, 22),
        date(2027, 1, 21),
    ]
    assert {(f.remind_at - f.due_at, f.escalate_at - f.remind_at) for f in referral.follow_ups} == {
        (timedelta(days=2), timedelta(days=3))
    }


# --- what is answered ---------------------------------------------------------------------


def test_ucla3_is_answered_1_to_3_per_item_and_totals_3_to_9() -> None:
    assert (Ucla3(1, 1, 1).total, Ucla3(1, 2, 3).total, Ucla3(3, 3, 3).total) == (3, 6, 9)


def test_who5_is_answered_0_to_5_per_item_and_its_index_is_the_raw_total_times_four() -> None:
    lowest, mixed, highest = Who5(0, 0, 0, 0, 0), Who5(0, 1, 2, 3, 4), Who5(5, 5, 5, 5, 5)
    assert [(w.raw, w.index) for w in (lowest, mixed, highest)] == [(0, 0), (10, 40), (25, 100)]


@pytest.mark.parametrize(
    ("instrument", "value"),
    [
        (Ucla3, 0),
        (Ucla3, 4),
        (Ucla3, True),
        (Ucla3, 2.0),
        (Ucla3, "2"),
        (Ucla3, None),
        (Who5, -1),
        (Who5, 6),
        (Who5, False),
        (Who5, True),
        (Who5, 3.5),
    ],
)
def test_an_item_answered_out_of_range_or_not_as_a_whole_number_is_refused(
    instrument: type[Ucla3] | type[Who5], value: object
) -> None:
    items = [2] * (3 if instrument is Ucla3 else 5)
    for place in range(len(items)):
        answers: list[object] = list(items)
        answers[place] = value
        with pytest.raises(InvalidAnswer):
            instrument(*answers)  # type: ignore[arg-type]


@pytest.mark.parametrize("times", [-1, 101])
def test_a_participation_report_counts_0_to_100_times_a_month(times: int) -> None:
    with pytest.raises(InvalidAnswer):
        Participation(ParticipationStatus.TAKING_PART, times)
    assert Participation(ParticipationStatus.TAKING_PART, 100).times_last_month == 100


P, S, STOP = (
    ParticipationStatus.TAKING_PART,
    ParticipationStatus.PAUSED,
    ParticipationStatus.STOPPED,
)


@pytest.mark.parametrize(
    ("reports", "outcome"),
    [
        ([], None),
        ([(P, 4)], Outcome.PARTICIPATING),
        ([(P, 4), (S, 0)], Outcome.PARTICIPATING),
        ([(STOP, 0), (P, 2)], Outcome.PARTICIPATING),
        ([(P, 4), (STOP, 0)], Outcome.STOPPED),
        ([(STOP, 3)], Outcome.STOPPED),
        ([(S, 0), (STOP, 0)], Outcome.STOPPED),
        ([(STOP, 0)], Outcome.NEVER_STARTED),
        ([(STOP, 0), (STOP, 0)], Outcome.NEVER_STARTED),
    ],
)
def test_the_outcome_is_what_the_partners_reports_add_up_to(
    reports: list[tuple[ParticipationStatus, int]], outcome: Outcome | None
) -> None:
    assert Outcome.of([Participation(status, times) for status, times in reports]) is outcome


# --- consent ------------------------------------------------------------------------------


def test_answers_at_intake_are_refused_without_consent_to_follow_up_questions() -> None:
    with pytest.raises(InvalidAnswer, match="consent"):
        followed(follow_up_questions=False)
    assert followed(follow_up_questions=False, baseline=None).baseline is None


def test_the_citizens_answers_are_refused_without_consent_and_the_partner_alone_is_asked() -> None:
    referral = followed(follow_up_questions=False, baseline=None)
    fall_due(referral, 1)
    [due] = of_type(referral.events, FollowUpDue)
    [care_due] = of_type(referral.care_events, CareFollowUpDue)
    assert (due.wellbeing_expected, care_due.wellbeing_expected) == (False, False)
    before = settled(referral)
    with pytest.raises(InvalidAnswer, match="consent"):
        referral.record_wellbeing(CARE, 1, SCORES, DUE_1)
    assert referral.follow_ups == before.follow_ups
    answer(referral, 1)
    assert fire(referral, FOLLOW_UP_REMINDER, 1, DUE_1 + timedelta(days=30)) is False
    answer(referral, 2)
    assert referral.status is ReferralStatus.COMPLETED


# --- timers -------------------------------------------------------------------------------


def test_each_follow_up_needs_its_due_timer_then_its_reminder_then_its_escalation() -> None:
    referral = followed()
    first, second = referral.follow_ups
    waiting_for_second = Deadline(FOLLOW_UP_DUE, second.id, DUE_2)
    assert referral.deadlines() == [Deadline(FOLLOW_UP_DUE, first.id, DUE_1), waiting_for_second]

    fall_due(referral, 1)
    assert referral.deadlines() == [
        Deadline(FOLLOW_UP_REMINDER, first.id, first.remind_at),
        waiting_for_second,
    ]
    assert fire(referral, FOLLOW_UP_REMINDER, 1, first.remind_at)
    assert referral.deadlines() == [
        Deadline(FOLLOW_UP_ESCALATION, first.id, first.escalate_at),
        waiting_for_second,
    ]
    assert fire(referral, FOLLOW_UP_ESCALATION, 1, first.escalate_at)
    assert referral.deadlines() == [waiting_for_second]


@pytest.mark.parametrize("stage", ["due", "reminded", "escalated"])
def test_a_follow_up_answered_in_full_needs_no_more_timers(stage: str) -> None:
    referral = followed()
    first, second = referral.follow_ups
    fall_due(referral, 1)
    if stage in ("reminded", "escalated"):
        assert fire(referral, FOLLOW_UP_REMINDER, 1, first.remind_at)
    if stage == "escalated":
        assert fire(referral, FOLLOW_UP_ESCALATION, 1, first.escalate_at)
    referral.record_participation(the_partner(referral), 1, TAKING_PART, first.escalate_at)
    half_answered = {d.key for d in referral.deadlines()}
    assert (first.id in half_answered) is (stage != "escalated"), "waits for the care system"
    referral.record_wellbeing(CARE, 1, SCORES, first.escalate_at)
    assert referral.deadlines() == [Deadline(FOLLOW_UP_DUE, second.id, DUE_2)]


ENDED = DUE_1 + timedelta(days=20)

ENDINGS: dict[str, Callable[[Referral], None]] = {
    "completed": lambda r: r.complete(the_partner(r), None, ENDED),
    "failed": lambda r: r.fail(the_partner(r), FailReason.CITIZEN_MOVED, None, ENDED),
    "cancelled": lambda r: r.cancel(CARE, CancelReason.CITIZEN_DIED, None, ENDED),
    "consent_withdrawn": lambda r: r.withdraw_consent(CARE, "cw-4711", None, ENDED),
}


@pytest.mark.parametrize("ending", sorted(ENDINGS))
@pytest.mark.parametrize("stage", ["before_due", "due", "reminded"])
def test_a_referral_that_ended_or_lost_its_consent_needs_no_follow_up_timers_and_ignores_them(
    ending: str, stage: str
) -> None:
    referral = followed()
    first = follow_up(referral, 1)
    if stage != "before_due":
        fall_due(referral, 1)
    if stage == "reminded":
        assert fire(referral, FOLLOW_UP_REMINDER, 1, first.remind_at)
    timers = referral.deadlines()
    assert timers
    ENDINGS[ending](referral)
    assert referral.deadlines() == []
    before = settled(referral)
    for timer in timers:
        assert referral.act_on(timer.kind, timer.key, {}, DUE_2 + timedelta(days=60), TTL) is False
    nothing_happened(referral, before)


def test_a_follow_up_timer_that_fires_before_its_moment_changes_nothing() -> None:
    referral = followed()
    first = follow_up(referral, 1)
    before = settled(referral)
    assert fire(referral, FOLLOW_UP_DUE, 1, DUE_1 - timedelta(seconds=1)) is False
    nothing_happened(referral, before)
    fall_due(referral, 1)
    before = settled(referral)
    assert fire(referral, FOLLOW_UP_REMINDER, 1, first.remind_at - timedelta(seconds=1)) is False
    assert fire(referral, FOLLOW_UP_ESCALATION, 1, first.escalate_at) is False, "not reminded"
    nothing_happened(referral, before)
    assert fire(referral, FOLLOW_UP_REMINDER, 1, first.remind_at)
    before = settled(referral)
    assert (
        fire(referral, FOLLOW_UP_ESCALATION, 1, first.escalate_at - timedelta(seconds=1)) is False
    )
    nothing_happened(referral, before)


def test_a_follow_up_timer_that_fires_after_what_it_was_for_happened_changes_nothing() -> None:
    referral = followed()
    first = follow_up(referral, 1)
    fall_due(referral, 1)
    assert fire(referral, FOLLOW_UP_REMINDER, 1, first.remind_at)
    assert fire(referral, FOLLOW_UP_ESCALATION, 1, first.escalate_at)
    before = settled(referral)
    late = first.escalate_at + timedelta(days=1)
    assert fire(referral, FOLLOW_UP_DUE, 1, late) is False, "fell due already"
    assert fire(referral, FOLLOW_UP_REMINDER, 1, late) is False, "reminded already"
    assert fire(referral, FOLLOW_UP_ESCALATION, 1, late) is False, "escalated already"
    assert referral.act_on(FOLLOW_UP_REMINDER, uuid4(), {}, late, TTL) is False, "no such"
    nothing_happened(referral, before)

    answered = followed()
    fall_due(answered, 1)
    answer(answered, 1)
    before = settled(answered)
    assert fire(answered, FOLLOW_UP_REMINDER, 1, late) is False, "answered meanwhile"
    assert fire(answered, FOLLOW_UP_ESCALATION, 1, late) is False
    nothing_happened(answered, before)


def test_a_due_timer_that_fires_late_announces_when_the_follow_up_was_due() -> None:
    referral = followed()
    late = DUE_1 + timedelta(days=3)
    assert fire(referral, FOLLOW_UP_DUE, 1, late)
    [due] = referral.events
    assert isinstance(due, FollowUpDue)
    assert (due.follow_up, due.due_at) == (1, DUE_1)
    assert follow_up(referral, 1).fell_due_at == late


def test_a_follow_up_falling_due_tells_the_partner_and_the_care_system() -> None:
    referral = followed()
    fall_due(referral, 1)
    [due] = referral.events
    [care_due] = referral.care_events
    offer = referral.offers[-1]
    assert isinstance(due, FollowUpDue) and isinstance(care_due, CareFollowUpDue)
    assert due == FollowUpDue(
        referral_id=referral.id,
        organization_id=offer.organization_id,
        service_id=offer.service_id,
        follow_up=1,
        due_at=DUE_1,
        wellbeing_expected=True,
    )
    assert care_due == CareFollowUpDue(
        referral_id=referral.id,
        care_system=CARE.subject,
        care_record_reference=REFERENCE,
        follow_up=1,
        due_at=DUE_1,
        wellbeing_expected=True,
    )
    step = referral.history[-1]
    assert (step.action, step.party, step.from_status, step.to_status, step.follow_up) == (
        "follow_up_due",
        Party.CLOCK,
        ReferralStatus.IN_PROGRESS,
        ReferralStatus.IN_PROGRESS,
        1,
    )


@pytest.mark.parametrize(
    ("answered", "waiting_for"),
    [
        ("nothing", ["participation", "wellbeing"]),
        ("participation", ["wellbeing"]),
        ("wellbeing", ["participation"]),
    ],
)
def test_the_reminder_and_the_escalation_wait_only_for_the_parts_not_answered(
    answered: str, waiting_for: list[str]
) -> None:
    referral = followed()
    first = follow_up(referral, 1)
    fall_due(referral, 1)
    if answered == "participation":
        referral.record_participation(the_partner(referral), 1, TAKING_PART, DUE_1)
    if answered == "wellbeing":
        referral.record_wellbeing(CARE, 1, SCORES, DUE_1)
    referral.events.clear()
    assert fire(referral, FOLLOW_UP_REMINDER, 1, first.remind_at)
    assert fire(referral, FOLLOW_UP_ESCALATION, 1, first.escalate_at)
    overdue, escalated = referral.events
    assert isinstance(overdue, FollowUpOverdue) and isinstance(escalated, FollowUpEscalated)
    assert (overdue.follow_up, overdue.due_at, overdue.waiting_for) == (1, DUE_1, waiting_for)
    assert (escalated.follow_up, escalated.waiting_for, escalated.district) == (
        1,
        waiting_for,
        "Nørrebro",
    )
    assert [(t.action, t.party, t.follow_up) for t in referral.history[-2:]] == [
        ("follow_up_reminded", Party.CLOCK, 1),
        ("follow_up_escalated", Party.CLOCK, 1),
    ]


# --- answering ----------------------------------------------------------------------------


def test_an_answer_before_the_follow_up_falls_due_is_refused() -> None:
    referral = followed()
    before = settled(referral)
    early = DUE_1 - timedelta(seconds=1)
    with pytest.raises(InvalidTransition, match="2026-12-20"):
        referral.record_participation(the_partner(referral), 1, TAKING_PART, early)
    with pytest.raises(InvalidTransition, match="2026-12-20"):
        referral.record_wellbeing(CARE, 1, SCORES, early)
    nothing_happened(referral, before)


def test_an_answer_once_due_but_before_the_timer_fired_announces_the_follow_up_first() -> None:
    referral = followed()
    referral.record_participation(the_partner(referral), 1, TAKING_PART, DUE_1)
    announced_then_recorded: list[type] = [FollowUpDue, FollowUpRecorded]
    assert [type(e) for e in referral.events] == announced_then_recorded
    assert [type(e) for e in referral.care_events] == [CareFollowUpDue]
    assert follow_up(referral, 1).fell_due_at == DUE_1
    referral.events.clear()
    assert fire(referral, FOLLOW_UP_DUE, 1, DUE_1) is False
    assert referral.events == []


def test_an_answer_to_a_follow_up_the_referral_does_not_have_is_refused() -> None:
    referral = followed()
    later = DUE_2 + timedelta(days=365)
    with pytest.raises(NoSuchFollowUp):
        referral.record_participation(the_partner(referral), 3, TAKING_PART, later)
    with pytest.raises(NoSuchFollowUp):
        referral.record_wellbeing(CARE, 3, SCORES, later)


def test_an_answer_is_recorded_with_its_time_and_a_step_without_what_was_answered() -> None:
    referral = followed()
    noted = Participation(ParticipationStatus.PAUSED, 1, "Ill for two weeks")
    at = DUE_1 + timedelta(hours=2)
    referral.record_participation(the_partner(referral), 1, noted, at)
    referral.record_wellbeing(CARE, 1, Scores(), at + timedelta(hours=1))
    first = follow_up(referral, 1)
    assert (first.participation, first.participation_recorded_at) == (noted, at)
    assert (first.wellbeing, first.wellbeing_recorded_at) == (Scores(), at + timedelta(hours=1))
    recorded = of_type(referral.events, FollowUpRecorded)
    assert [(e.follow_up, e.part, e.recorded_at) for e in recorded] == [
        (1, "participation", at),
        (1, "wellbeing", at + timedelta(hours=1)),
    ]
    assert [(t.action, t.party, t.follow_up, t.text) for t in referral.history[-2:]] == [
        ("record_participation", Party.PARTNER, 1, None),
        ("record_wellbeing", Party.CARE_SYSTEM, 1, None),
    ]
    assert referral.status is ReferralStatus.IN_PROGRESS


def test_the_same_answer_sent_again_changes_nothing() -> None:
    referral = followed()
    fall_due(referral, 1)
    referral.record_participation(the_partner(referral), 1, TAKING_PART, DUE_1)
    referral.record_wellbeing(CARE, 1, SCORES, DUE_1)
    before = settled(referral)
    again = DUE_1 + timedelta(days=1)
    same_participation = Participation(ParticipationStatus.TAKING_PART, 4)
    same_scores = Scores(Ucla3(2, 2, 2), Who5(3, 3, 3, 3, 3))
    referral.record_participation(the_partner(referral), 1, same_participation, again)
    referral.record_wellbeing(CARE, 1, same_scores, again)
    nothing_happened(referral, before)


def test_the_last_answer_sent_again_after_it_completed_the_referral_changes_nothing() -> None:
    # A retry whose first answer completed the referral (its response lost on the way).
    referral = followed()
    answer(referral, 1)
    answer(referral, 2)
    assert referral.status is ReferralStatus.COMPLETED
    before = settled(referral)
    again = DUE_2 + timedelta(minutes=1)
    referral.record_participation(the_partner(referral), 2, TAKING_PART, again)
    referral.record_wellbeing(CARE, 2, SCORES, again)
    nothing_happened(referral, before)


def test_another_answer_to_an_answered_part_is_refused_and_the_first_kept() -> None:
    referral = followed()
    fall_due(referral, 1)
    referral.record_participation(the_partner(referral), 1, TAKING_PART, DUE_1)
    referral.record_wellbeing(CARE, 1, SCORES, DUE_1)
    before = settled(referral)
    with pytest.raises(InvalidTransition, match="answered already"):
        referral.record_participation(the_partner(referral), 1, STOPPED, DUE_1)
    with pytest.raises(InvalidTransition, match="answered already"):
        referral.record_wellbeing(CARE, 1, Scores(ucla3=Ucla3(1, 1, 1)), DUE_1)
    with pytest.raises(InvalidTransition, match="answered already"):
        referral.record_wellbeing(CARE, 1, Scores(), DUE_1)
    nothing_happened(referral, before)


OTHER_CARE = Actor(Party.CARE_SYSTEM, "care-2")
STRANGER = partner(uuid4())

PARTICIPATION_BY = {
    "another_organisation": STRANGER,
    "the_care_system": CARE,
    "an_operator": OPERATOR,
}
WELLBEING_BY = {"another_care_system": OTHER_CARE, "an_operator": OPERATOR}


@pytest.mark.parametrize("who", sorted(PARTICIPATION_BY))
def test_only_the_accepting_organisation_reports_participation(who: str) -> None:
    referral = followed()
    fall_due(referral, 1)
    before = settled(referral)
    with pytest.raises(Forbidden):
        referral.record_participation(PARTICIPATION_BY[who], 1, TAKING_PART, DUE_1)
    assert referral.follow_ups == before.follow_ups


@pytest.mark.parametrize("who", [*sorted(WELLBEING_BY), "the_partner"])
def test_only_the_submitting_care_system_records_the_citizens_answers(who: str) -> None:
    referral = followed()
    fall_due(referral, 1)
    before = settled(referral)
    actor = the_partner(referral) if who == "the_partner" else WELLBEING_BY[who]
    with pytest.raises(Forbidden):
        referral.record_wellbeing(actor, 1, SCORES, DUE_1)
    assert referral.follow_ups == before.follow_ups


def test_a_referral_on_hold_is_followed_up_too() -> None:
    referral = followed()
    referral.put_on_hold(the_partner(referral), HoldReason.CITIZEN_IN_HOSPITAL, None, NOW)
    fall_due(referral, 1)
    answer(referral, 1, Participation(ParticipationStatus.PAUSED, 0))
    answer(referral, 2, Participation(ParticipationStatus.PAUSED, 0))
    assert (referral.status, referral.outcome) == (ReferralStatus.COMPLETED, Outcome.PARTICIPATING)
    assert referral.history[-1].from_status is ReferralStatus.ON_HOLD


def test_a_referral_not_yet_met_or_ended_takes_no_follow_up_answers() -> None:
    referral = followed()
    referral.complete(the_partner(referral), None, NOW)
    with pytest.raises(InvalidTransition):
        referral.record_participation(the_partner(referral), 1, TAKING_PART, DUE_1)
    with pytest.raises(InvalidTransition):
        referral.record_wellbeing(CARE, 1, SCORES, DUE_1)


# --- how it ends --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "outcome"),
    [
        (TAKING_PART, TAKING_PART, Outcome.PARTICIPATING),
        (TAKING_PART, Participation(ParticipationStatus.PAUSED, 0), Outcome.PARTICIPATING),
        (TAKING_PART, STOPPED, Outcome.STOPPED),
        (STOPPED, STOPPED, Outcome.NEVER_STARTED),
    ],
)
def test_the_last_answer_completes_the_referral_with_the_outcome_of_the_reports(
    first: Participation, second: Participation, outcome: Outcome
) -> None:
    referral = followed()
    answer(referral, 1, first)
    assert referral.status is ReferralStatus.IN_PROGRESS
    referral.events.clear()
    answer(referral, 2, second)
    assert (referral.status, referral.outcome) == (ReferralStatus.COMPLETED, outcome)
    assert referral.completed_at == DUE_2
    step = referral.history[-1]
    assert (step.action, step.party, step.to_status) == (
        "complete",
        Party.SYSTEM,
        ReferralStatus.COMPLETED,
    )
    completed = referral.events[-1]
    assert isinstance(completed, ReferralCompleted)
    assert (completed.outcome, completed.completed_at) == (outcome.value, DUE_2)
    assert referral.deadlines() == []


def test_the_referral_completes_only_once_every_follow_up_has_every_part() -> None:
    referral = followed()
    answer(referral, 2)  # the second answered first
    referral.record_participation(the_partner(referral), 1, TAKING_PART, DUE_2)
    assert referral.status is ReferralStatus.IN_PROGRESS
    referral.record_wellbeing(CARE, 1, SCORES, DUE_2 + timedelta(hours=1))
    completed = (referral.status, referral.completed_at)
    assert completed == (ReferralStatus.COMPLETED, DUE_2 + timedelta(hours=1))


def test_score_changes_compare_intake_with_the_last_follow_up_that_asked_each() -> None:
    referral = followed()
    answer(referral, 1, scores=Scores(Ucla3(2, 2, 2), Who5(3, 3, 3, 3, 3)))
    answer(referral, 2, scores=Scores(ucla3=Ucla3(1, 1, 2)))  # WHO-5 not asked
    assert referral.score_changes() == (ScoreChange(9, 4), ScoreChange(20, 60))
    assert (ScoreChange(9, 4).change, ScoreChange(20, 60).change) == (-5, 40)


@pytest.mark.parametrize(
    ("baseline", "first", "second", "expected"),
    [
        (Scores(ucla3=Ucla3(3, 3, 3)), SCORES, SCORES, (ScoreChange(9, 6), None)),
        (BASELINE, Scores(ucla3=Ucla3(1, 1, 1)), Scores(), (ScoreChange(9, 3), None)),
        (BASELINE, Scores(), Scores(), (None, None)),
        (None, SCORES, SCORES, (None, None)),
    ],
    ids=["who5_not_at_intake", "who5_never_at_follow_ups", "never_answered", "no_baseline"],
)
def test_an_instrument_not_answered_at_intake_or_at_any_follow_up_has_no_change(
    baseline: Scores | None,
    first: Scores,
    second: Scores,
    expected: tuple[ScoreChange | None, ScoreChange | None],
) -> None:
    referral = followed(baseline=baseline)
    answer(referral, 1, scores=first)
    answer(referral, 2, scores=second)
    assert referral.status is ReferralStatus.COMPLETED
    assert referral.score_changes() == expected


def completed_change(referral: Referral) -> ReferralStatusChanged:
    [changed] = [
        e
        for e in referral.care_events
        if isinstance(e, ReferralStatusChanged) and e.status == "completed"
    ]
    return changed


@pytest.mark.parametrize("share_outcome", [True, False])
def test_the_care_system_is_told_how_it_ended_and_the_score_changes_only_with_consent(
    share_outcome: bool,
) -> None:
    referral = followed(share_outcome=share_outcome)
    answer(referral, 1, TAKING_PART, Scores(Ucla3(2, 2, 2), Who5(3, 3, 3, 3, 3)))
    answer(referral, 2, STOPPED, Scores(ucla3=Ucla3(1, 1, 2)))
    changed = completed_change(referral)
    told = (changed.outcome, changed.ucla3_change, changed.who5_change)
    if share_outcome:
        assert told == (
            "stopped",
            ScoreChangePublic(baseline=9, last=4, change=-5),
            ScoreChangePublic(baseline=20, last=60, change=40),
        )
        assert referral.shared_outcome() == (
            Outcome.STOPPED,
            ScoreChange(9, 4),
            ScoreChange(20, 60),
        )
    else:
        assert told == (None, None, None)
        assert referral.shared_outcome() == (None, None, None)
    assert referral.outcome is Outcome.STOPPED, "referrals itself knows either way"


def test_without_consent_to_share_it_the_completed_status_change_does_not_say_how_it_ended() -> (
    None
):
    referral = followed(share_outcome=False)
    answer(referral, 1, STOPPED)
    answer(referral, 2, STOPPED)
    changed = completed_change(referral)
    assert changed.reason not in {outcome.value for outcome in Outcome}, (
        "the reason code must not tell the care system what the citizen did not consent to share"
    )


def test_every_change_of_status_and_only_that_is_told_to_the_care_system_in_order() -> None:
    referral = Referral.submit(
        Referral(
            id=uuid4(),
            submitted_by=CARE.subject,
            citizen_ref="ref_abcdefghijklmnopqrstuvwxyz",
            age_band="80-84",
            district="Nørrebro",
            interests=["walking"],
            languages=["da"],
            needs=[],
            consent=consent(share_outcome_with_care_system=True),
            submitted_at=NOW,
            care_record_reference=REFERENCE,
        )
    )
    referral.receive_candidates([candidate()], {}, NOW, TTL)
    holder = the_partner(referral)
    referral.accept(holder, NOW)
    referral.record_contact(holder, FIRST_MEETING, NOW)
    referral.record_first_meeting(holder, FIRST_MEETING, Accompaniment.NOBODY, NOW)
    referral.put_on_hold(holder, HoldReason.CITIZEN_ILL, None, NOW)
    referral.resume(holder, NOW)
    answer(referral, 1)
    answer(referral, 2)
    changes = of_type(referral.care_events, ReferralStatusChanged)
    assert [(c.previous_status, c.status) for c in changes] == [
        (None, "submitted"),
        ("submitted", "offered"),
        ("offered", "accepted"),
        ("accepted", "in_progress"),
        ("in_progress", "on_hold"),
        ("on_hold", "in_progress"),
        ("in_progress", "completed"),
    ]
    assert {(c.referral_id, c.care_system, c.care_record_reference) for c in changes} == {
        (referral.id, CARE.subject, REFERENCE)
    }
    assert [c.reason for c in changes[:-1]] == [None, None, None, None, "citizen_ill", None]
    assert [e.follow_up for e in of_type(referral.care_events, CareFollowUpDue)] == [1, 2]


def test_a_partner_completing_before_the_follow_ups_drops_their_timers() -> None:
    referral = followed()
    referral.complete(the_partner(referral), "comes every week", NOW)
    assert (referral.status, referral.outcome) == (ReferralStatus.COMPLETED, None)
    assert referral.deadlines() == []
    [completed] = of_type(referral.events, ReferralCompleted)
    assert completed.outcome is None
    assert fire(referral, FOLLOW_UP_DUE, 1, DUE_1) is False


def test_a_partner_completing_after_a_follow_up_ends_with_what_was_reported_so_far() -> None:
    referral = followed()
    answer(referral, 1, STOPPED)
    referral.complete(the_partner(referral), None, DUE_1 + timedelta(days=1))
    assert (referral.status, referral.outcome) == (ReferralStatus.COMPLETED, Outcome.NEVER_STARTED)
    assert referral.deadlines() == []


def test_the_events_of_follow_ups_carry_no_free_text_answers_or_personal_data() -> None:
    referral = followed()
    note = "Inger Jensen was glad; her daughter's number is 12 34 56 78"
    fall_due(referral, 1)
    first = follow_up(referral, 1)
    assert fire(referral, FOLLOW_UP_REMINDER, 1, first.remind_at)
    assert fire(referral, FOLLOW_UP_ESCALATION, 1, first.escalate_at)
    referral.record_participation(
        the_partner(referral), 1, Participation(ParticipationStatus.TAKING_PART, 7, note), DUE_2
    )
    referral.record_wellbeing(CARE, 1, SCORES, DUE_2)
    answer(referral, 2, Participation(ParticipationStatus.STOPPED, 1, note))
    assert referral.status is ReferralStatus.COMPLETED
    told = [e.model_dump_json() for e in [*referral.events, *referral.care_events]]
    assert len(told) > 10
    secrets = (note, "was glad", "daughter", *PERSONAL_DATA)
    answers = ("lack_companionship", "cheerful", "times_last_month", "taking_part")
    for text in told:
        assert not [s for s in (*secrets, *answers) if s in text], text
