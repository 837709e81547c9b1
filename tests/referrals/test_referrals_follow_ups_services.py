"""The follow-up use cases and the scheduler on in-memory fakes, with a clock the tests move."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID, uuid4

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
from referrals import services
from referrals.domain import (
    CLOCK,
    FOLLOW_UP_DUE,
    FOLLOW_UP_ESCALATION,
    FOLLOW_UP_REMINDER,
    Accompaniment,
    Actor,
    FollowUpPlan,
    InvalidAnswer,
    InvalidTransition,
    Outcome,
    Participation,
    ParticipationStatus,
    ReferralStatus,
    Scores,
    Ucla3,
    Who5,
)
from tests.fakes import FakeClock
from tests.referrals.fakes import FakeUnitOfWork
from tests.referrals.support import (
    CARE,
    CITY,
    TTL,
    city_day,
    consent,
    events_since,
    offered,
    partner,
)

DUE_1 = datetime(2026, 12, 20, 9, tzinfo=CITY)
DUE_2 = datetime(2027, 2, 21, 9, tzinfo=CITY)
"""28 and 91 days after a first meeting on NOW's day."""
REMINDED_AFTER = timedelta(days=14)
ESCALATED_AFTER = timedelta(days=28)

TAKING_PART = Participation(ParticipationStatus.TAKING_PART, 4)
STOPPED = Participation(ParticipationStatus.STOPPED, 0)
SCORES = Scores(Ucla3(2, 2, 2), Who5(3, 3, 3, 3, 3))


def in_progress(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle, **consents: bool
) -> tuple[UUID, Actor]:
    """A referral accepted and met today, as stored, with answers at intake if the citizen
    consented to follow-up questions; and the partner holding it."""
    organisation = uuid4()
    asked = consents.get("follow_up_questions", True)
    baseline = Scores(Ucla3(3, 3, 3), Who5(1, 1, 1, 1, 1)) if asked else None
    referral = offered(uow, clock, organisation, consent=consent(**consents), baseline=baseline)
    holder = partner(organisation)
    services.accept_offer(referral.id, holder, lifecycle)
    meeting = services.RecordFirstMeeting(city_day(clock.now), Accompaniment.NOBODY)
    services.record_first_meeting(referral.id, meeting, holder, lifecycle)
    return referral.id, holder


def timers_of(uow: FakeUnitOfWork, referral_id: UUID) -> set[tuple[str, int, datetime]]:
    """(kind, follow-up number, due) of the referral's follow-up timers."""
    numbers = {f.id: f.number for f in uow.stored(referral_id).follow_ups}
    return {
        (kind, numbers[key], at)
        for (rid, kind, key), at in uow.tables.timers.items()
        if rid == referral_id and key in numbers
    }


def participation(number: int, report: Participation = TAKING_PART) -> services.RecordParticipation:
    return services.RecordParticipation(number, report)


def wellbeing(number: int, scores: Scores = SCORES) -> services.RecordWellbeing:
    return services.RecordWellbeing(number, scores)


def test_the_first_meeting_leaves_a_due_timer_for_each_follow_up_of_the_plan(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    plan = FollowUpPlan(after_days=(7, 14), remind_after=timedelta(days=2))
    lifecycle = services.Lifecycle(uow, TTL, clock, plan)
    referral_id, _ = in_progress(uow, clock, lifecycle)
    week, fortnight = datetime(2026, 11, 29, 9, tzinfo=CITY), datetime(2026, 12, 6, 9, tzinfo=CITY)
    assert timers_of(uow, referral_id) == {(FOLLOW_UP_DUE, 1, week), (FOLLOW_UP_DUE, 2, fortnight)}


def test_the_scheduler_walks_an_unanswered_follow_up_through_due_reminder_and_escalation(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    referral_id, _ = in_progress(uow, clock, lifecycle)
    second_due = (FOLLOW_UP_DUE, 2, DUE_2)
    assert timers_of(uow, referral_id) == {(FOLLOW_UP_DUE, 1, DUE_1), second_due}
    events, told = len(uow.committed_events), len(uow.care_events_published)

    clock.now = DUE_1 - timedelta(seconds=1)
    assert services.fire_due_timers(lifecycle) == 0
    clock.now = DUE_1
    assert services.fire_due_timers(lifecycle) == 1
    assert events_since(uow, events) == [FollowUpDue]
    assert [type(e) for e in uow.care_events_published[told:]] == [CareFollowUpDue]
    assert timers_of(uow, referral_id) == {
        (FOLLOW_UP_REMINDER, 1, DUE_1 + REMINDED_AFTER),
        second_due,
    }

    clock.now = DUE_1 + REMINDED_AFTER
    assert services.fire_due_timers(lifecycle) == 1
    clock.now = DUE_1 + ESCALATED_AFTER - timedelta(seconds=1)
    assert services.fire_due_timers(lifecycle) == 0
    clock.now = DUE_1 + ESCALATED_AFTER
    assert services.fire_due_timers(lifecycle) == 1
    assert events_since(uow, events) == [FollowUpDue, FollowUpOverdue, FollowUpEscalated]
    overdue, escalated = uow.committed_events[-2:]
    assert isinstance(overdue, FollowUpOverdue) and isinstance(escalated, FollowUpEscalated)
    assert overdue.waiting_for == escalated.waiting_for == ["participation", "wellbeing"]
    assert timers_of(uow, referral_id) == {second_due}

    stored = uow.stored(referral_id)
    first = stored.follow_ups[0]
    assert (first.fell_due_at, first.reminded_at, first.escalated_at) == (
        DUE_1,
        DUE_1 + REMINDED_AFTER,
        DUE_1 + ESCALATED_AFTER,
    )
    assert [(t.action, t.party, t.follow_up) for t in stored.history[-3:]] == [
        ("follow_up_due", CLOCK.party, 1),
        ("follow_up_reminded", CLOCK.party, 1),
        ("follow_up_escalated", CLOCK.party, 1),
    ]
    assert stored.status is ReferralStatus.IN_PROGRESS


def test_a_scheduler_that_was_down_catches_up_and_escalates_only_as_long_after_the_reminder(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    referral_id, _ = in_progress(uow, clock, lifecycle)
    events = len(uow.committed_events)
    back = DUE_2 + timedelta(days=1)
    clock.now = back
    assert services.fire_due_timers(lifecycle) == 3
    assert events_since(uow, events) == [FollowUpDue, FollowUpOverdue, FollowUpDue]
    # The reminder went out late: those reminded get the whole time planned to answer.
    after_the_reminder = back + (ESCALATED_AFTER - REMINDED_AFTER)
    assert timers_of(uow, referral_id) == {
        (FOLLOW_UP_ESCALATION, 1, after_the_reminder),
        (FOLLOW_UP_REMINDER, 2, DUE_2 + REMINDED_AFTER),
    }
    assert services.fire_due_timers(lifecycle) == 0
    clock.now = after_the_reminder  # the second's reminder is due by now too
    assert services.fire_due_timers(lifecycle) == 2
    assert events_since(uow, events)[-2:] == [FollowUpOverdue, FollowUpEscalated]


def test_each_answer_is_committed_with_its_event_and_the_last_completes_the_referral(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    referral_id, holder = in_progress(uow, clock, lifecycle, share_outcome_with_care_system=True)
    clock.now = DUE_1
    services.fire_due_timers(lifecycle)
    events = len(uow.committed_events)

    clock.advance(timedelta(hours=1))
    services.record_participation(referral_id, participation(1), holder, lifecycle)
    assert events_since(uow, events) == [FollowUpRecorded]
    assert uow.stored(referral_id).follow_ups[0].participation == TAKING_PART
    assert (FOLLOW_UP_REMINDER, 1, DUE_1 + REMINDED_AFTER) in timers_of(uow, referral_id)
    services.record_wellbeing(referral_id, wellbeing(1), CARE, lifecycle)
    assert events_since(uow, events) == [FollowUpRecorded, FollowUpRecorded]
    assert timers_of(uow, referral_id) == {(FOLLOW_UP_DUE, 2, DUE_2)}

    clock.now = DUE_2 + timedelta(hours=1)  # the scheduler has not announced it yet
    services.record_wellbeing(referral_id, wellbeing(2, Scores()), CARE, lifecycle)
    told = len(uow.care_events_published)
    done = services.record_participation(referral_id, participation(2, STOPPED), holder, lifecycle)
    assert events_since(uow, events) == [
        FollowUpRecorded,
        FollowUpRecorded,
        FollowUpDue,
        FollowUpRecorded,
        FollowUpRecorded,
        ReferralCompleted,
    ]
    stored = uow.stored(referral_id)
    assert stored == done
    assert (stored.status, stored.outcome, stored.completed_at) == (
        ReferralStatus.COMPLETED,
        Outcome.STOPPED,
        clock.now,
    )
    [completed] = uow.care_events_published[told:]
    assert isinstance(completed, ReferralStatusChanged)
    assert (completed.status, completed.outcome) == ("completed", "stopped")
    assert completed.ucla3_change is not None and completed.ucla3_change.change == -3
    assert timers_of(uow, referral_id) == set()
    assert services.fire_due_timers(lifecycle) == 0


def test_a_refused_answer_commits_nothing(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    referral_id, holder = in_progress(uow, clock, lifecycle, follow_up_questions=False)
    before, events = uow.stored(referral_id), len(uow.committed_events)
    clock.now = DUE_1 - timedelta(minutes=1)
    with pytest.raises(InvalidTransition):
        services.record_participation(referral_id, participation(1), holder, lifecycle)
    clock.now = DUE_1
    with pytest.raises(InvalidAnswer):
        services.record_wellbeing(referral_id, wellbeing(1), CARE, lifecycle)
    assert uow.stored(referral_id) == before
    assert events_since(uow, events) == []


def test_an_answer_that_raced_the_scheduler_is_redone_and_the_follow_up_falls_due_once(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    referral_id, holder = in_progress(uow, clock, lifecycle)
    clock.now = DUE_1
    [follow_up_1, _] = uow.stored(referral_id).follow_ups
    # The scheduler announces the follow-up and commits between the read and the save.
    uow.other_writers.append(
        lambda rid: uow.commit_elsewhere(
            rid, lambda r: r.act_on(FOLLOW_UP_DUE, follow_up_1.id, {}, clock.now, TTL)
        )
    )
    version, events = uow.stored(referral_id).version, len(uow.committed_events)
    services.record_participation(referral_id, participation(1), holder, lifecycle)
    assert uow.other_writers == []
    stored = uow.stored(referral_id)
    assert stored.version == version + 2  # theirs, then ours
    announced_once_then_recorded: list[type] = [FollowUpDue, FollowUpRecorded]
    assert events_since(uow, events) == announced_once_then_recorded
    assert stored.follow_ups[0].participation == TAKING_PART
    assert [t.action for t in stored.history[-2:]] == ["follow_up_due", "record_participation"]


def test_the_two_last_answers_racing_each_other_complete_the_referral_once(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    referral_id, holder = in_progress(uow, clock, lifecycle)
    clock.now = DUE_2
    services.record_participation(referral_id, participation(1), holder, lifecycle)
    services.record_wellbeing(referral_id, wellbeing(1), CARE, lifecycle)
    events = len(uow.committed_events)
    # The care system records its last part between the partner's read and save: neither
    # saw the other's answer, and the partner's, redone, is the one that completes.
    uow.other_writers.append(
        lambda rid: uow.commit_elsewhere(
            rid, lambda r: r.record_wellbeing(CARE, 2, SCORES, clock.now)
        )
    )
    done = services.record_participation(referral_id, participation(2), holder, lifecycle)
    assert uow.other_writers == []
    assert events_since(uow, events) == [
        FollowUpDue,  # theirs: the second follow-up had not been announced yet
        FollowUpRecorded,
        FollowUpRecorded,
        ReferralCompleted,
    ]
    assert done.status is ReferralStatus.COMPLETED
    assert uow.stored(referral_id).follow_ups[1].wellbeing == SCORES
