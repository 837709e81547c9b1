"""Who may do what to a referral in which state: the transition table, after HL7 Gravity's
referral Task (SDOHCC TaskForReferralManagement). Rules only, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID


class ReferralStatus(StrEnum):
    SUBMITTED = "submitted"
    """Waiting for directory's candidates."""
    OFFERED = "offered"
    """Offered to one partner organisation, waiting for its answer."""
    ACCEPTED = "accepted"
    """The organisation took it on and will contact the citizen."""
    IN_PROGRESS = "in_progress"
    """The citizen has met the community."""
    ON_HOLD = "on_hold"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ESCALATED = "escalated"
    """Nothing (more) can be offered: waiting for an operator."""


FINAL = frozenset({ReferralStatus.COMPLETED, ReferralStatus.FAILED, ReferralStatus.CANCELLED})
HELD = frozenset({ReferralStatus.ACCEPTED, ReferralStatus.IN_PROGRESS, ReferralStatus.ON_HOLD})
"""The states in which the accepting organisation holds the referral (and a place)."""


class Party(StrEnum):
    """Who acts on a referral."""

    CARE_SYSTEM = "care_system"
    PARTNER = "partner"
    OPERATOR = "operator"
    CLOCK = "clock"
    """The service's own scheduler, when a deadline passes."""
    SYSTEM = "system"
    """Brobygger itself, acting on directory's candidates."""


@dataclass(frozen=True)
class Actor:
    party: Party
    subject: str
    organization_id: UUID | None = None


CLOCK = Actor(Party.CLOCK, "scheduler")
SYSTEM = Actor(Party.SYSTEM, "matching")


class Action(StrEnum):
    ACCEPT = "accept"
    DECLINE = "decline"
    EXPIRE = "expire"
    RECORD_CONTACT = "contact_made"
    RECORD_FIRST_MEETING = "first_meeting"
    PUT_ON_HOLD = "hold"
    RESUME = "resume"
    COMPLETE = "complete"
    FAIL = "fail"
    CANCEL = "cancel"
    ASSIGN = "assign"
    NAME_VOLUNTEER = "name_volunteer"
    RECORD_PARTICIPATION = "record_participation"
    RECORD_WELLBEING = "record_wellbeing"
    WITHDRAW_CONSENT = "withdraw_consent"
    ERASE = "erase"


class Holder(StrEnum):
    """Which organisation a partner must belong to for an action."""

    NONE = "none"
    OFFERED = "offered"
    """The organisation of the pending offer."""
    ACCEPTING = "accepting"
    """The organisation that accepted."""


@dataclass(frozen=True)
class Rule:
    parties: frozenset[Party]
    from_states: frozenset[ReferralStatus]
    holder: Holder = Holder.NONE


S = ReferralStatus
RULES: Mapping[Action, Rule] = {
    Action.ACCEPT: Rule(frozenset({Party.PARTNER}), frozenset({S.OFFERED}), Holder.OFFERED),
    Action.DECLINE: Rule(frozenset({Party.PARTNER}), frozenset({S.OFFERED}), Holder.OFFERED),
    Action.EXPIRE: Rule(frozenset({Party.CLOCK}), frozenset({S.OFFERED})),
    Action.RECORD_CONTACT: Rule(
        frozenset({Party.PARTNER}), frozenset({S.ACCEPTED}), Holder.ACCEPTING
    ),
    Action.RECORD_FIRST_MEETING: Rule(
        frozenset({Party.PARTNER}), frozenset({S.ACCEPTED}), Holder.ACCEPTING
    ),
    Action.PUT_ON_HOLD: Rule(
        frozenset({Party.PARTNER}), frozenset({S.IN_PROGRESS}), Holder.ACCEPTING
    ),
    Action.RESUME: Rule(frozenset({Party.PARTNER}), frozenset({S.ON_HOLD}), Holder.ACCEPTING),
    Action.COMPLETE: Rule(frozenset({Party.PARTNER}), HELD, Holder.ACCEPTING),
    Action.FAIL: Rule(frozenset({Party.PARTNER}), HELD, Holder.ACCEPTING),
    Action.NAME_VOLUNTEER: Rule(frozenset({Party.PARTNER}), HELD, Holder.ACCEPTING),
    # Follow-ups are scheduled at the first meeting.
    Action.RECORD_PARTICIPATION: Rule(
        frozenset({Party.PARTNER}), frozenset({S.IN_PROGRESS, S.ON_HOLD}), Holder.ACCEPTING
    ),
    Action.RECORD_WELLBEING: Rule(
        frozenset({Party.CARE_SYSTEM}), frozenset({S.IN_PROGRESS, S.ON_HOLD})
    ),
    Action.CANCEL: Rule(
        frozenset({Party.CARE_SYSTEM, Party.OPERATOR}), frozenset(ReferralStatus) - FINAL
    ),
    Action.ASSIGN: Rule(frozenset({Party.OPERATOR}), frozenset({S.ESCALATED, S.OFFERED})),
    # In any state: a referral that ended still has organisations holding something of it.
    Action.WITHDRAW_CONSENT: Rule(
        frozenset({Party.CARE_SYSTEM, Party.OPERATOR}), frozenset(ReferralStatus)
    ),
    Action.ERASE: Rule(frozenset({Party.OPERATOR}), frozenset(ReferralStatus)),
}
"""The transition table: who may take each action, and from which states. Checked in this
order: the party (403), the organisation holding the referral or the care system that
submitted it (403), then the state (409)."""


class Forbidden(Exception):
    """This actor may not take this action on this referral."""


class InvalidTransition(Exception):
    """The referral is not in a state where this can happen."""


class InvalidAnswer(ValueError):
    """An answer contradicts itself or the referral, e.g. a meeting dated in the future."""


class NoSuchFollowUp(LookupError):
    """The referral has no follow-up of this number (yet)."""


@dataclass(frozen=True)
class Transition:
    """One step of the referral's history, as its care system and operators read it."""

    at: datetime
    action: str
    party: Party
    from_status: ReferralStatus | None
    to_status: ReferralStatus
    reason: str | None = None
    text: str | None = None
    """Free text given with the step; stays in referrals, never on Kafka."""
    follow_up: int | None = None
    """The follow-up the step was about, if any."""


def may_know(actor: Actor, submitted_by: str, offered_to: Iterable[UUID]) -> bool:
    """Whether `actor` may know that a referral exists: a partner if it was offered to its
    organisation, a care system if it submitted it, operators and Brobygger itself always."""
    if actor.party is Party.PARTNER:
        return actor.organization_id is not None and actor.organization_id in set(offered_to)
    if actor.party is Party.CARE_SYSTEM:
        return submitted_by == actor.subject
    return True


def check_party(action: Action, actor: Actor) -> Rule:
    rule = RULES[action]
    if actor.party not in rule.parties:
        raise Forbidden(f"a {actor.party} may not {action.value} a referral")
    return rule


def require_text(reason: StrEnum, text: str | None) -> None:
    if reason.value == "other" and not (text and text.strip()):
        raise InvalidAnswer("the reason `other` needs a text saying what it is")
