"""Did it help? The outcome report for operators and partners."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from referrals.api.models import StartUow, actor_of
from referrals.domain import Forbidden
from referrals.domain.reports import (
    MAX_YEARS,
    MIN_GROUP,
    Completions,
    FollowUpShare,
    InvalidPeriod,
    MeanChange,
    Median,
    OutcomeReport,
    Period,
    ReportScope,
    Share,
)
from referrals.services.reports import outcome_report
from runtime.auth import Principal, Role, require
from runtime.http import Day, ShortText
from runtime.openapi import rules
from runtime.problems import Problem

router = APIRouter(prefix="/reports", tags=["reports"])

Count = Annotated[int, Field(ge=MIN_GROUP)]
"""A count shown: never under the smallest group."""
FigureN = Annotated[
    Count | None,
    Field(description=f"How many the figure is of; null when suppressed (under {MIN_GROUP})."),
]
Suppressed = Annotated[
    bool, Field(description=f"True when the figure is of fewer than {MIN_GROUP}: all null.")
]


class OutcomeCountsPublic(BaseModel):
    """How many ended each way. A count under 5 (0 too) is null; when exactly one is, the
    smallest other is null as well, or the total would give it away."""

    participating: Count | None = Field(
        description="At the last follow-up the citizen still took part (or was on a break)."
    )
    stopped: Count | None = Field(description="The citizen took part for a while and stopped.")
    never_started: Count | None = Field(
        description="After the first meeting the citizen never came again."
    )
    unknown: Count | None = Field(description="Completed without any participation reported.")


class CompletedPublic(BaseModel):
    """Referrals completed in the period (by the day they were completed)."""

    n: FigureN
    suppressed: Suppressed
    outcomes: OutcomeCountsPublic

    @classmethod
    def of(cls, figure: Completions) -> CompletedPublic:
        return cls(
            n=figure.n,
            suppressed=figure.suppressed,
            outcomes=OutcomeCountsPublic.model_validate(figure.outcomes),
        )


class FollowUpPublic(BaseModel):
    """One follow-up's participation reports recorded in the period (by the day the partner
    reported)."""

    number: int = Field(ge=1, description="1 for the first follow-up after the first meeting.")
    n: FigureN
    suppressed: Suppressed
    still_participating: float | None = Field(
        ge=0,
        le=1,
        description="The share still taking part or on a break (`taking_part`, `paused`), "
        "0 to 1, to 3 decimals.",
    )

    @classmethod
    def of(cls, figure: FollowUpShare) -> FollowUpPublic:
        return cls(
            number=figure.number,
            n=figure.n,
            suppressed=figure.suppressed,
            still_participating=figure.still_participating,
        )


class MeanChangePublic(BaseModel):
    """The change from intake to the last follow-up that asked, of the referrals completed in
    the period (by the day they were completed) with answers at both: the mean and its 95%
    confidence interval (mean ± t(0.975, n-1)·s/√n), to 2 decimals."""

    n: FigureN
    suppressed: Suppressed
    mean: float | None
    low: float | None = Field(description="The interval's lower bound.")
    high: float | None = Field(description="The interval's upper bound.")

    @classmethod
    def of(cls, figure: MeanChange) -> MeanChangePublic:
        return cls(
            n=figure.n,
            suppressed=figure.suppressed,
            mean=figure.mean,
            low=figure.low,
            high=figure.high,
        )


class AccompaniedPublic(BaseModel):
    """First meetings held in the period (by the day of the meeting)."""

    n: FigureN
    suppressed: Suppressed
    share: float | None = Field(
        ge=0,
        le=1,
        description="The share of them the citizen was accompanied to (`accompanied_by` not "
        "`nobody`), 0 to 1, to 3 decimals.",
    )

    @classmethod
    def of(cls, figure: Share) -> AccompaniedPublic:
        return cls(n=figure.n, suppressed=figure.suppressed, share=figure.share)


class DaysToFirstMeetingPublic(BaseModel):
    """First meetings held in the period (by the day of the meeting)."""

    n: FigureN
    suppressed: Suppressed
    median: float | None = Field(
        description="The median of days from the day of the referral to the first meeting, "
        "both in Copenhagen's calendar."
    )

    @classmethod
    def of(cls, figure: Median) -> DaysToFirstMeetingPublic:
        return cls(n=figure.n, suppressed=figure.suppressed, median=figure.median)


class OutcomeReportPublic(BaseModel):
    """Each figure counts what happened in the period and has its own `n`. A figure of
    fewer than 5 is suppressed, so that no citizen can be recognised: `suppressed` is true,
    its `n` and numbers are null."""

    model_config = ConfigDict(populate_by_name=True)

    first: date = Field(alias="from", description="The period's first day, as asked.")
    last: date = Field(alias="to", description="The period's last day, as asked.")
    district: str | None = Field(description="Only this district (any letter case), if asked.")
    organization_id: UUID | None = Field(
        description="Only referrals this organisation accepted: as asked, and for a partner "
        "always its own."
    )
    service_id: UUID | None = Field(description="Only referrals this service accepted, if asked.")
    completed: CompletedPublic
    follow_ups: list[FollowUpPublic] = Field(
        description="Per follow-up number, those with a participation report in the period."
    )
    ucla3_change: MeanChangePublic = Field(
        description="UCLA-3 loneliness total (3 to 9, higher is lonelier): last follow-up "
        "minus intake, -6 to 6."
    )
    who5_change: MeanChangePublic = Field(
        description="WHO-5 well-being index (0 to 100, higher is better): last follow-up "
        "minus intake, -100 to 100."
    )
    accompanied_at_first_meeting: AccompaniedPublic
    days_to_first_meeting: DaysToFirstMeetingPublic

    @classmethod
    def of(cls, report: OutcomeReport) -> OutcomeReportPublic:
        scope = report.scope
        return cls(
            first=scope.period.first,
            last=scope.period.last,
            district=scope.district,
            organization_id=scope.organization_id,
            service_id=scope.service_id,
            completed=CompletedPublic.of(report.completed),
            follow_ups=[FollowUpPublic.of(f) for f in report.follow_ups],
            ucla3_change=MeanChangePublic.of(report.ucla3_change),
            who5_change=MeanChangePublic.of(report.who5_change),
            accompanied_at_first_meeting=AccompaniedPublic.of(report.accompanied_at_first_meeting),
            days_to_first_meeting=DaysToFirstMeetingPublic.of(report.days_to_first_meeting),
        )


PERIOD_RULE = f"`to` is not before `from`, and the period is at most {MAX_YEARS} years."
FORBIDDEN: dict[int | str, dict[str, Any]] = {
    403: {
        "description": "The token's role may not read the report (only operators and "
        "partners may), or a partner named another organisation in `organization_id`."
    }
}


@router.get(
    "/outcomes",
    summary="Report the outcomes of referrals",
    responses={
        200: {"description": "The figures of the period, each with its own `n`."},
        **FORBIDDEN,
        **rules(PERIOD_RULE),
    },
)
def report_outcomes(
    start_uow: StartUow,
    principal: Annotated[Principal, Depends(require(Role.OPERATOR, Role.PARTNER))],
    first: Annotated[
        Day, Query(alias="from", description="The first day, in Copenhagen's calendar.")
    ],
    last: Annotated[
        Day, Query(alias="to", description="The last day, included, in Copenhagen's calendar.")
    ],
    district: Annotated[
        ShortText | None, Query(description="Only this district (any letter case).")
    ] = None,
    organization_id: Annotated[
        UUID | None,
        Query(description="Only referrals this organisation accepted; a partner's own only."),
    ] = None,
    service_id: Annotated[
        UUID | None, Query(description="Only referrals this service accepted.")
    ] = None,
) -> OutcomeReportPublic:
    """Did the referrals help? Each figure counts what happened in the period (days of
    Copenhagen's calendar, both included), with its own `n`: referrals completed and how they
    ended; per follow-up, the share still taking part; the mean change in UCLA-3 and WHO-5
    with a 95% interval; the share accompanied to the first meeting and the median days from
    referral to first meeting. Operators see every referral, a partner those its organisation
    accepted. No personal data.

    Suppression: a figure of fewer than 5 has `suppressed` true and its `n` and numbers
    null, so that no citizen can be recognised; an outcome count under 5 is null too (and,
    when it is the only one, the smallest other with it).

    Refused with 422: `to` before `from`, or a period longer than 5 years."""
    try:
        period = Period(first, last)
    except InvalidPeriod as error:
        raise Problem(422, f"{str(error)[0].upper()}{str(error)[1:]}: {PERIOD_RULE}") from error
    scope = ReportScope(period, district, organization_id, service_id)
    try:
        report = outcome_report(scope, actor_of(principal), start_uow)
    except Forbidden as error:
        raise Problem(403, f"Not allowed: {error}.") from error
    return OutcomeReportPublic.of(report)
