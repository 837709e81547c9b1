"""Following the citizen up: the partner reports participation, the care system the
citizen's answers."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from referrals.domain import Actor, Participation, Referral, Scores
from referrals.services.common import Lifecycle, change


@dataclass(frozen=True)
class RecordParticipation:
    follow_up: int
    participation: Participation


def record_participation(
    referral_id: UUID, command: RecordParticipation, actor: Actor, lifecycle: Lifecycle
) -> Referral:
    """The last answer of the last follow-up completes the referral with its outcome."""
    return change(
        referral_id,
        actor,
        lifecycle,
        lambda r, _uow, now: r.record_participation(
            actor, command.follow_up, command.participation, now
        ),
    )


@dataclass(frozen=True)
class RecordWellbeing:
    follow_up: int
    scores: Scores


def record_wellbeing(
    referral_id: UUID, command: RecordWellbeing, actor: Actor, lifecycle: Lifecycle
) -> Referral:
    """Only with the citizen's consent to follow-up questions (`InvalidAnswer` otherwise)."""
    return change(
        referral_id,
        actor,
        lifecycle,
        lambda r, _uow, now: r.record_wellbeing(actor, command.follow_up, command.scores, now),
    )
