"""Reports for operators: where the directory falls short."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from directory import reports, services
from directory.api.common import StartUow
from directory.reports import UnmetNeed
from runtime.auth import Principal, Role, require
from runtime.http import Day
from runtime.openapi import rules
from runtime.problems import Problem

router = APIRouter(tags=["reports"])


class UnmetNeedReasons(BaseModel):
    """How many of a group's referrals went unmet for each reason."""

    no_match: int = Field(ge=0, description="Nothing in the directory fits.")
    all_declined: int = Field(ge=0, description="Every candidate declined.")
    all_expired: int = Field(ge=0, description="Every candidate let the offer lapse.")
    declined_or_expired: int = Field(ge=0, description="Every candidate declined or let lapse.")
    none_available: int = Field(ge=0, description="The remaining candidates closed or filled up.")


class UnmetNeedPublic(BaseModel):
    district: str
    target_group: str = Field(
        description=f"One of the citizen's target-group needs, or `{reports.NONE}` for "
        "referrals without one.",
        examples=["older_people"],
    )
    interest: str = Field(examples=["walking"])
    referrals: int = Field(ge=1, description="How many referrals of this group went unmet.")
    reasons: UnmetNeedReasons

    @classmethod
    def of(cls, need: UnmetNeed) -> UnmetNeedPublic:
        return cls(
            district=need.district,
            target_group=need.target_group,
            interest=need.interest,
            referrals=need.referrals,
            reasons=UnmetNeedReasons.model_validate(need.reasons),
        )


class UnmetNeedReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    first: date = Field(alias="from", description="The period's first day, as asked.")
    last: date = Field(alias="to", description="The period's last day, as asked.")
    data: list[UnmetNeedPublic] = Field(
        description="Most referrals first, then by district, target group and interest."
    )
    total: int = Field(ge=0, description="How many groups there are in all.")
    offset: int = Field(ge=0)
    limit: int = Field(ge=1)


PERIOD_RULE = "`to` is not before `from`."


@router.get(
    "/reports/unmet-need",
    summary="Report the unmet need",
    responses=rules(PERIOD_RULE),
)
def report_unmet_need(
    start_uow: StartUow,
    _operator: Annotated[Principal, Depends(require(Role.OPERATOR))],
    first: Annotated[
        Day, Query(alias="from", description="The first day, in Copenhagen's calendar.")
    ],
    last: Annotated[
        Day, Query(alias="to", description="The last day, included, in Copenhagen's calendar.")
    ],
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="How many to skip.")] = 0,
    limit: Annotated[int, Query(ge=1, le=200, description="At most this many.")] = 50,
) -> UnmetNeedReport:
    """Referrals for which no community was found in the period (nothing fit, or they were
    escalated), counted by district x target group x interest, the most-missed first: where
    new communities are needed. A referral counts once, on the day (Copenhagen time) and for
    the reason it first went unmet, under each of its target groups and interests; target
    groups are its needs among the directory's target groups. No personal data.

    Refused with 422: `to` before `from`."""
    try:
        period = reports.Period(first, last)
    except reports.InvalidPeriod as error:
        raise Problem(422, f"{error}: {PERIOD_RULE}") from error
    found, total = services.unmet_need(period, offset, limit, start_uow)
    return UnmetNeedReport(
        first=first,
        last=last,
        data=[UnmetNeedPublic.of(need) for need in found],
        total=total,
        offset=offset,
        limit=limit,
    )
