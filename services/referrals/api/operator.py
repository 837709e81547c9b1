"""Operators (the city's bridge builders) take over what nothing in the directory fits."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from referrals import services
from referrals.api.models import (
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
from runtime.auth import Principal, Role, require
from runtime.http import InputModel, LongText, ShortText
from runtime.openapi import rules

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
        data=[ReferralPublic.of(r) for r in found], total=total, offset=offset, limit=limit
    )


@router.post(
    "/referrals/{referral_id}/assign",
    tags=["referrals"],
    summary="Assign a referral to a service",
    responses={**responses(404, 409), **rules(ASSIGN_RULE)},
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
            services.assign(referral_id, command, actor_of(principal), lifecycle)
        )
