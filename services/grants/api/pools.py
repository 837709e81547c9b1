"""Grant pools: operators run them; anyone can read them, without a token (a pool's terms
are published, and what it shows holds nothing personal). Also what the grants API's routes
share: the unit of work, the clock and the city's date."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, Field, StringConstraints

from grants import services
from grants.domain import GrantPool, InvalidPool, InvalidTransition, PoolStatus, eligibility
from grants.domain.eligibility import Rule
from grants.domain.need import TargetGroup, UnmetNeed
from grants.domain.pools import MAX_CRITERIA, MAX_WEIGHT, Criterion
from runtime.auth import Principal, Role, require
from runtime.clock import Clock
from runtime.http import (
    JSON_INTEGER,
    TRIMMED_LINES,
    Day,
    IdempotencyKey,
    InputModel,
    LongText,
    Name,
    ShortText,
    answer_created,
    unit_of_work_factory,
)
from runtime.idempotency import IdempotencyConflict
from runtime.openapi import created_responses, rules
from runtime.problems import Problem

router = APIRouter(prefix="/pools", tags=["pools"])


# Far above any real pool; keeps amounts inside a 64-bit column, so a huge number is a 422.
MAX_DKK = 1_000_000_000_000
# The bounds before the validator: after it, pydantic leaves them out of the JSON Schema.
Kroner = Annotated[int, Field(gt=0, le=MAX_DKK), JSON_INTEGER]
OptionalText = Annotated[str, StringConstraints(max_length=4000, pattern=f"^$|{TRIMMED_LINES}")]
"""Empty, or text without surrounding whitespace or NUL."""

StartUow = Annotated[services.UnitOfWorkFactory, Depends(unit_of_work_factory)]


def clock_of(request: Request) -> Clock:
    """The service's clock (`create_app`'s): tests pin it."""
    clock: Clock = request.app.state.clock
    return clock


AppClock = Annotated[Clock, Depends(clock_of)]


def city_today(clock: AppClock) -> date:
    """The day in Copenhagen, whose applications a pool takes now."""
    return services.city_today(clock)


Today = Annotated[date, Depends(city_today)]

WINDOW_RULE = "closes_on is not before opens_on, nor before today."
SHORT_FORM_RULE = "small_grant_limit_dkk, when given, is at most budget_dkk."
RUBRIC_RULE = "The rubric's criteria have names of their own."
MAXIMUM_RULE = "max_per_application_dkk, when given, is at most budget_dkk."
REPORT_RULE = "report_due_on, when given, is after closes_on."


class CriterionModel(InputModel):
    name: ShortText = Field(examples=["fit"])
    weight: Annotated[int, Field(ge=1, le=MAX_WEIGHT), JSON_INTEGER] = Field(
        description="Its weight in a reviewer's weighted total."
    )


class CriterionPublic(BaseModel):
    name: str
    weight: int


class GrantPoolCreate(InputModel):
    name: Name = Field(examples=["Nye fællesskaber 2026"])
    description: OptionalText = ""
    budget_dkk: Kroner = Field(description="Total budget in Danish kroner.")
    opens_on: Day = Field(description="First day applications are accepted.")
    closes_on: Day = Field(description="Last day applications are accepted; not before opens_on.")
    criteria: LongText = Field(
        description="The published criteria, in plain language.",
        examples=["Associations in Copenhagen that start a new community for older citizens."],
    )
    small_grant_limit_dkk: Kroner | None = Field(
        default=None,
        description="Applications for up to this amount use the short form; "
        "at most the budget. Leave out for no short form.",
    )
    target_groups: list[TargetGroup] = Field(
        default=[],
        max_length=len(TargetGroup),
        description="Whom the pool is for, in the directory's vocabulary of target groups "
        "(a referral's needs). Leave out or empty for everyone.",
    )
    rubric: list[CriterionModel] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_CRITERIA,
        description="The weighted criteria reviewers score, each 0-5, names unique. "
        'Leave out for the default: one criterion, {"name": "fit", "weight": 1}.',
    )
    max_per_application_dkk: Kroner | None = Field(
        default=None,
        description="The most one application may ask; at most the budget. Leave out for "
        "up to the budget.",
    )
    report_due_on: Day | None = Field(
        default=None,
        description="When the reports of its grants are due; after closes_on. Leave out for "
        "1 June of the year after it closes.",
    )


class EligibilityRulePublic(BaseModel):
    rule: Rule
    text: str = Field(description="What an application must meet, in plain language.")


class GrantPoolPublic(BaseModel):
    id: UUID
    name: str
    description: str
    budget_dkk: int
    opens_on: date
    closes_on: date
    criteria: str
    small_grant_limit_dkk: int | None
    target_groups: list[TargetGroup] = Field(description="Whom the pool is for; empty: everyone.")
    rubric: list[CriterionPublic] = Field(description="The weighted criteria reviewers score.")
    max_per_application_dkk: int | None = Field(
        description="The most one application may ask; null: up to the budget."
    )
    report_due_on: date = Field(description="When the reports of its grants are due.")
    eligibility_rules: list[EligibilityRulePublic] = Field(
        description="The rules every application is checked against when it is submitted, "
        "in that order; one that fails rejects it at once, with the reason."
    )
    status: PoolStatus = Field(
        description="announced: published, taking applications from opens_on; open: taking "
        "applications; closed: its window ended or an operator closed it, for good."
    )
    accepting_applications: bool = Field(
        description="Whether the pool takes applications today (Copenhagen's date): it is "
        "open and today lies between opens_on and closes_on, both included."
    )
    created_at: datetime

    @classmethod
    def of(cls, pool: GrantPool, today: date) -> GrantPoolPublic:
        accepting = pool.accepting_applications(today)
        return cls.model_validate(
            {
                **asdict(pool),
                "accepting_applications": accepting,
                "report_due_on": pool.reports_due_on,
                "eligibility_rules": [
                    {"rule": rule, "text": text} for rule, text in eligibility.published(pool)
                ],
            }
        )


class DistrictNeedPublic(BaseModel):
    district: str = Field(examples=["Nørrebro"])
    referrals: int = Field(description="How many referrals of the district went unmet.")


class NeedPublic(BaseModel):
    """The referrals no community could take, by district: Brobygger's own evidence of
    where a new community is needed."""

    since: date = Field(description="The first day counted (UTC), 12 months before `until`.")
    until: date = Field(description="The last day counted (UTC): today.")
    by_district: list[DistrictNeedPublic] = Field(description="Most referrals first.")
    total: int = Field(description="The referrals of every district together.")

    @classmethod
    def of(cls, need: UnmetNeed) -> NeedPublic:
        return cls.model_validate({**asdict(need), "total": need.total})


class GrantPoolWithNeed(GrantPoolPublic):
    need: NeedPublic = Field(
        description="Where the need is: the referrals of the pool's target groups (every "
        "referral, for a pool without target groups) that went unmet in the last 12 months: "
        "nothing in the directory fitted them, or every community offered them declined, let "
        "the offer lapse or filled up. Each referral counts once, from the day it first went "
        "unmet; an erased referral no longer counts."
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Open a grant pool",
    responses={
        **created_responses(GrantPoolPublic, "pool"),
        409: {"description": "The Idempotency-Key was used before with another body."},
        **rules(WINDOW_RULE, SHORT_FORM_RULE, RUBRIC_RULE, MAXIMUM_RULE, REPORT_RULE),
    },
)
def open_pool(
    body: GrantPoolCreate,
    start_uow: StartUow,
    clock: AppClock,
    response: Response,
    principal: Annotated[Principal, Depends(require(Role.OPERATOR))],
    idempotency_key: IdempotencyKey = None,
) -> GrantPoolPublic:
    """The pool is announced (`pool.announced`) and opens for applications on its opening
    day (`pool.opened`: at once, when that day has come), when every partner is told. An
    operator who retries must not open a second pool, so every request names itself with an
    `Idempotency-Key`.

    Refused with 422: a pool that closes before it opens, or whose window has ended; a
    short-form limit or a maximum per application over the budget; a rubric naming a
    criterion twice."""
    if idempotency_key is None:
        raise Problem(
            400,
            "The Idempotency-Key header is required: send a key unique to this pool, "
            "and the same key when retrying.",
        )
    command = services.OpenPool(
        created_by=principal.subject,
        name=body.name,
        description=body.description,
        budget_dkk=body.budget_dkk,
        opens_on=body.opens_on,
        closes_on=body.closes_on,
        criteria=body.criteria,
        small_grant_limit_dkk=body.small_grant_limit_dkk,
        idempotency_key=idempotency_key,
        target_groups=tuple(body.target_groups),
        rubric=None
        if body.rubric is None
        else tuple(Criterion(c.name, c.weight) for c in body.rubric),
        max_per_application_dkk=body.max_per_application_dkk,
        report_due_on=body.report_due_on,
    )
    try:
        pool, created = services.open_pool(command, start_uow, clock)
    except InvalidPool as error:
        raise Problem(422, f"{error}.") from error
    except IdempotencyConflict as error:
        raise Problem(409, f"{error}.") from error
    answer_created(response, f"/pools/{pool.id}", created)
    return GrantPoolPublic.of(pool, services.city_today(clock))


@router.get("", summary="List grant pools")
def list_pools(
    start_uow: StartUow,
    today: Today,
    pool_status: Annotated[
        PoolStatus | None, Query(alias="status", description="Only pools in this status.")
    ] = None,
) -> list[GrantPoolPublic]:
    """Public: no token needed. Every pool's published terms, newest first; not who
    opened it."""
    return [GrantPoolPublic.of(pool, today) for pool in services.list_pools(start_uow, pool_status)]


NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "There is no pool with this id."}
}


@router.get("/{pool_id}", summary="Read a grant pool", responses=NOT_FOUND)
def get_pool(pool_id: UUID, start_uow: StartUow, today: Today) -> GrantPoolWithNeed:
    """Public: no token needed. The pool's terms, and where the need is for its target
    groups: counts of referrals by district, nothing about any one of them. Not who opened
    the pool."""
    try:
        pool = services.get_pool(pool_id, start_uow)
    except services.PoolNotFound as error:
        raise Problem(404, f"There is no pool {pool_id}.") from error
    need = services.unmet_need(pool.target_groups, today, start_uow)
    return GrantPoolWithNeed.model_validate(
        {**GrantPoolPublic.of(pool, today).model_dump(), "need": NeedPublic.of(need)}
    )


@router.post(
    "/{pool_id}/close",
    summary="Close a grant pool to applications",
    dependencies=[Depends(require(Role.OPERATOR))],
    responses={**NOT_FOUND, 409: {"description": "The pool is closed already."}},
)
def close_pool(pool_id: UUID, start_uow: StartUow, clock: AppClock) -> GrantPoolPublic:
    """For good: a closed pool takes no more applications and cannot be reopened."""
    try:
        pool = services.close_pool(pool_id, start_uow, clock)
        return GrantPoolPublic.of(pool, services.city_today(clock))
    except services.PoolNotFound as error:
        raise Problem(404, f"There is no pool {pool_id}.") from error
    except InvalidTransition as error:
        raise Problem(409, f"Pool {pool_id} cannot be closed: {error}.") from error
