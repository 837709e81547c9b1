"""HTTP API of referrals: care systems submit and follow referrals."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Request, Response, status
from pydantic import BaseModel, Field

from referrals import services
from referrals.domain import InvalidPersonalNumber, Referral, ReferralStatus
from runtime.auth import Principal, Role, require
from runtime.idempotency import IdempotencyConflict
from runtime.problems import Problem

router = APIRouter(prefix="/referrals", tags=["referrals"])

Interest = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[\w -]+$")]
Language = Annotated[str, Field(pattern=r"^[a-z]{2}$", description="ISO 639-1 code, e.g. 'da'.")]


class CitizenCreate(BaseModel):
    personal_number: str = Field(
        pattern=r"^\d{6}-?\d{4}$", description="CPR number, DDMMYY-SSSS.", examples=["0101401234"]
    )
    name: str = Field(min_length=1, max_length=200)
    address: str | None = Field(default=None, max_length=300)
    phone: str | None = Field(default=None, max_length=30)


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
    district: str = Field(min_length=1, max_length=100, examples=["Nørrebro"])
    interests: list[Interest] = Field(min_length=1, max_length=20, examples=[["walking"]])
    languages: list[Language] = Field(min_length=1, max_length=10, examples=[["da"]])
    needs: list[Interest] = Field(default_factory=list, max_length=20)
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


def _uow(request: Request) -> services.UnitOfWorkFactory:
    factory: services.UnitOfWorkFactory = request.app.state.uow
    return factory


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
    idempotency_key: Annotated[
        str | None,
        Header(max_length=200, description="Retries with the same key return the same referral."),
    ] = None,
) -> ReferralPublic:
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
        referral, created = services.submit_referral(
            command, _uow(request), request.app.state.vault
        )
    except InvalidPersonalNumber as error:
        raise Problem(422, f"citizen.personal_number: {error}.") from error
    except IdempotencyConflict as error:
        raise Problem(409, f"{error}.") from error
    response.headers["Location"] = f"/referrals/{referral.id}"
    if not created:
        response.status_code = status.HTTP_200_OK
    return ReferralPublic.of(referral)


@router.get("/{referral_id}", summary="Read a referral's status")
def get_referral(
    referral_id: UUID,
    request: Request,
    principal: Annotated[Principal, Depends(require(Role.CARE_SYSTEM, Role.OPERATOR))],
) -> ReferralPublic:
    try:
        referral = services.get_referral(referral_id, _uow(request))
    except services.ReferralNotFound as error:
        raise Problem(404, f"There is no referral {referral_id}.") from error
    if principal.role is Role.CARE_SYSTEM and referral.submitted_by != principal.subject:
        # Not 403: another care system's referral must not even be confirmed to exist.
        raise Problem(404, f"There is no referral {referral_id}.")
    return ReferralPublic.of(referral)
