"""A grant's money over HTTP: operators rank a pool's reviewed applications and decide them
in batch within its budget, record payments and repayments and read the budget; the
organisation accepts its agreement and reports on what the grant did."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from grants import services
from grants.api.applications import (
    NOT_FOUND,
    Amount,
    ApplicationPublic,
    Partner,
    ReviewsPublic,
    changed,
    organization_of,
)
from grants.api.pools import AppClock, Kroner, OptionalText, StartUow
from grants.domain import InvalidTransition
from grants.domain.applications import InvalidApplication, Outcome
from grants.domain.funding import Budget, OverBudget
from runtime.auth import Principal, Role, require
from runtime.http import JSON_INTEGER, Day, InputModel, LongText, ShortText
from runtime.openapi import rules
from runtime.problems import Problem

router = APIRouter(tags=["grants"])

Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
Count = Annotated[int, Field(ge=0, le=1_000_000), JSON_INTEGER]

DECISION_RULES = (
    "Each application is the pool's, in review with the reviews it needs (1 short form, 2 "
    "full form), and decided once in the batch; approved grants the amount asked, "
    "partly_approved more than 0 and less, rejected 0; what the batch grants fits in what "
    "remains of the budget (409 otherwise)."
)
PAYMENT_RULE = "amount_dkk is at most what is granted and not yet paid."
REPAYMENT_RULE = "amount_dkk is at most what is claimed back and not yet repaid."


class DecisionCreate(InputModel):
    application_id: UUID
    outcome: Outcome
    amount_dkk: Amount = Field(
        description="What is granted: the amount asked when approved, a part of it when "
        "partly approved, 0 when rejected."
    )
    reasons: LongText = Field(description="Why, in words the applicant reads in the letter.")


class DecisionsCreate(InputModel):
    decisions: list[DecisionCreate] = Field(
        min_length=1, max_length=200, description="Decided together: all or none."
    )


class BudgetPublic(BaseModel):
    budget_dkk: int
    committed_dkk: int = Field(description="Granted by decisions.")
    paid_dkk: int = Field(description="Paid out of what was granted.")
    repaid_dkk: int = Field(description="Paid back: unspent money, which can be granted again.")
    remaining_dkk: int = Field(description="What decisions can still grant.")

    @classmethod
    def of(cls, budget: Budget) -> BudgetPublic:
        return cls(
            budget_dkk=budget.budget_dkk,
            committed_dkk=budget.committed_dkk,
            paid_dkk=budget.paid_dkk,
            repaid_dkk=budget.repaid_dkk,
            remaining_dkk=budget.remaining_dkk,
        )


class DecisionsPublic(BaseModel):
    decided: list[ApplicationPublic]
    budget: BudgetPublic = Field(description="The pool's budget after these decisions.")


class RankedPublic(BaseModel):
    application_id: UUID
    organization_name: str
    title: str
    amount_dkk: int = Field(description="The amount asked.")
    short_form: bool
    reviews: ReviewsPublic


class PaymentCreate(InputModel):
    amount_dkk: Kroner
    paid_on: Day
    reference: ShortText = Field(description="The payment's reference in the municipality's books.")


class RepaymentCreate(InputModel):
    amount_dkk: Kroner
    repaid_on: Day
    reference: ShortText


class ReportCreate(InputModel):
    participants: Count = Field(description="How many people the activities reached.")
    activities: Count = Field(description="How many activities were held.")
    spent_dkk: Annotated[int, Field(ge=0, le=1_000_000_000_000), JSON_INTEGER] = Field(
        description="What was spent of the grant; what was paid and not spent is paid back."
    )
    summary: OptionalText = Field(default="", description="What the grant made happen.")


POOL_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "There is no such pool."}}


@router.get(
    "/pools/{pool_id}/ranking",
    summary="Rank a pool's applications in review",
    dependencies=[Depends(require(Role.OPERATOR))],
    responses=POOL_NOT_FOUND,
)
def rank_applications(pool_id: UUID, start_uow: StartUow) -> list[RankedPublic]:
    """The best weighted mean first; those still waiting for reviews after the rest."""
    try:
        ranked = services.rank_applications(pool_id, start_uow)
    except services.PoolNotFound as error:
        raise Problem(404, f"There is no pool {pool_id}.") from error
    return [
        RankedPublic(
            application_id=r.application.id,
            organization_name=r.application.applicant.name,
            title=r.application.form.title,
            amount_dkk=r.application.form.amount_dkk,
            short_form=r.application.short_form,
            reviews=ReviewsPublic.of(r),
        )
        for r in ranked
    ]


@router.post(
    "/pools/{pool_id}/decisions",
    summary="Decide applications in batch, within the budget",
    responses={
        **POOL_NOT_FOUND,
        409: {
            "description": "An application is not in review or lacks reviews, or the batch "
            "would pass the budget: nothing is decided."
        },
        **rules(DECISION_RULES),
    },
)
def decide_applications(
    pool_id: UUID,
    body: DecisionsCreate,
    start_uow: StartUow,
    clock: AppClock,
    principal: Operator,
) -> DecisionsPublic:
    """All or none. Operators deciding the same pool at the same moment take turns, so the
    sum granted never passes the budget. Each decision is published and its letter sent."""
    commands = [
        services.DecideApplication(d.application_id, d.outcome, d.amount_dkk, d.reasons)
        for d in body.decisions
    ]
    try:
        decided = services.decide_applications(
            pool_id, commands, principal.subject, start_uow, clock
        )
    except services.PoolNotFound as error:
        raise Problem(404, f"There is no pool {pool_id}.") from error
    except services.ApplicationNotFound as error:
        # Not 404: the pool (the resource addressed) exists; the body names what it lacks.
        raise Problem(
            422, f"decisions: pool {pool_id} has no application {error}; nothing was decided."
        ) from error
    except InvalidApplication as error:
        raise Problem(422, f"{error}.") from error
    except OverBudget as error:
        raise Problem(409, f"Nothing was decided: {error}.") from error
    except InvalidTransition as error:
        raise Problem(409, f"Nothing was decided: {error}.") from error
    return DecisionsPublic(
        decided=[ApplicationPublic.of(a) for a in decided],
        budget=BudgetPublic.of(services.pool_budget(pool_id, start_uow)),
    )


@router.get(
    "/pools/{pool_id}/budget",
    summary="A pool's budget: committed, paid, repaid, remaining",
    dependencies=[Depends(require(Role.OPERATOR))],
    responses=POOL_NOT_FOUND,
)
def pool_budget(pool_id: UUID, start_uow: StartUow) -> BudgetPublic:
    try:
        return BudgetPublic.of(services.pool_budget(pool_id, start_uow))
    except services.PoolNotFound as error:
        raise Problem(404, f"There is no pool {pool_id}.") from error


@router.post(
    "/applications/{application_id}/agreement",
    summary="Accept the grant's agreement",
    responses={**NOT_FOUND, 409: {"description": "It is not a decided grant."}},
)
def accept_agreement(
    application_id: UUID, start_uow: StartUow, clock: AppClock, principal: Partner
) -> ApplicationPublic:
    """The organisation accepts the terms of the money granted; it can be paid from now."""
    organization = organization_of(principal)
    return changed(
        application_id,
        "accepted",
        lambda: services.accept_agreement(application_id, organization, start_uow, clock),
    )


@router.post(
    "/applications/{application_id}/payments",
    summary="Record a payment of a grant",
    responses={
        **NOT_FOUND,
        409: {"description": "Its agreement is not accepted, or it is reported on."},
        **rules(PAYMENT_RULE),
    },
)
def record_payment(
    application_id: UUID,
    body: PaymentCreate,
    start_uow: StartUow,
    clock: AppClock,
    principal: Operator,
) -> ApplicationPublic:
    """In one payment or several. The first makes the report due on the pool's day."""
    command = services.RecordTransfer(
        principal.subject, body.amount_dkk, body.paid_on, body.reference
    )
    return changed(
        application_id,
        "paid",
        lambda: services.record_payment(application_id, command, start_uow, clock),
    )


@router.post(
    "/applications/{application_id}/report",
    summary="Report on what a grant did",
    responses={**NOT_FOUND, 409: {"description": "It is not a paid grant waiting for its report."}},
)
def submit_report(
    application_id: UUID,
    body: ReportCreate,
    start_uow: StartUow,
    clock: AppClock,
    principal: Partner,
) -> ApplicationPublic:
    """Money paid and not spent becomes a repayment claim; without one the grant closes."""
    organization = organization_of(principal)
    command = services.SubmitReport(
        body.participants, body.activities, body.spent_dkk, body.summary
    )
    return changed(
        application_id,
        "reported on",
        lambda: services.submit_report(application_id, organization, command, start_uow, clock),
    )


@router.post(
    "/applications/{application_id}/repayments",
    summary="Record money paid back",
    responses={
        **NOT_FOUND,
        409: {"description": "Nothing is claimed back from it."},
        **rules(REPAYMENT_RULE),
    },
)
def record_repayment(
    application_id: UUID,
    body: RepaymentCreate,
    start_uow: StartUow,
    clock: AppClock,
    principal: Operator,
) -> ApplicationPublic:
    """The whole claim repaid closes the grant."""
    command = services.RecordTransfer(
        principal.subject, body.amount_dkk, body.repaid_on, body.reference
    )
    return changed(
        application_id,
        "repaid",
        lambda: services.record_repayment(application_id, command, start_uow, clock),
    )
