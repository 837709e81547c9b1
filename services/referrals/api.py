"""HTTP API of referrals: care systems submit and follow referrals."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, Field, StrictBool, StringConstraints

from contracts.referrals import AgeBand
from referrals import services
from referrals.domain import (
    InvalidPersonalNumber,
    NotEligible,
    OfferStatus,
    Referral,
    ReferralStatus,
)
from runtime.auth import Principal, Role, require
from runtime.http import (
    JSON_BOOLEAN,
    Day,
    IdempotencyKey,
    InputModel,
    Keyword,
    LanguageCode,
    Name,
    ShortText,
    answer_created,
    unit_of_work_factory,
)
from runtime.idempotency import IdempotencyConflict
from runtime.openapi import created_responses, rules
from runtime.problems import Problem

router = APIRouter(prefix="/referrals", tags=["referrals"])

StartUow = Annotated[services.UnitOfWorkFactory, Depends(unit_of_work_factory)]
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9][0-9 ]{4,18}[0-9]$")]
"""Digits, spaces between them, an optional leading `+`; refused, not trimmed, when padded."""


CPR = (
    r"^(?:(?:0[1-9]|1[0-9]|2[0-8])(?:0[1-9]|1[0-2])|(?:29|30)(?:0[13-9]|1[0-2])"
    r"|31(?:0[13578]|1[02])|2902)[0-9]{2}-?[0-9]{4}$"
)
"""DDMMYY-SSSS or ten digits, with a day the month has; only the leap year is left to a rule."""
BIRTH_DATE_RULE = (
    "The personal number's birth date (DDMMYY, the century read from the seventh digit) "
    "is a 29 February only in a leap year, and is not in the future."
)
AGE_RULE = "The citizen is 65 or older today."


class CitizenCreate(InputModel):
    personal_number: str = Field(
        pattern=CPR,
        description="CPR number, DDMMYY-SSSS or ten digits. " + BIRTH_DATE_RULE,
        examples=["0101401234"],
    )
    name: Name
    address: Name | None = None
    phone: Phone | None = Field(default=None, examples=["+45 12 34 56 78"])


class ConsentCreate(InputModel):
    referral: Annotated[Literal[True], JSON_BOOLEAN] = Field(
        description="The citizen agreed to be referred: must be true."
    )
    share_contact_details: StrictBool = Field(
        default=False, description="The citizen lets the accepting partner see how to reach them."
    )
    given_on: Day = Field(description="The day the citizen gave this consent.")


class ReferralCreate(InputModel):
    citizen: CitizenCreate
    district: ShortText = Field(examples=["Nørrebro"])
    interests: list[Keyword] = Field(
        min_length=1,
        max_length=20,
        description="Stored in lower case, each once.",
        examples=[["walking"]],
    )
    languages: list[LanguageCode] = Field(
        min_length=1,
        max_length=10,
        description="ISO 639-1 codes, each stored once.",
        examples=[["da"]],
    )
    needs: list[Keyword] = Field(
        default_factory=list,
        max_length=20,
        description="Stored in lower case, each once.",
        examples=[["wheelchair_access"]],
    )
    consent: ConsentCreate


class OfferPublic(BaseModel):
    id: UUID
    organization_id: UUID
    service_id: UUID
    status: OfferStatus
    offered_at: datetime
    expires_at: datetime


class ReferralPublic(BaseModel):
    """A referral as its care system sees it; the identity stays inside the service."""

    id: UUID
    status: ReferralStatus
    citizen_ref: str
    age_band: AgeBand
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
    responses={
        **created_responses(ReferralPublic, "referral"),
        409: {"description": "The Idempotency-Key was used before with another body."},
        **rules(BIRTH_DATE_RULE, AGE_RULE),
    },
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
    names itself with an `Idempotency-Key` (e.g. the care record's id for this referral).

    Refused with 422: a personal number that holds no real birth date, or one in the future;
    a citizen under 65 today."""
    if idempotency_key is None:
        raise Problem(
            400,
            "The Idempotency-Key header is required: send a key unique to this referral, "
            "and the same key when retrying.",
        )
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


@router.get(
    "/{referral_id}",
    summary="Read a referral's status",
    responses={
        404: {
            "description": "There is no referral with this id, or another care system submitted it."
        }
    },
)
def get_referral(
    referral_id: UUID,
    start_uow: StartUow,
    principal: Annotated[Principal, Depends(require(Role.CARE_SYSTEM, Role.OPERATOR))],
) -> ReferralPublic:
    """A care system reads the referrals it submitted; an operator reads any."""
    try:
        referral = services.get_referral(referral_id, start_uow)
    except services.ReferralNotFound as error:
        raise Problem(404, f"There is no referral {referral_id}.") from error
    if principal.role is Role.CARE_SYSTEM and referral.submitted_by != principal.subject:
        # Not 403: another care system's referral must not even be confirmed to exist.
        raise Problem(404, f"There is no referral {referral_id}.")
    return ReferralPublic.of(referral)
