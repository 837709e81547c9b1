"""Partners answer the referrals offered to their organisation and report how they go."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from referrals import services
from referrals.api.models import (
    NOT_CONVERTED,
    FollowUpNumber,
    Lifecycle,
    Limit,
    Offset,
    Page,
    PartnerReferralPublic,
    PartnerStatus,
    ReasonedInput,
    StartUow,
    actor_of,
    refusals,
    responses,
)
from referrals.api.outcomes import ParticipationCreate
from referrals.domain import Accompaniment, Actor, DeclineReason, FailReason, HoldReason, Referral
from runtime.auth import Principal, Role, require
from runtime.http import Day, InputModel, LongText
from runtime.openapi import rules

router = APIRouter(prefix="/partner/referrals", tags=["partners"])

Partner = Annotated[Principal, Depends(require(Role.PARTNER))]

DAY_RULE = (
    "The day is not in the future (on the Copenhagen calendar) and not before the day the "
    "referral was accepted; a first meeting is not before the day contact was made."
)


class DeclineCreate(ReasonedInput):
    reason: DeclineReason


class ContactMadeCreate(InputModel):
    contacted_on: Day = Field(description="The day the citizen was reached.")


class FirstMeetingCreate(InputModel):
    met_on: Day = Field(description="The day the citizen first came.")
    accompanied_by: Accompaniment = Field(description="Who came along with the citizen.")


class HoldCreate(ReasonedInput):
    reason: HoldReason


class CompleteCreate(InputModel):
    outcome_note: LongText | None = Field(
        default=None, description="How it went, in words; stays in referrals."
    )


class FailCreate(ReasonedInput):
    reason: FailReason


class NotePublic(BaseModel):
    """The care worker's words to the partner: personal data, shown only to the
    organisation that accepted, while it holds the referral."""

    note: str | None = Field(description="Null when the care worker wrote none.")


class ContactPublic(BaseModel):
    """How to reach the citizen: personal data, shown only to the organisation that
    accepted, and only with the citizen's consent."""

    name: str
    phone: str | None
    address: str | None


PERSONAL_DATA_READ = {**responses(403, 404, 410), **NOT_CONVERTED}


def _organization(principal: Principal) -> UUID:
    assert principal.organization_id is not None  # a partner token always names it
    return principal.organization_id


@router.get("", summary="List the referrals offered to the organisation")
def list_referrals(
    principal: Partner,
    start_uow: StartUow,
    status: Annotated[PartnerStatus | None, Query(description="Only this status.")] = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[PartnerReferralPublic]:
    """Every referral ever offered to the token's organisation, the newest offer first."""
    actor = actor_of(principal)
    found, total = services.partner_referrals(
        actor, status.value if status else None, offset, limit, start_uow
    )
    organization = _organization(principal)
    return Page[PartnerReferralPublic](
        data=[PartnerReferralPublic.of(r, organization) for r in found],
        total=total,
        offset=offset,
        limit=limit,
    )


@router.get(
    "/{referral_id}",
    summary="Read a referral offered to the organisation",
    responses=responses(404, 410),
)
def get_referral(
    referral_id: UUID, principal: Partner, start_uow: StartUow
) -> PartnerReferralPublic:
    """404 for a referral never offered to the token's organisation."""
    with refusals(referral_id):
        referral = services.get_referral(referral_id, actor_of(principal), start_uow)
    return PartnerReferralPublic.of(referral, _organization(principal))


@router.get(
    "/{referral_id}/contact",
    summary="Read how to reach the citizen",
    responses=PERSONAL_DATA_READ,
)
def get_contact(
    referral_id: UUID, request: Request, principal: Partner, lifecycle: Lifecycle
) -> ContactPublic:
    """Only for the organisation that accepted the referral, while it holds it (accepted,
    in progress or on hold), and only if the citizen consented to share contact details
    and has not withdrawn that consent: 403 otherwise. 409 for a referral stored before
    per-citizen keys and not converted yet. Every read is written to the audit log."""
    with refusals(referral_id):
        identity = services.contact_details(
            referral_id, actor_of(principal), lifecycle, request.app.state.vault
        )
    return ContactPublic(name=identity.name, phone=identity.phone, address=identity.address)


@router.get(
    "/{referral_id}/note",
    summary="Read the care worker's note",
    responses=PERSONAL_DATA_READ,
)
def get_note(
    referral_id: UUID, request: Request, principal: Partner, lifecycle: Lifecycle
) -> NotePublic:
    """Only for the organisation that accepted the referral, while it holds it (accepted,
    in progress or on hold), and while the citizen has not withdrawn consent: 403
    otherwise. 409 for a referral stored before per-citizen keys and not converted yet.
    Every read is written to the audit log."""
    with refusals(referral_id):
        text = services.note(referral_id, actor_of(principal), lifecycle, request.app.state.vault)
    return NotePublic(note=text)


def _step(
    referral_id: UUID,
    principal: Principal,
    use_case: Callable[[Actor], Referral],
) -> PartnerReferralPublic:
    with refusals(referral_id):
        referral = use_case(actor_of(principal))
    return PartnerReferralPublic.of(referral, _organization(principal))


STEP = responses(403, 404, 409, 410)


@router.post("/{referral_id}/accept", summary="Accept the offer", responses=STEP)
def accept(referral_id: UUID, principal: Partner, lifecycle: Lifecycle) -> PartnerReferralPublic:
    """The organisation the referral is offered to takes it on and will contact the citizen.
    One free place of the service is taken."""
    return _step(
        referral_id, principal, lambda actor: services.accept_offer(referral_id, actor, lifecycle)
    )


@router.post("/{referral_id}/decline", summary="Decline the offer", responses=STEP)
def decline(
    referral_id: UUID, body: DeclineCreate, principal: Partner, lifecycle: Lifecycle
) -> PartnerReferralPublic:
    """The referral moves on to the next candidate, or to the operators when none is left.
    The reason `other` needs a text."""
    command = services.DeclineOffer(body.reason, body.text)
    return _step(
        referral_id,
        principal,
        lambda actor: services.decline_offer(referral_id, command, actor, lifecycle),
    )


class VolunteerCreate(InputModel):
    volunteer_id: UUID = Field(
        description="The volunteer who will meet the citizen, as registered in notifications "
        "(`/partner/volunteers`); notifications tells them."
    )


@router.post(
    "/{referral_id}/volunteer",
    summary="Name the volunteer who will meet the citizen",
    responses=STEP,
)
def name_volunteer(
    referral_id: UUID, body: VolunteerCreate, principal: Partner, lifecycle: Lifecycle
) -> PartnerReferralPublic:
    """While the organisation holds the referral (accepted, in progress, on hold): the
    visiting friend or walking buddy who will meet the citizen is told, with what they need to
    prepare and no more. Naming another replaces them; the same again changes nothing."""
    command = services.NameVolunteer(body.volunteer_id)
    return _step(
        referral_id,
        principal,
        lambda actor: services.name_volunteer(referral_id, command, actor, lifecycle),
    )


@router.post(
    "/{referral_id}/contact-made",
    summary="Record that the citizen was reached",
    responses={**STEP, **rules(DAY_RULE)},
)
def contact_made(
    referral_id: UUID, body: ContactMadeCreate, principal: Partner, lifecycle: Lifecycle
) -> PartnerReferralPublic:
    """While accepted, before the first meeting; the status stays `accepted`."""
    return _step(
        referral_id,
        principal,
        lambda actor: services.record_contact(referral_id, body.contacted_on, actor, lifecycle),
    )


@router.post(
    "/{referral_id}/first-meeting",
    summary="Record the first meeting",
    responses={**STEP, **rules(DAY_RULE)},
)
def first_meeting(
    referral_id: UUID, body: FirstMeetingCreate, principal: Partner, lifecycle: Lifecycle
) -> PartnerReferralPublic:
    """The citizen came: the referral is `in_progress`."""
    command = services.RecordFirstMeeting(body.met_on, body.accompanied_by)
    return _step(
        referral_id,
        principal,
        lambda actor: services.record_first_meeting(referral_id, command, actor, lifecycle),
    )


@router.post("/{referral_id}/hold", summary="Put the referral on hold", responses=STEP)
def hold(
    referral_id: UUID, body: HoldCreate, principal: Partner, lifecycle: Lifecycle
) -> PartnerReferralPublic:
    """From `in_progress`; the reason `other` needs a text."""
    command = services.PutOnHold(body.reason, body.text)
    return _step(
        referral_id,
        principal,
        lambda actor: services.put_on_hold(referral_id, command, actor, lifecycle),
    )


@router.post("/{referral_id}/resume", summary="Resume a referral on hold", responses=STEP)
def resume(referral_id: UUID, principal: Partner, lifecycle: Lifecycle) -> PartnerReferralPublic:
    """From `on_hold` back to `in_progress`."""
    return _step(
        referral_id, principal, lambda actor: services.resume(referral_id, actor, lifecycle)
    )


@router.post("/{referral_id}/complete", summary="Complete the referral", responses=STEP)
def complete(
    referral_id: UUID, body: CompleteCreate, principal: Partner, lifecycle: Lifecycle
) -> PartnerReferralPublic:
    """From `accepted`, `in_progress` or `on_hold`. The place is given back."""
    return _step(
        referral_id,
        principal,
        lambda actor: services.complete(referral_id, body.outcome_note, actor, lifecycle),
    )


@router.post("/{referral_id}/fail", summary="Close the referral as failed", responses=STEP)
def fail(
    referral_id: UUID, body: FailCreate, principal: Partner, lifecycle: Lifecycle
) -> PartnerReferralPublic:
    """From `accepted`, `in_progress` or `on_hold`; the reason `other` needs a text. The
    place is given back."""
    command = services.FailReferral(body.reason, body.text)
    return _step(
        referral_id, principal, lambda actor: services.fail(referral_id, command, actor, lifecycle)
    )


@router.post(
    "/{referral_id}/follow-ups/{number}",
    summary="Report the citizen's participation at a follow-up",
    responses={
        **STEP,
        404: {
            "description": "There is no referral with this id offered to the organisation, "
            "or it has no follow-up of this number (follow-ups are scheduled at the first "
            "meeting)."
        },
        409: {
            "description": "The follow-up is not due yet, was reported already with another "
            "report, or the referral is no longer held (or changed at the same moment); "
            "nothing changed."
        },
    },
)
def record_participation(
    referral_id: UUID,
    number: FollowUpNumber,
    body: ParticipationCreate,
    principal: Partner,
    lifecycle: Lifecycle,
) -> PartnerReferralPublic:
    """Whether the citizen still takes part, at follow-up `number`, once it is due; by the
    organisation that accepted the referral. Sending the same report again changes nothing.
    The last answer of the last follow-up completes the referral with its outcome."""
    command = services.RecordParticipation(number, body.participation())
    return _step(
        referral_id,
        principal,
        lambda actor: services.record_participation(referral_id, command, actor, lifecycle),
    )
