"""The grants awarded, for anyone to read without a token: as a list, and as one 360Giving
Data Standard package. What a grant publishes is who got how much from which pool, when
and for what; never the contact person, the reasons, the budget lines or the reviews."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from grants import services, threesixtygiving
from grants.api.applications import Limit, Offset
from grants.api.pools import AppClock, StartUow
from runtime.problems import Problem

router = APIRouter(prefix="/awards", tags=["awards"])


class RecipientPublic(BaseModel):
    organization_id: UUID
    name: str = Field(examples=["Sundby Sangkor"])


class ProgrammePublic(BaseModel):
    """The pool a grant came from: its grant programme."""

    id: UUID
    name: str = Field(examples=["Fællesskaber mod ensomhed 2026"])
    description: str


class AwardPublic(BaseModel):
    id: UUID = Field(description="The grant's id: the application it was awarded on.")
    recipient: RecipientPublic = Field(description="The organisation that received it.")
    amount_dkk: int = Field(gt=0, description="What was granted, in Danish kroner.")
    paid_dkk: int = Field(ge=0, description="What has been paid out of it so far.")
    pool: ProgrammePublic
    decided_on: date = Field(description="The day it was awarded, in Copenhagen's calendar.")
    purpose: str = Field(
        description="What it is for: the application's title.",
        examples=["Fællessang for ældre på Amager"],
    )

    @classmethod
    def of(cls, award: services.Award) -> AwardPublic:
        application, pool = award.application, award.pool
        return cls(
            id=application.id,
            recipient=RecipientPublic(
                organization_id=application.applicant.organization_id,
                name=application.applicant.name,
            ),
            amount_dkk=application.granted_dkk,
            paid_dkk=application.paid_dkk,
            pool=ProgrammePublic(id=pool.id, name=pool.name, description=pool.description),
            decided_on=services.decided_on(award),
            purpose=application.form.title,
        )


class AwardPage(BaseModel):
    data: list[AwardPublic]
    total: int = Field(ge=0, description="How many grants have been awarded in all.")
    offset: int = Field(ge=0)
    limit: int = Field(ge=1)


@router.get("", summary="List the grants awarded")
def list_awards(start_uow: StartUow, offset: Offset = 0, limit: Limit = 50) -> AwardPage:
    """Public: no token needed. Every grant awarded (approved or partly approved), the
    newest decision first."""
    found, total = services.list_awards(start_uow, offset, limit)
    return AwardPage(
        data=[AwardPublic.of(award) for award in found], total=total, offset=offset, limit=limit
    )


PACKAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A 360Giving Data Standard 1.4 package (the schemas are in "
    "contracts/standards/360giving/): `grants` holds every grant awarded, oldest first, "
    "each with its recipient organisation, funder (Copenhagen Municipality, DK-CVR-64942212) "
    "and grant programme (the pool).",
    "required": ["version", "grants"],
    "properties": {
        "version": {"type": "string", "const": threesixtygiving.VERSION},
        "issued": {"type": "string", "format": "date"},
        "modified": {"type": "string", "format": "date-time"},
        "publisher": {
            "type": "object",
            "required": ["name", "identifier"],
            "properties": {"name": {"type": "string"}, "identifier": {"type": "string"}},
        },
        "license": {"type": "string", "format": "uri"},
        "accessURL": {"type": "string", "format": "uri"},
        "downloadURL": {"type": "string", "format": "uri"},
        "grants": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": [
                    "id",
                    "title",
                    "description",
                    "currency",
                    "amountAwarded",
                    "awardDate",
                    "recipientOrganization",
                    "fundingOrganization",
                ],
                "properties": {
                    "id": {"type": "string", "pattern": f"^{threesixtygiving.PREFIX}-"},
                    "currency": {"type": "string", "const": threesixtygiving.CURRENCY},
                    "amountAwarded": {"type": "integer", "exclusiveMinimum": 0},
                    "awardDate": {"type": "string", "format": "date"},
                },
            },
        },
    },
}


@router.get(
    "/360giving.json",
    summary="Every grant awarded, as a 360Giving package",
    response_class=JSONResponse,
    responses={
        200: {
            "description": "Every grant awarded, as one 360Giving 1.4 package.",
            "content": {"application/json": {"schema": PACKAGE_SCHEMA}},
        },
        404: {
            "description": "No grant has been awarded yet: a 360Giving package holds at "
            "least one, so there is none to publish."
        },
    },
)
def awards_360giving(start_uow: StartUow, clock: AppClock, request: Request) -> JSONResponse:
    """Public: no token needed. The same grants as `GET /awards`, in the 360Giving Data
    Standard (1.4.3), for the standard's tools and registry: each grant's id is
    `360G-brobygger-kk-<id>`, its recipient named by its CVR number, its funder Copenhagen
    Municipality. The package's addresses start with the service's public address
    (`GRANTS_PUBLIC_URL`)."""
    try:
        package = services.awards_package(start_uow, request.app.state.public_url, clock)
    except threesixtygiving.NoAwards as error:
        raise Problem(
            404,
            "No grant has been awarded yet, and a 360Giving package holds at least one: "
            "there is nothing to publish.",
        ) from error
    return JSONResponse(package)
