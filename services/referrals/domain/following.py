"""Following the citizen after the first meeting, as part of the referral aggregate:
follow-ups falling due, reminded and escalated, the partner's and the care system's answers,
the outcome the referral completes with, and what the care system may learn of it. A mixin
of `Referral` (`lifecycle`), split off by role; rules only, no I/O."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from uuid import UUID

from contracts import (
    CareFollowUpDue,
    FollowUpDue,
    FollowUpEscalated,
    FollowUpOverdue,
    FollowUpRecorded,
    IntegrationEvent,
    ReferralCompleted,
    ReferralStatusChanged,
)
from contracts.referrals import CareSystemEvent
from referrals.domain.citizen import Consent
from referrals.domain.follow_ups import (
    CITY_TIME,
    FOLLOW_UP_DUE,
    FOLLOW_UP_ESCALATION,
    FOLLOW_UP_REMINDER,
    FollowUp,
    Part,
)
from referrals.domain.offers import Deadline, Offer
from referrals.domain.outcomes import (
    Outcome,
    Participation,
    ScoreChange,
    Scores,
    published,
    score_changes,
)
from referrals.domain.rules import (
    CLOCK,
    HELD,
    SYSTEM,
    Action,
    Actor,
    InvalidAnswer,
    InvalidTransition,
    NoSuchFollowUp,
    ReferralStatus,
)

S = ReferralStatus


class FollowingUp:
    """The follow-up steps of `Referral`, which inherits them."""

    if TYPE_CHECKING:  # what this part uses of the rest of the referral
        id: UUID
        submitted_by: str
        care_record_reference: str | None
        district: str
        status: ReferralStatus
        consent: Consent
        baseline: Scores | None
        follow_ups: list[FollowUp]
        outcome: Outcome | None
        events: list[IntegrationEvent]
        care_events: list[CareSystemEvent]

        @property
        def accepted_offer(self) -> Offer | None: ...

        def _check(self, action: Action, actor: Actor) -> Offer | None: ...

        def _check_holder(self, action: Action, actor: Actor) -> Offer: ...

        def _held_fields(self, offer: Offer) -> dict[str, UUID]: ...

        def _move(
            self,
            action: str,
            actor: Actor,
            to: ReferralStatus,
            now: datetime,
            reason: StrEnum | None = None,
            text: str | None = None,
        ) -> None: ...

        def _note(self, action: str, actor: Actor, now: datetime, follow_up: int) -> None: ...

    @property
    def wellbeing_expected(self) -> bool:
        """Whether the citizen's answers are asked at follow-ups: they consented to
        follow-up questions and have not withdrawn consent."""
        return self.consent.follow_up_questions and self.consent.withdrawal is None

    @property
    def outcome_shared(self) -> bool:
        """Whether the care system may learn how the referral goes: the citizen consented
        and has not withdrawn consent."""
        return self.consent.share_outcome_with_care_system and self.consent.withdrawal is None

    def shared_outcome(
        self,
    ) -> tuple[Outcome | None, ScoreChange | None, ScoreChange | None]:
        """How a completed referral ended, as its care system may learn it: only if the
        citizen consented to share it (and has not withdrawn consent)."""
        if self.status is not S.COMPLETED or not self.outcome_shared:
            return None, None, None
        return (self.outcome, *self.score_changes())

    def score_changes(self) -> tuple[ScoreChange | None, ScoreChange | None]:
        """UCLA-3 and WHO-5 from intake to the last follow-up that asked each."""
        return score_changes(
            self.baseline, (f.wellbeing for f in self.follow_ups if f.wellbeing is not None)
        )

    def record_participation(
        self, actor: Actor, number: int, participation: Participation, now: datetime
    ) -> None:
        """The partner reports whether the citizen still takes part. Sending the same
        report again changes nothing, also once it completed the referral; another report
        of an answered follow-up is refused."""
        try:
            offer = self._check_holder(Action.RECORD_PARTICIPATION, actor)
        except InvalidTransition:
            if self._answered_so(number, lambda f: f.participation == participation):
                return
            raise
        follow_up = self._follow_up_due(number, now)
        if follow_up.participation is not None:
            if follow_up.participation == participation:
                return
            raise InvalidTransition(f"follow-up {number} was answered already by the partner")
        follow_up.participation, follow_up.participation_recorded_at = participation, now
        self._follow_up_answered(offer, actor, follow_up, Part.PARTICIPATION, now)

    def record_wellbeing(self, actor: Actor, number: int, scores: Scores, now: datetime) -> None:
        """The care system records the citizen's answers (none, if they did not want to
        answer); only with the citizen's consent to follow-up questions. Sending the same
        answers again changes nothing, also once they completed the referral; other answers
        to an answered follow-up are refused."""
        try:
            self._check(Action.RECORD_WELLBEING, actor)
        except InvalidTransition:
            if self._answered_so(number, lambda f: f.wellbeing == scores):
                return
            raise
        if not self.wellbeing_expected:
            raise InvalidAnswer(
                "the citizen did not consent to follow-up questions, so their answers "
                "cannot be recorded"
            )
        follow_up = self._follow_up_due(number, now)
        if follow_up.wellbeing is not None:
            if follow_up.wellbeing == scores:
                return
            raise InvalidTransition(f"follow-up {number} was answered already by the care system")
        follow_up.wellbeing, follow_up.wellbeing_recorded_at = scores, now
        offer = self.accepted_offer
        assert offer is not None  # the rules admit it only while an organisation holds it
        self._follow_up_answered(offer, actor, follow_up, Part.WELLBEING, now)

    def _fall_due(self, offer: Offer, follow_up: FollowUp, now: datetime) -> bool:
        if follow_up.due_at > now:
            return False
        follow_up.fell_due_at = now
        self._note("follow_up_due", CLOCK, now, follow_up.number)
        self.events.append(
            FollowUpDue(
                **self._held_fields(offer),
                follow_up=follow_up.number,
                due_at=follow_up.due_at,
                wellbeing_expected=self.wellbeing_expected,
            )
        )
        self.care_events.append(
            CareFollowUpDue(
                **self._care_fields(),
                follow_up=follow_up.number,
                due_at=follow_up.due_at,
                wellbeing_expected=self.wellbeing_expected,
            )
        )
        return True

    def _follow_up_due(self, number: int, now: datetime) -> FollowUp:
        """The follow-up, once it is due (announced or not: the scheduler may lag)."""
        follow_up = next((f for f in self.follow_ups if f.number == number), None)
        if follow_up is None:
            raise NoSuchFollowUp(f"the referral has no follow-up {number}")
        if follow_up.due_at > now:
            day = follow_up.due_at.astimezone(CITY_TIME).date().isoformat()
            raise InvalidTransition(f"follow-up {number} falls due on {day}")
        if follow_up.fell_due_at is None:
            offer = self.accepted_offer
            assert offer is not None  # held
            self._fall_due(offer, follow_up, now)
        return follow_up

    def _follow_up_answered(
        self, offer: Offer, actor: Actor, follow_up: FollowUp, part: Part, now: datetime
    ) -> None:
        self._note(f"record_{part.value}", actor, now, follow_up.number)
        self.events.append(
            FollowUpRecorded(
                **self._held_fields(offer),
                follow_up=follow_up.number,
                part=part.value,
                recorded_at=now,
            )
        )
        if all(not f.missing(self.wellbeing_expected) for f in self.follow_ups):
            self._complete(offer, SYSTEM, now, None)

    def _answered_so(self, number: int, answered: Callable[[FollowUp], bool]) -> bool:
        """Whether this follow-up was answered just so: then a retry of the answer that
        completed the referral (its first reply lost) is no error, though the referral has
        moved on. Refusals of the party come before the state's, and still hold."""
        follow_up = next((f for f in self.follow_ups if f.number == number), None)
        return follow_up is not None and answered(follow_up)

    def _complete(self, offer: Offer, actor: Actor, now: datetime, note: str | None) -> None:
        reports = [f.participation for f in self.follow_ups if f.participation is not None]
        self.outcome = Outcome.of(reports)
        # How it ended is `outcome`, not the step's reason: the care system sees the steps,
        # and learns how it ended only with the citizen's consent.
        self._move(Action.COMPLETE, actor, S.COMPLETED, now, None, note)
        self.events.append(
            ReferralCompleted(
                **self._held_fields(offer),
                completed_at=now,
                outcome=self.outcome.value if self.outcome else None,
            )
        )

    def _care_fields(self) -> dict[str, Any]:
        return {
            "referral_id": self.id,
            "care_system": self.submitted_by,
            "care_record_reference": self.care_record_reference,
        }

    def _status_changed(
        self, previous: ReferralStatus | None, reason: str | None, now: datetime
    ) -> ReferralStatusChanged:
        """What the care system is told of a change of status: how a completed referral
        ended only if the citizen consented to share it."""
        outcome, ucla3, who5 = self.shared_outcome()
        return ReferralStatusChanged(
            **self._care_fields(),
            status=self.status.value,
            previous_status=previous.value if previous else None,
            reason=reason,
            changed_at=now,
            outcome=outcome.value if outcome else None,
            ucla3_change=published(ucla3),
            who5_change=published(who5),
        )

    def _follow_up_deadlines(self) -> list[Deadline]:
        """Each follow-up's falling due, then while unanswered its reminder and its
        escalation; only while an organisation holds the referral."""
        deadlines: list[Deadline] = []
        if self.status in HELD:
            for follow_up in self.follow_ups:
                if follow_up.fell_due_at is None:
                    deadlines.append(Deadline(FOLLOW_UP_DUE, follow_up.id, follow_up.due_at))
                elif not follow_up.missing(self.wellbeing_expected):
                    continue
                elif follow_up.reminded_at is None:
                    deadlines.append(
                        Deadline(FOLLOW_UP_REMINDER, follow_up.id, follow_up.remind_at)
                    )
                elif follow_up.escalated_at is None:
                    deadlines.append(
                        Deadline(FOLLOW_UP_ESCALATION, follow_up.id, follow_up.escalation_due_at)
                    )
        return deadlines

    def _act_on_follow_up(self, kind: str, key: UUID, now: datetime) -> bool:
        follow_up = next((f for f in self.follow_ups if f.id == key), None)
        if follow_up is None or self.status not in HELD or self.consent.withdrawal:
            return False
        offer = self.accepted_offer
        assert offer is not None  # held
        if kind == FOLLOW_UP_DUE:
            return follow_up.fell_due_at is None and self._fall_due(offer, follow_up, now)
        missing = [part.value for part in follow_up.missing(self.wellbeing_expected)]
        if not missing or follow_up.fell_due_at is None:
            return False
        fields = {
            **self._held_fields(offer),
            "follow_up": follow_up.number,
            "due_at": follow_up.due_at,
            "waiting_for": missing,
        }
        if kind == FOLLOW_UP_REMINDER:
            if follow_up.reminded_at is not None or follow_up.remind_at > now:
                return False
            follow_up.reminded_at = now
            self._note("follow_up_reminded", CLOCK, now, follow_up.number)
            self.events.append(FollowUpOverdue(**fields))
            return True
        if kind == FOLLOW_UP_ESCALATION:
            if (
                follow_up.reminded_at is None
                or follow_up.escalated_at is not None
                or follow_up.escalation_due_at > now
            ):
                return False
            follow_up.escalated_at = now
            self._note("follow_up_escalated", CLOCK, now, follow_up.number)
            self.events.append(FollowUpEscalated(**fields, district=self.district))
            return True
        return False
