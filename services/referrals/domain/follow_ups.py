"""Following the citizen after the first meeting: when each follow-up falls due, who has
answered it, and when an unanswered one is reminded and escalated. Rules only, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from referrals.domain.outcomes import Participation, Scores

CITY_TIME = ZoneInfo("Europe/Copenhagen")
DUE_AT = time(9)
"""A follow-up falls due at nine in the morning, Copenhagen time, on its day."""

FOLLOW_UP_DUE = "follow_up_due"
FOLLOW_UP_REMINDER = "follow_up_reminder"
FOLLOW_UP_ESCALATION = "follow_up_escalation"
"""The kinds of durable timer a follow-up needs."""


class Part(StrEnum):
    """Who answers what at a follow-up."""

    PARTICIPATION = "participation"
    """The partner: does the citizen still take part?"""
    WELLBEING = "wellbeing"
    """The care system: the citizen's answers to UCLA-3 and WHO-5."""


@dataclass(frozen=True)
class FollowUpPlan:
    """When follow-ups fall due after the first meeting, and how long an unanswered one
    waits before it is reminded, and again before it is escalated to operators."""

    after_days: tuple[int, ...] = (28, 91)
    """Four weeks and three months."""
    remind_after: timedelta = timedelta(days=14)
    escalate_after: timedelta = timedelta(days=14)
    """After the reminder."""

    def schedule(self, first_meeting_on: date) -> list[FollowUp]:
        follow_ups = []
        for number, days in enumerate(self.after_days, start=1):
            due_at = datetime.combine(first_meeting_on + timedelta(days=days), DUE_AT, CITY_TIME)
            remind_at = due_at + self.remind_after
            follow_ups.append(
                FollowUp(
                    id=uuid4(),
                    number=number,
                    due_at=due_at,
                    remind_at=remind_at,
                    escalate_at=remind_at + self.escalate_after,
                )
            )
        return follow_ups


DEFAULT_PLAN = FollowUpPlan()


@dataclass
class FollowUp:
    id: UUID
    number: int
    """1 for the first, counted from the first meeting."""
    due_at: datetime
    remind_at: datetime
    escalate_at: datetime
    fell_due_at: datetime | None = None
    """When Brobygger announced it as due."""
    participation: Participation | None = None
    participation_recorded_at: datetime | None = None
    wellbeing: Scores | None = None
    wellbeing_recorded_at: datetime | None = None
    reminded_at: datetime | None = None
    escalated_at: datetime | None = None

    @property
    def escalation_due_at(self) -> datetime:
        """When it is escalated if still unanswered: as long after the reminder went out as
        planned, also when the reminder went out late (the scheduler was down)."""
        if self.reminded_at is None:
            return self.escalate_at
        return max(self.escalate_at, self.reminded_at + (self.escalate_at - self.remind_at))

    def missing(self, wellbeing_expected: bool) -> list[Part]:
        """The parts not answered yet; the care system's only if the citizen consented
        to follow-up questions."""
        missing = []
        if self.participation is None:
            missing.append(Part.PARTICIPATION)
        if wellbeing_expected and self.wellbeing is None:
            missing.append(Part.WELLBEING)
        return missing
