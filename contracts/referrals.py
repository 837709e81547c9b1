"""Events owned by the referrals service. Topic `referrals.referral.v1`, keyed by referral id,
so that one referral's events stay in order.

None of them carries the citizen's identity or any free text written about the citizen:
only the pseudonymous reference and coded categories. Reason codes that could say
something about the citizen's health (why a referral was put on hold, failed or was
cancelled) stay inside referrals too; the events say only that it happened.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from contracts.base import REVERSE_DOMAIN, IntegrationEvent

TOPIC = "referrals.referral.v1"

AgeBand = Literal["65-69", "70-74", "75-79", "80-84", "85-89", "90+"]
DeclineReason = Literal[
    "no_capacity", "not_suitable", "no_volunteer_available", "citizen_unreachable", "other"
]
WithdrawalReason = Literal["cancelled", "reassigned"]
EscalationReason = Literal[
    "no_match", "all_declined", "all_expired", "declined_or_expired", "none_available"
]
TimeOfDay = Literal["morning", "afternoon", "evening"]
Outcome = Literal["participating", "stopped", "never_started"]
FollowUpPart = Literal["participation", "wellbeing"]
Accompaniment = Literal["nobody", "home_care_staff", "volunteer", "relative"]
CancelledBy = Literal["care_system", "operator"]
ReferralState = Literal[
    "submitted",
    "offered",
    "accepted",
    "in_progress",
    "on_hold",
    "completed",
    "failed",
    "cancelled",
    "escalated",
]


def _type(verb: str) -> str:
    return f"{REVERSE_DOMAIN}.referrals.referral.{verb}.v1"


class ReferralEvent(IntegrationEvent):
    """Something that happened to one referral."""

    topic = TOPIC
    key_field = "referral_id"

    referral_id: UUID = Field(description="The referral's id, also the Kafka key.")


class ReferralSubmitted(ReferralEvent):
    """A care system referred a citizen; directory should look for fitting activities."""

    event_type = _type("submitted")

    citizen_ref: str = Field(
        description="The referral's pseudonymous reference (`ref_` and 26 random characters; "
        "`cit_…` for referrals from before): random and one per referral, so that nothing "
        "links two referrals of one citizen or leads back to the citizen. Never the personal "
        "identity number."
    )
    age_band: AgeBand = Field(description="Five-year age band of the citizen.")
    district: str = Field(description="City district the citizen lives in, e.g. 'Nørrebro'.")
    interests: list[str] = Field(description="Interests in lower case, e.g. 'walking', 'chess'.")
    languages: list[str] = Field(description="Languages the citizen speaks, ISO 639-1 codes.")
    needs: list[str] = Field(
        default_factory=list,
        description="Support needs, e.g. 'wheelchair_access', 'hard_to_leave_home'.",
    )
    submitted_at: datetime = Field(description="When the care system submitted it.")
    needs_accompaniment: bool = Field(
        default=False, description="The citizen needs someone to come along the first time."
    )
    preferred_times: list[TimeOfDay] = Field(
        default_factory=list,
        description="When in the day the citizen would go; empty (and absent) means any time.",
    )


class OfferEvent(ReferralEvent):
    """Something that happened to one offer of a referral to one partner organisation."""

    offer_id: UUID = Field(description="The offer's id; a referral may be offered several times.")
    organization_id: UUID = Field(description="The partner organisation the offer went to.")
    service_id: UUID = Field(description="The directory service (activity) offered.")


class ReferralOffered(OfferEvent):
    """The referral was offered to one partner organisation, which may accept or decline."""

    event_type = _type("offered")

    citizen_ref: str = Field(
        description="The referral's pseudonymous reference, as in `referral.submitted`: random "
        "and one per referral."
    )
    age_band: AgeBand = Field(description="Five-year age band of the citizen.")
    district: str = Field(description="City district the citizen lives in.")
    interests: list[str] = Field(description="The citizen's interests.")
    languages: list[str] = Field(description="Languages the citizen speaks, ISO 639-1 codes.")
    needs: list[str] = Field(description="Support needs the partner should know of.")
    expires_at: datetime = Field(description="The offer lapses unanswered at this time.")
    needs_accompaniment: bool = Field(
        default=False, description="The citizen needs someone to come along the first time."
    )


class ReferralAccepted(OfferEvent):
    """The offered organisation accepted: it will contact the citizen. One place of the
    service is taken."""

    event_type = _type("accepted")

    accepted_at: datetime = Field(description="When the partner accepted.")


class OfferDeclined(OfferEvent):
    """The offered organisation declined; the referral moves on to the next candidate or
    is escalated (a `referral.offered` or `referral.escalated` event follows)."""

    event_type = _type("offer_declined")

    reason: DeclineReason = Field(description="Why the partner declined, as a code.")
    declined_at: datetime = Field(description="When the partner declined.")


class OfferExpired(OfferEvent):
    """The offered organisation did not answer in time; the referral moves on as after a
    decline."""

    event_type = _type("offer_expired")

    expired_at: datetime = Field(description="When the offer lapsed.")


class OfferWithdrawn(OfferEvent):
    """An open offer was taken back: the referral was cancelled or an operator assigned it
    elsewhere. The organisation should no longer act on it."""

    event_type = _type("offer_withdrawn")

    reason: WithdrawalReason = Field(description="Why the offer was taken back.")
    withdrawn_at: datetime = Field(description="When it was taken back.")


class ReferralAssigned(OfferEvent):
    """An operator assigned the referral to a service of their choosing; a
    `referral.offered` event for the new offer follows."""

    event_type = _type("assigned")

    assigned_at: datetime = Field(description="When the operator assigned it.")


class ReferralEscalated(ReferralEvent):
    """Nothing (more) can be offered: an operator has to find a community by hand."""

    event_type = _type("escalated")

    district: str = Field(description="City district the citizen lives in.")
    interests: list[str] = Field(description="The citizen's interests.")
    languages: list[str] = Field(description="Languages the citizen speaks, ISO 639-1 codes.")
    needs: list[str] = Field(description="The citizen's support needs.")
    reason: EscalationReason = Field(
        description="Why: `no_match` (nothing in the directory fits), `all_declined`, "
        "`all_expired`, `declined_or_expired` (every candidate declined or let the offer "
        "lapse), `none_available` (the remaining candidates closed or filled up)."
    )
    escalated_at: datetime = Field(description="When it was escalated.")


class AcceptedReferralEvent(ReferralEvent):
    """Something the accepting organisation recorded about a referral it took on."""

    organization_id: UUID = Field(description="The organisation that accepted the referral.")
    service_id: UUID = Field(description="The service (activity) the citizen was referred to.")


class ContactMade(AcceptedReferralEvent):
    """The accepting organisation reached the citizen."""

    event_type = _type("contact_made")

    contacted_on: date = Field(description="The day the citizen was reached.")


class FirstMeetingHeld(AcceptedReferralEvent):
    """The citizen came to the activity for the first time: the referral is in progress."""

    event_type = _type("first_meeting_held")

    met_on: date = Field(description="The day of the first meeting.")
    accompanied_by: Accompaniment = Field(description="Who came along with the citizen.")


class VolunteerNamed(AcceptedReferralEvent):
    """The accepting organisation named the volunteer who will meet the citizen (a visiting
    friend, a walking buddy): notifications tells that volunteer. Who the volunteer is stays
    in notifications, who the citizen is in referrals; this says only what the volunteer needs
    to know to prepare, and no more."""

    event_type = _type("volunteer_named")

    volunteer_id: UUID = Field(
        description="The volunteer, as the organisation registered them in notifications."
    )
    district: str = Field(description="City district the citizen lives in.")
    languages: list[str] = Field(description="Languages the citizen speaks, ISO 639-1 codes.")
    needs_accompaniment: bool = Field(
        description="The citizen needs someone to come along the first time."
    )
    preferred_times: list[TimeOfDay] = Field(
        description="When in the day the citizen would go; empty means any time."
    )
    named_at: datetime = Field(description="When the volunteer was named.")


class ReferralPutOnHold(AcceptedReferralEvent):
    """The citizen's participation is paused for a while."""

    event_type = _type("put_on_hold")

    held_at: datetime = Field(description="When it was put on hold.")


class ReferralResumed(AcceptedReferralEvent):
    """The citizen takes part again after a pause."""

    event_type = _type("resumed")

    resumed_at: datetime = Field(description="When it was resumed.")


class ReferralCompleted(AcceptedReferralEvent):
    """The referral reached its end: the organisation completed it, or the last follow-up
    was answered. The place it took is free again."""

    event_type = _type("completed")

    completed_at: datetime = Field(description="When it was completed.")
    outcome: Outcome | None = Field(
        default=None,
        description="How it ended, from the partner's follow-up reports: `participating` "
        "(still taking part, or on a break, at the last follow-up), `stopped` (took part, "
        "then stopped), `never_started` (never came again after the first meeting); null "
        "when it was completed before any follow-up was answered.",
    )


class FollowUpDue(AcceptedReferralEvent):
    """A follow-up fell due: the partner is to report whether the citizen still takes part,
    and the care system, if the citizen consented to follow-up questions, how they are."""

    event_type = _type("follow_up_due")

    follow_up: int = Field(ge=1, description="Which follow-up, counted from the first meeting.")
    due_at: datetime = Field(description="When it fell due.")
    wellbeing_expected: bool = Field(
        description="The care system is to record the citizen's answers (UCLA-3, WHO-5): "
        "the citizen consented to follow-up questions."
    )


class FollowUpRecorded(AcceptedReferralEvent):
    """One part of a follow-up was answered. What was answered stays in referrals."""

    event_type = _type("follow_up_recorded")

    follow_up: int = Field(ge=1, description="Which follow-up.")
    part: FollowUpPart = Field(
        description="`participation` (the partner) or `wellbeing` (the care system)."
    )
    recorded_at: datetime = Field(description="When it was recorded.")


class FollowUpOverdue(AcceptedReferralEvent):
    """A follow-up is still not answered some time after it fell due: those it waits for
    are reminded, once."""

    event_type = _type("follow_up_overdue")

    follow_up: int = Field(ge=1, description="Which follow-up.")
    due_at: datetime = Field(description="When it fell due.")
    waiting_for: list[FollowUpPart] = Field(min_length=1, description="The parts not answered yet.")


class FollowUpEscalated(AcceptedReferralEvent):
    """A follow-up is still not answered after the reminder: operators should step in."""

    event_type = _type("follow_up_escalated")

    district: str = Field(description="City district the citizen lives in.")
    follow_up: int = Field(ge=1, description="Which follow-up.")
    due_at: datetime = Field(description="When it fell due.")
    waiting_for: list[FollowUpPart] = Field(min_length=1, description="The parts not answered yet.")


class ReferralFailed(AcceptedReferralEvent):
    """The referral ended without reaching its goal. The place it took is free again."""

    event_type = _type("failed")

    failed_at: datetime = Field(description="When the organisation closed it as failed.")


class ReferralCancelled(ReferralEvent):
    """The care system or an operator called the referral off. An open offer is withdrawn
    (a `referral.offer_withdrawn` event comes first); a place taken is free again."""

    event_type = _type("cancelled")

    cancelled_by: CancelledBy = Field(description="Who cancelled it.")
    previous_status: ReferralState = Field(description="The referral's status before.")
    organization_id: UUID | None = Field(
        default=None,
        description="The organisation that held the referral (had accepted it), if any.",
    )
    service_id: UUID | None = Field(
        default=None, description="The service of that organisation, if any."
    )
    cancelled_at: datetime = Field(description="When it was cancelled.")


class ConsentWithdrawn(ReferralEvent):
    """The citizen withdrew consent: the referral is cancelled (a `referral.cancelled` event
    comes first), and every organisation it was offered to should delete what it holds about
    it."""

    event_type = _type("consent_withdrawn")

    organization_ids: list[UUID] = Field(
        description="Every organisation the referral was offered to: each should delete what "
        "it holds about the referral."
    )
    withdrawn_at: datetime = Field(description="When consent was withdrawn.")


class ReferralErased(ReferralEvent):
    """The citizen's data was erased (GDPR art. 17): the referral no longer exists anywhere.
    Every service deletes what it holds about it, and every organisation it was offered to is
    told to do the same."""

    event_type = _type("erased")

    organization_ids: list[UUID] = Field(
        description="Every organisation the referral was offered to: each must delete what it "
        "holds about the referral."
    )
    erased_at: datetime = Field(description="When it was erased.")


# --- referrals.status.v1: for care systems' own consumers -------------------------------

STATUS_TOPIC = "referrals.status.v1"


def _status_type(verb: str) -> str:
    return f"{REVERSE_DOMAIN}.referrals.status.{verb}.v1"


class CareSystemEvent(IntegrationEvent):
    """What a care system is told about one of its referrals, on `referrals.status.v1`,
    keyed by referral id. Never the citizen's identity; reason codes and, with the citizen's
    consent, outcome scores: the topic is for the care systems that submitted the referrals,
    which know the citizen."""

    topic = STATUS_TOPIC
    key_field = "referral_id"

    referral_id: UUID = Field(description="The referral's id, also the Kafka key.")
    care_system: str = Field(
        description="The care system that submitted the referral (its token's subject): a "
        "consumer keeps the events of its own referrals."
    )
    care_record_reference: str | None = Field(
        description="The care system's own reference for the referral, given at intake."
    )


class ScoreChangePublic(BaseModel):
    """One instrument's total at intake and at the last follow-up that asked it."""

    model_config = ConfigDict(frozen=True)

    baseline: int = Field(description="The total at intake.")
    last: int = Field(description="The total at the last follow-up that asked it.")
    change: int = Field(description="`last` minus `baseline`.")


class ReferralStatusChanged(CareSystemEvent):
    """The referral's status changed: one event per change, in order."""

    event_type = _status_type("changed")

    status: ReferralState = Field(description="The new status.")
    previous_status: ReferralState | None = Field(
        description="The status before; null for the submission."
    )
    reason: str | None = Field(
        description="The reason code, where the step has one (e.g. why it was escalated, "
        "put on hold, failed or cancelled)."
    )
    changed_at: datetime = Field(description="When it changed.")
    outcome: Outcome | None = Field(
        default=None,
        description="For a completed referral that was followed up, and only if the citizen "
        "consented to share how it went with the care system: how it ended.",
    )
    ucla3_change: ScoreChangePublic | None = Field(
        default=None,
        description="As `outcome`: the UCLA-3 loneliness total (3-9, lower is better) at "
        "intake and at the last follow-up, if both were answered.",
    )
    who5_change: ScoreChangePublic | None = Field(
        default=None,
        description="As `outcome`: the WHO-5 well-being index (0-100, higher is better) at "
        "intake and at the last follow-up, if both were answered.",
    )


class CareFollowUpDue(CareSystemEvent):
    """A follow-up of the referral fell due; if the citizen consented to follow-up
    questions, the care system is to record their answers
    (`POST /referrals/{id}/follow-ups/{n}`)."""

    event_type = _status_type("follow_up_due")

    follow_up: int = Field(ge=1, description="Which follow-up, counted from the first meeting.")
    due_at: datetime = Field(description="When it fell due.")
    wellbeing_expected: bool = Field(
        description="The citizen consented to follow-up questions: their answers are asked."
    )
