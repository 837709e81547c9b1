"""Operators (the city's bridge builders) take over what nothing in the directory fits, look
at a citizen's identity when they must say why, and erase a citizen's data."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from referrals import services
from referrals.api.models import (
    CPR,
    NOT_CONVERTED,
    Lifecycle,
    Limit,
    Offset,
    Page,
    ReferralPublic,
    StartUow,
    actor_of,
    refusals,
    responses,
)
from referrals.domain import ErasureBasis, IdentityPurpose, InvalidPersonalNumber, Party
from runtime.auth import Principal, Role, require
from runtime.http import InputModel, LongText, ShortText
from runtime.openapi import rules
from runtime.problems import Problem

router = APIRouter(tags=["operators"])

Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]

ASSIGN_RULE = (
    "`service_id` names a service directory has announced and that is not closed; a full "
    "one may be chosen."
)


class AssignCreate(InputModel):
    service_id: UUID = Field(description="The directory service to offer the referral to.")
    reason: LongText = Field(description="Why this service; stays in referrals.")


@router.get("/escalations", summary="List escalated referrals")
def list_escalations(
    start_uow: StartUow,
    _operator: Operator,
    district: Annotated[
        ShortText | None, Query(description="Only this district (any letter case).")
    ] = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[ReferralPublic]:
    """The referrals nothing (more) can be offered to, the longest waiting first, each with
    why: no match, all declined, all expired."""
    found, total = services.escalations(district, offset, limit, start_uow)
    return Page[ReferralPublic](
        data=[ReferralPublic.of(r, Party.OPERATOR) for r in found],
        total=total,
        offset=offset,
        limit=limit,
    )


@router.post(
    "/referrals/{referral_id}/assign",
    tags=["referrals"],
    summary="Assign a referral to a service",
    responses={**responses(404, 409, 410), **rules(ASSIGN_RULE)},
)
def assign_referral(
    referral_id: UUID, body: AssignCreate, principal: Operator, lifecycle: Lifecycle
) -> ReferralPublic:
    """An escalated referral, or one offered now, is offered to the named service's
    organisation; an open offer is withdrawn and its organisation told. 409 in any other
    state; 422 for a service directory never announced or has closed."""
    command = services.AssignReferral(body.service_id, body.reason)
    with refusals(referral_id):
        return ReferralPublic.of(
            services.assign(referral_id, command, actor_of(principal), lifecycle), Party.OPERATOR
        )


class CitizenPublic(BaseModel):
    """Who a referral is for: personal data, shown to operators only, each read audited."""

    personal_number: str = Field(description="The CPR number, ten digits.")
    name: str
    address: str | None
    phone: str | None


@router.get(
    "/referrals/{referral_id}/citizen",
    tags=["referrals"],
    summary="Read who the referral is for",
    responses={**responses(404, 410), **NOT_CONVERTED},
)
def get_citizen(
    referral_id: UUID,
    request: Request,
    principal: Operator,
    lifecycle: Lifecycle,
    purpose: Annotated[
        IdentityPurpose,
        Query(
            description="Why the operator looks: `escalation` (to find a community by hand), "
            "`care_system_query` (the care system asks), `citizen_request` (the citizen asks "
            "what is held, or for a correction), `erasure_check` (to be sure of whom before "
            "an erasure), `incident` (a complaint or a data-protection incident). Kept in "
            "the audit log."
        ),
    ],
) -> CitizenPublic:
    """The citizen's personal number, name, address and phone. Every read is written to
    the audit log: who, when, which referral, which fields, and the purpose given."""
    with refusals(referral_id):
        identity = services.citizen_identity(
            referral_id, purpose, actor_of(principal), lifecycle, request.app.state.vault
        )
    return CitizenPublic(
        personal_number=identity.personal_number,
        name=identity.name,
        address=identity.address,
        phone=identity.phone,
    )


LEAP_DAY_RULE = (
    "The personal number's birth date (DDMMYY, the century read from the seventh digit) is a "
    "29 February only in a leap year."
)


class ErasureCreate(InputModel):
    personal_number: str = Field(
        pattern=CPR,
        description="The citizen's CPR number, DDMMYY-SSSS or ten digits. " + LEAP_DAY_RULE,
        examples=["0101401234"],
    )
    legal_basis: ErasureBasis = Field(
        description="Why (GDPR art. 17(1)): `gdpr_art17_request` (the citizen asked), "
        "`consent_withdrawn`, `no_longer_necessary`, `unlawful_processing`, "
        "`legal_obligation`. Kept in the audit log."
    )
    text: LongText | None = Field(
        default=None,
        description="The operator's own words. Never stored: free text about an erasure is "
        "kept nowhere; the legal basis is what the audit log keeps.",
    )


class ErasurePublic(BaseModel):
    referral_ids: list[UUID] = Field(
        description="The citizen's referrals, erased: each answers 410 from now on."
    )
    erased_at: datetime


@router.post(
    "/citizens/erasure",
    tags=["citizens"],
    summary="Erase a citizen's data",
    responses={
        404: {"description": "No citizen with this personal number is known."},
        **rules(LEAP_DAY_RULE),
    },
)
def erase_citizen(
    body: ErasureCreate, request: Request, principal: Operator, lifecycle: Lifecycle
) -> ErasurePublic:
    """Everything of the citizen goes (GDPR art. 17): each referral not yet final is
    cancelled (an open offer withdrawn, a place given back), every service and every
    organisation it was offered to is told to delete what it holds about it, and the
    referrals are deleted, but for a tombstone that makes them answer 410. The citizen's
    data key is destroyed first, so what a backup holds of them cannot be decrypted any more;
    then the identity and the blind index are deleted. The audit log keeps who erased which
    referrals, when, and on what legal basis, never who the citizen was."""
    command = services.EraseCitizen(body.personal_number, body.legal_basis)
    try:
        done = services.erase_citizen(
            command, actor_of(principal), lifecycle, request.app.state.vault
        )
    except InvalidPersonalNumber as error:
        raise Problem(422, f"personal_number: {error}.") from error
    except services.CitizenNotFound as error:
        raise Problem(404, "No citizen with this personal number is known.") from error
    return ErasurePublic(referral_ids=done.referral_ids, erased_at=done.erased_at)
