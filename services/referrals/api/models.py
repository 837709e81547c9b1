"""What the referrals API shows and shares among its routers: public models, the actor a
token stands for, and the answer each refusal gets."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Generic, Self, TypeVar
from uuid import UUID

from fastapi import Depends, Path, Query, Request
from pydantic import BaseModel, Field, model_validator

from contracts.referrals import AgeBand, TimeOfDay
from referrals import services
from referrals.api.outcomes import (
    FollowUpPublic,
    OutcomePublic,
    PartnerFollowUpPublic,
    ScoresPublic,
)
from referrals.domain import (
    HELD,
    Accompaniment,
    Action,
    Actor,
    Consent,
    ConsentMethod,
    ConsentWithdrawal,
    EscalationReason,
    Forbidden,
    InvalidAnswer,
    InvalidTransition,
    NoSuchFollowUp,
    OfferStatus,
    Party,
    Referral,
    ReferralStatus,
)
from referrals.domain.outcomes import published
from referrals.store import ConcurrentUpdate
from runtime.auth import Principal
from runtime.http import InputModel, LongText, unit_of_work_factory
from runtime.problems import Problem

StartUow = Annotated[services.UnitOfWorkFactory, Depends(unit_of_work_factory)]


def lifecycle(request: Request) -> services.Lifecycle:
    """The service's lifecycle settings (unit of work, offer TTL, clock), for `Depends`."""
    found: services.Lifecycle = request.app.state.lifecycle
    return found


Lifecycle = Annotated[services.Lifecycle, Depends(lifecycle)]

FollowUpNumber = Annotated[
    int, Path(ge=1, le=20, description="Which follow-up: 1 for the first after the first meeting.")
]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="How many to skip.")]
Limit = Annotated[int, Query(ge=1, le=200, description="At most this many.")]


def actor_of(principal: Principal) -> Actor:
    return Actor(Party(principal.role.value), principal.subject, principal.organization_id)


NOT_FOUND = "There is no referral {id}."
ERASED = (
    "The referral {id} was erased with its citizen's data (GDPR art. 17): nothing of it is "
    "kept but that it existed."
)

CPR = (
    r"^(?:(?:0[1-9]|1[0-9]|2[0-8])(?:0[1-9]|1[0-2])|(?:29|30)(?:0[13-9]|1[0-2])"
    r"|31(?:0[13578]|1[02])|2902)[0-9]{2}-?[0-9]{4}$"
)
"""DDMMYY-SSSS or ten digits, with a day the month has; only the leap year is left to a rule."""


@contextmanager
def refusals(referral_id: UUID) -> Iterator[None]:
    """Turn the domain's refusals into problem answers; none of them changed anything."""
    try:
        yield
    except services.ReferralNotFound as error:
        # Not 403: a referral the token may not see must not even be confirmed to exist.
        raise Problem(404, NOT_FOUND.format(id=referral_id)) from error
    except services.ReferralErased as error:
        raise Problem(410, ERASED.format(id=referral_id)) from error
    except (
        Forbidden,
        services.ContactNotShared,
        services.NoteNotShared,
        services.ConsentWasWithdrawn,
    ) as error:
        raise Problem(403, f"Not allowed: {error}.") from error
    except services.IdentityNotConverted as error:
        raise Problem(409, f"Not readable yet: {error}.") from error
    except InvalidTransition as error:
        raise Problem(409, f"Not now: {error}. Read the referral to see its status.") from error
    except ConcurrentUpdate as error:
        raise Problem(
            409, "The referral changed at the same moment; read it and try again."
        ) from error
    except InvalidAnswer as error:
        raise Problem(422, f"{str(error)[0].upper()}{str(error)[1:]}.") from error
    except NoSuchFollowUp as error:
        raise Problem(404, f"{str(error)[0].upper()}{str(error)[1:]}.") from error


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The answers a route declares itself besides what every route shares."""
    known: dict[int, str] = {
        403: "The token's role may not do this, or it is a partner of another organisation "
        "than the one the step belongs to.",
        404: "There is no referral with this id that the token may see.",
        409: "The referral is not in a state where this can happen (or changed at the same "
        "moment); nothing changed.",
        410: "The referral was erased with its citizen's data; only that it existed is kept.",
    }
    return {status: {"description": known[status]} for status in statuses}


NOT_CONVERTED: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "The referral was stored before per-citizen keys and is not converted "
        "yet: nothing of its citizen can be read until it is."
    }
}
"""The 409 of every read of a citizen's personal data."""


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    data: list[T]
    total: int = Field(ge=0, description="How many there are in all.")
    offset: int = Field(ge=0)
    limit: int = Field(ge=1)


class OfferPublic(BaseModel):
    id: UUID
    organization_id: UUID
    service_id: UUID
    status: OfferStatus
    offered_at: datetime
    expires_at: datetime = Field(description="The offer lapses unanswered at this time.")
    answered_at: datetime | None = Field(
        description="When it stopped being pending: accepted, declined, expired or withdrawn."
    )


class TransitionPublic(BaseModel):
    at: datetime
    action: str = Field(
        description="`submit`, `offer`, `escalate`, `follow_up_due`, `follow_up_reminded`, "
        "`follow_up_escalated`, or the action taken: `accept`, `decline`, `expire`, "
        "`contact_made`, `first_meeting`, `record_participation`, `record_wellbeing`, "
        "`hold`, `resume`, `complete`, `fail`, `cancel`, `assign`."
    )
    by: Party = Field(description="Who took it; `system` and `clock` are Brobygger itself.")
    from_status: ReferralStatus | None
    to_status: ReferralStatus
    reason: str | None = Field(description="The reason code given, if any.")
    text: str | None = Field(
        description="The text given with it, if any; the partner's words on completing it "
        "only where the referral's outcome is shown."
    )
    follow_up: int | None = Field(description="The follow-up the step was about, if any.")


class Escalation(BaseModel):
    reason: EscalationReason = Field(
        description="`no_match`: nothing in the directory fits; `all_declined`, "
        "`all_expired`, `declined_or_expired`: every candidate declined or let the offer "
        "lapse; `none_available`: the candidates not yet tried closed or filled up."
    )
    escalated_at: datetime


class WithdrawalPublic(BaseModel):
    """When and by whom the citizen's consent was withdrawn."""

    withdrawn_at: datetime
    by: Party = Field(description="Who entered it: `care_system` or `operator`.")
    subject: str = Field(description="The subject of the token that entered it.")
    recorded_by: str | None = Field(description="The care worker's id, if given.")
    how: ConsentMethod | None = Field(description="How the citizen said so, if given.")

    @classmethod
    def of(cls, withdrawal: ConsentWithdrawal) -> WithdrawalPublic:
        return cls(
            withdrawn_at=withdrawal.at,
            by=withdrawal.party,
            subject=withdrawal.subject,
            recorded_by=withdrawal.recorded_by,
            how=withdrawal.how,
        )


class ConsentPublic(BaseModel):
    """The consent recorded at intake. `given_on`, `recorded_by` and `how` are null for
    referrals submitted before they were recorded (and the last two if not given)."""

    referral: bool = Field(description="To be referred to a civil-society partner: always true.")
    share_contact_details: bool = Field(
        description="The accepting partner may read how to reach the citizen."
    )
    follow_up_questions: bool = Field(description="The citizen may be asked how they are.")
    share_outcome_with_care_system: bool = Field(
        description="The care system may learn how the referral went."
    )
    given_on: date | None
    recorded_by: str | None = Field(description="The care worker's id in the care system.")
    how: ConsentMethod | None
    withdrawal: WithdrawalPublic | None = Field(
        description="Set once the citizen withdrew consent: nothing of them is shared since."
    )

    @classmethod
    def of(cls, consent: Consent) -> ConsentPublic:
        return cls(
            referral=True,
            share_contact_details=consent.share_contact_details,
            follow_up_questions=consent.follow_up_questions,
            share_outcome_with_care_system=consent.share_outcome_with_care_system,
            given_on=consent.given_on,
            recorded_by=consent.recorded_by,
            how=consent.how,
            withdrawal=WithdrawalPublic.of(consent.withdrawal) if consent.withdrawal else None,
        )


CITIZEN_REF = (
    "The referral's pseudonymous reference: random, one per referral, so that nothing links "
    "two referrals of one citizen or leads back to the citizen."
)


class ReferralPublic(BaseModel):
    """A referral as its care system and operators see it; the identity stays inside. How
    it goes after the first meeting (the partner's reports, the outcome) the care system
    sees only if the citizen consented to share it."""

    id: UUID
    status: ReferralStatus
    care_record_reference: str | None = Field(
        description="The care system's own reference for the referral, given at intake."
    )
    citizen_ref: str = Field(description=CITIZEN_REF)
    age_band: AgeBand
    district: str
    interests: list[str]
    languages: list[str]
    needs: list[str]
    needs_accompaniment: bool
    preferred_times: list[TimeOfDay] = Field(
        description="When in the day the citizen would go; empty: any time."
    )
    consent: ConsentPublic
    submitted_at: datetime
    offered_organization_id: UUID | None = Field(
        description="The organisation the referral is offered to or accepted by now, if any."
    )
    escalation: Escalation | None = Field(description="Why it waits for an operator, if it does.")
    contact_made_on: date | None
    first_meeting_on: date | None
    accompanied_by: Accompaniment | None = Field(description="Who came to the first meeting.")
    baseline: ScoresPublic | None = Field(
        description="The citizen's answers at intake, if asked (with their consent)."
    )
    follow_ups: list[FollowUpPublic] = Field(
        description="Scheduled at the first meeting, in order."
    )
    outcome: OutcomePublic | None = Field(
        description="How it ended, once completed (for a care system: with the citizen's "
        "consent to share it)."
    )
    offers: list[OfferPublic]
    history: list[TransitionPublic] = Field(description="Every step, oldest first.")

    @classmethod
    def of(cls, referral: Referral, party: Party) -> ReferralPublic:
        current = referral.current_offer
        shared = party is not Party.CARE_SYSTEM or referral.outcome_shared
        ucla3, who5 = referral.score_changes()
        return cls(
            id=referral.id,
            status=referral.status,
            care_record_reference=referral.care_record_reference,
            citizen_ref=referral.citizen_ref,
            age_band=referral.age_band,
            district=referral.district,
            interests=referral.interests,
            languages=referral.languages,
            needs=referral.needs,
            needs_accompaniment=referral.needs_accompaniment,
            preferred_times=referral.preferred_times,
            consent=ConsentPublic.of(referral.consent),
            submitted_at=referral.submitted_at,
            offered_organization_id=current.organization_id if current else None,
            escalation=Escalation(
                reason=referral.escalation_reason, escalated_at=referral.escalated_at
            )
            if referral.escalation_reason and referral.escalated_at
            else None,
            contact_made_on=referral.contact_made_on,
            first_meeting_on=referral.first_meeting_on,
            accompanied_by=referral.accompanied_by,
            baseline=ScoresPublic.of(referral.baseline) if referral.baseline else None,
            follow_ups=[
                FollowUpPublic.shown(
                    f, referral.status in HELD, referral.wellbeing_expected, shared
                )
                for f in referral.follow_ups
            ],
            outcome=OutcomePublic(
                outcome=referral.outcome,
                ucla3_change=published(ucla3),
                who5_change=published(who5),
            )
            if shared and referral.status is ReferralStatus.COMPLETED
            else None,
            offers=[OfferPublic.model_validate(o, from_attributes=True) for o in referral.offers],
            history=[
                TransitionPublic(
                    at=t.at,
                    action=t.action,
                    by=t.party,
                    from_status=t.from_status,
                    to_status=t.to_status,
                    reason=t.reason,
                    # The partner's words on how it went are part of how it went.
                    text=t.text if shared or t.action != Action.COMPLETE.value else None,
                    follow_up=t.follow_up,
                )
                for t in referral.history
            ],
        )


class PartnerStatus(StrEnum):
    """A referral as one partner organisation sees it."""

    OFFERED = "offered"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


class PartnerReferralPublic(BaseModel):
    """What a partner needs to decide and to follow up, and nothing more: never the
    personal number; the contact details only from `/contact`, after accepting."""

    id: UUID
    status: PartnerStatus = Field(
        description="The referral's status while this organisation holds the offer or the "
        "referral; otherwise what became of its offer: `declined`, `expired` or "
        "`withdrawn` (the referral was cancelled or assigned elsewhere)."
    )
    citizen_ref: str = Field(description=CITIZEN_REF)
    age_band: AgeBand
    district: str
    interests: list[str]
    languages: list[str]
    needs: list[str]
    needs_accompaniment: bool = Field(
        description="The citizen needs someone to come along the first time."
    )
    contact_details_shared: bool = Field(
        description="The citizen consented to share contact details with the organisation "
        "that accepts."
    )
    offer: OfferPublic = Field(description="The latest offer to this organisation.")
    contact_made_on: date | None = Field(description="Only while this organisation holds it.")
    first_meeting_on: date | None = Field(description="Only while this organisation holds it.")
    accompanied_by: Accompaniment | None = Field(
        description="Only while this organisation holds it."
    )
    volunteer_id: UUID | None = Field(
        description="Only while this organisation holds it: the volunteer it named to meet "
        "the citizen."
    )
    follow_ups: list[PartnerFollowUpPublic] = Field(
        description="Only while this organisation holds it: each follow-up after the first "
        "meeting and the organisation's own report (`POST .../follow-ups/{n}`)."
    )

    @classmethod
    def of(cls, referral: Referral, organization_id: UUID) -> PartnerReferralPublic:
        offer = referral.latest_offer_to(organization_id)
        status = referral.status_for(organization_id)
        if offer is None or status is None:
            raise ValueError("the referral was never offered to this organisation")
        holds = offer.status in (OfferStatus.PENDING, OfferStatus.ACCEPTED)
        return cls(
            id=referral.id,
            status=PartnerStatus(status),
            citizen_ref=referral.citizen_ref,
            age_band=referral.age_band,
            district=referral.district,
            interests=referral.interests,
            languages=referral.languages,
            needs=referral.needs,
            needs_accompaniment=referral.needs_accompaniment,
            contact_details_shared=referral.consent.share_contact_details,
            offer=OfferPublic.model_validate(offer, from_attributes=True),
            contact_made_on=referral.contact_made_on if holds else None,
            first_meeting_on=referral.first_meeting_on if holds else None,
            accompanied_by=referral.accompanied_by if holds else None,
            volunteer_id=referral.volunteer_id if holds else None,
            follow_ups=[PartnerFollowUpPublic.of(f) for f in referral.follow_ups] if holds else [],
        )


def _text_required_for_other(schema: dict[str, Any]) -> None:
    schema["if"] = {"properties": {"reason": {"const": "other"}}, "required": ["reason"]}
    schema["then"] = {"required": ["text"], "properties": {"text": {"type": "string"}}}


class ReasonedInput(InputModel, json_schema_extra=_text_required_for_other):
    """A step with a reason code; the reason `other` needs a text saying what it is."""

    text: LongText | None = Field(
        default=None,
        description="In words; required when the reason is `other`. Stays in referrals: "
        "it is never sent to other services.",
    )

    @model_validator(mode="after")
    def _other_needs_text(self) -> Self:
        if getattr(self, "reason", None) == "other" and self.text is None:
            raise ValueError("the reason `other` needs a `text` saying what it is")
        return self
