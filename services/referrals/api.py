"""HTTP API of referrals: care systems submit and follow referrals."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, Field, StringConstraints

from referrals import services
from referrals.domain import InvalidPersonalNumber, NotEligible, Referral, ReferralStatus
from runtime.auth import Principal, Role, require
from runtime.http import (
    IdempotencyKey,
    Keyword,
    LanguageCode,
    Name,
    ShortText,
    answer_created,
    unit_of_work_factory,
)
from runtime.idempotency import IdempotencyConflict
from runtime.problems import Problem

router = APIRouter(prefix="/referrals", tags=["referrals"])

StartUow = Annotated[services.UnitOfWorkFactory, Depends(unit_of_work_factory)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9 ]{6,20}$")]


class CitizenCreate(BaseModel):
    personal_number: str = Field(
        max_length=11,
        description="CPR number, DDMMYY-SSSS or ten digits; checked by the referral's rules.",
        examples=["0101401234"],
    )
    name: Name
    address: Name | None = None
    phone: Phone | None = None


class ConsentCreate(BaseModel):
    referral: bool = Field(
        description="The citizen agreed to be referred; a referral without it is refused."
    )
    share_contact_details: bool = Field(
        default=False, description="The citizen lets the accepting partner see how to reach them."
    )
    given_on: date


class ReferralCreate(BaseModel):
    citizen: CitizenCreate
    district: ShortText = Field(examples=["Nørrebro"])
    interests: list[Keyword] = Field(min_length=1, max_length=20, examples=[["walking"]])
    languages: list[LanguageCode] = Field(min_length=1, max_length=10, examples=[["da"]])
    needs: list[Keyword] = Field(
        default_factory=list, max_length=20, examples=[["wheelchair_access"]]
    )
    consent: ConsentCreate


class OfferPublic(BaseModel):
    id: UUID
    organization_id: UUID
    service_id: UUID
    status: str
    offered_at: datetime
    expires_at: datetime


class ReferralPublic(BaseModel):
    """A referral as its care system sees it; the identity stays inside the service."""

    id: UUID
    status: ReferralStatus
    citizen_ref: str
    age_band: str
    district: str
    interests: list[str]
    languages: list[str]
    needs: list[str]
    submitted_at: datetime
    offered_organization_id: UUID | None = Field(
        description="The organisation the referral is offered to now, if any."
    )
    offers: list[OfferPublic]

    @classmethod
    def of(cls, referral: Referral) -> ReferralPublic:
        current = referral.current_offer
        return cls(
            id=referral.id,
            status=referral.status,
            citizen_ref=referral.citizen_ref,
            age_band=referral.age_band,
            district=referral.district,
            interests=referral.interests,
            languages=referral.languages,
            needs=referral.needs,
            submitted_at=referral.submitted_at,
            offered_organization_id=current.organization_id if current else None,
            offers=[OfferPublic.model_validate(o, from_attributes=True) for o in referral.offers],
        )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Submit a referral",
    responses={200: {"description": "A retry with the same Idempotency-Key: the first referral"}},
)
def submit_referral(
    body: ReferralCreate,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(require(Role.CARE_SYSTEM))],
    start_uow: StartUow,
    idempotency_key: IdempotencyKey = None,
) -> ReferralPublic:
    """A care system that retries must not create a second referral, so every submission
    names itself with an `Idempotency-Key` (e.g. the care record's id for this referral)."""
    if idempotency_key is None:
        raise Problem(
            400,
            "The Idempotency-Key header is required: send a key unique to this referral, "
            "and the same key when retrying.",
        )
    if not body.consent.referral:
        raise Problem(422, "The citizen's consent to the referral is required.")
    command = services.SubmitReferral(
        submitted_by=principal.subject,
        personal_number=body.citizen.personal_number,
        name=body.citizen.name,
        address=body.citizen.address,
        phone=body.citizen.phone,
        district=body.district,
        interests=body.interests,
        languages=body.languages,
        needs=body.needs,
        share_contact_details=body.consent.share_contact_details,
        idempotency_key=idempotency_key,
    )
    try:
        referral, created = services.submit_referral(command, start_uow, request.app.state.vault)
    except InvalidPersonalNumber as error:
        raise Problem(422, f"citizen.personal_number: {error}.") from error
    except NotEligible as error:
        raise Problem(422, f"{error}.") from error
    except IdempotencyConflict as error:
        raise Problem(409, f"{error}.") from error
    answer_created(response, f"/referrals/{referral.id}", created)
    return ReferralPublic.of(referral)


@router.get("/{referral_id}", summary="Read a referral's status")
def get_referral(
    referral_id: UUID,
    start_uow: StartUow,
    principal: Annotated[Principal, Depends(require(Role.CARE_SYSTEM, Role.OPERATOR))],
) -> ReferralPublic:
    try:
        referral = services.get_referral(referral_id, start_uow)
    except services.ReferralNotFound as error:
        raise Problem(404, f"There is no referral {referral_id}.") from error
    if principal.role is Role.CARE_SYSTEM and referral.submitted_by != principal.subject:
        # Not 403: another care system's referral must not even be confirmed to exist.
        raise Problem(404, f"There is no referral {referral_id}.")
    return ReferralPublic.of(referral)
