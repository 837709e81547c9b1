"""Applications for grants: a partner drafts, completes and submits its organisation's own;
operators read them all, may override the eligibility check and assign reviewers, who
declare conflicts of interest and score."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import BaseModel, Field, StringConstraints

from grants import services
from grants.api.pools import MAX_DKK, AppClock, Kroner, OptionalText, StartUow
from grants.domain import InvalidTransition
from grants.domain.applications import (
    Applicant,
    Application,
    ApplicationStatus,
    BudgetLine,
    Form,
    InvalidApplication,
    Outcome,
)
from grants.domain.eligibility import Rule
from grants.domain.need import TargetGroup
from grants.domain.reviews import HIGHEST, LOWEST, InvalidReview, Score
from runtime.auth import Principal, Role, require
from runtime.http import (
    JSON_BOOLEAN,
    JSON_INTEGER,
    TRIMMED,
    Day,
    IdempotencyKey,
    InputModel,
    LongText,
    Name,
    ShortText,
    answer_created,
)
from runtime.idempotency import IdempotencyConflict
from runtime.openapi import created_responses, rules
from runtime.problems import Problem

router = APIRouter(tags=["applications"])

Partner = Annotated[Principal, Depends(require(Role.PARTNER))]
PartnerOrOperator = Annotated[Principal, Depends(require(Role.PARTNER, Role.OPERATOR))]
Reviewer = Annotated[Principal, Depends(require(Role.REVIEWER))]
Reader = Annotated[Principal, Depends(require(Role.PARTNER, Role.OPERATOR, Role.REVIEWER))]

Amount = Annotated[int, Field(ge=0, le=MAX_DKK), JSON_INTEGER]
Participants = Annotated[int, Field(ge=1, le=1_000_000), JSON_INTEGER]
Boolean = Annotated[bool, JSON_BOOLEAN]
Title = Annotated[str, StringConstraints(max_length=200, pattern=f"^$|{TRIMMED}")]
Email = Annotated[
    str,
    StringConstraints(max_length=254, pattern=r"^$|^[^@\s\x00-\x1f]{1,64}@[^@\s\x00-\x1f]+$"),
]
Cvr = Annotated[str, StringConstraints(min_length=1, max_length=20, pattern=TRIMMED)]
"""As written: whether it is a CVR number is an eligibility rule, with its reason."""
MunicipalityCode = Annotated[int, Field(ge=100, le=999), JSON_INTEGER]
Language = Literal["da", "sv", "en"]

DRAFT_RULE = (
    "Each budget line is more than 0 kroner; ends_on is not before starts_on; the pool "
    "exists (404 otherwise)."
)
PATCH_RULE = "organization's fields cannot be removed (null)."


class LegalForm(StrEnum):
    ASSOCIATION = "association"
    SELF_GOVERNING_INSTITUTION = "self_governing_institution"
    FUND = "fund"
    COMPANY = "company"
    OTHER = "other"


class Declaration(InputModel):
    """The applying organisation as it declares itself: what the eligibility check reads."""

    name: Name = Field(examples=["Ældre Sagen Nørrebro"])
    cvr: Cvr = Field(description="Its CVR number.", examples=["29470405"])
    legal_form: LegalForm = Field(
        description="association (forening), self_governing_institution (selvejende "
        "institution), fund (fond): non-profits; company, other: not."
    )
    municipality_code: MunicipalityCode = Field(
        description="The municipality it is registered in (kommunekode); Copenhagen: 101."
    )
    board_unpaid: Boolean = Field(description="Whether its board members are unpaid.")


class BudgetLineModel(InputModel):
    label: Name
    amount_dkk: Kroner


class FormFields(InputModel):
    """The form; a draft may leave any of it out, a submission needs what its form asks
    (the short form: title, description, amount, budget lines and contact person)."""

    title: Title = ""
    description: OptionalText = ""
    amount_dkk: Amount = Field(default=0, description="The amount asked, in Danish kroner.")
    budget_lines: list[BudgetLineModel] = Field(
        default=[],
        max_length=100,
        description="They add up to amount_dkk (a rule checked at submission).",
    )
    target_groups: list[TargetGroup] = Field(default=[], max_length=len(TargetGroup))
    districts: list[ShortText] = Field(default=[], max_length=30)
    expected_participants: Participants | None = None
    co_financing_dkk: Amount = 0
    starts_on: Day | None = None
    ends_on: Day | None = None
    contact_name: Title = Field(
        default="", description="Personal data: seen by the organisation and operators only."
    )
    contact_email: Email = Field(
        default="", description="Personal data: seen by the organisation and operators only."
    )
    language: Language = Field(
        default="da", description="The language it is written in; its letters are too."
    )


class ApplicationCreate(FormFields):
    organization: Declaration


class DeclarationPatch(InputModel):
    name: Name | None = None
    cvr: Cvr | None = None
    legal_form: LegalForm | None = None
    municipality_code: MunicipalityCode | None = None
    board_unpaid: Boolean | None = None


class ApplicationPatch(InputModel):
    """A JSON Merge Patch (RFC 7396) of a draft: the fields named change; null takes a field
    of the form back to empty; a list is replaced whole."""

    title: Title | None = None
    description: OptionalText | None = None
    amount_dkk: Amount | None = None
    budget_lines: list[BudgetLineModel] | None = Field(default=None, max_length=100)
    target_groups: list[TargetGroup] | None = Field(default=None, max_length=len(TargetGroup))
    districts: list[ShortText] | None = Field(default=None, max_length=30)
    expected_participants: Participants | None = None
    co_financing_dkk: Amount | None = None
    starts_on: Day | None = None
    ends_on: Day | None = None
    contact_name: Title | None = None
    contact_email: Email | None = None
    language: Language | None = None
    organization: DeclarationPatch | None = None


class OverrideCreate(InputModel):
    note: LongText = Field(description="Why the application is screened nonetheless.")


Subject = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=TRIMMED)]


class ReviewersAssign(InputModel):
    subjects: list[Subject] = Field(
        min_length=1,
        max_length=20,
        description="The reviewers' token subjects (role reviewer); one assigned already "
        "stays as they were.",
    )


class ConflictDeclaration(InputModel):
    conflict: Boolean = Field(
        description="Whether the reviewer has a conflict of interest with the application."
    )


class ScoreModel(InputModel):
    criterion: ShortText = Field(description="A criterion of the pool's rubric.")
    score: Annotated[int, Field(ge=LOWEST, le=HIGHEST), JSON_INTEGER]
    comment: OptionalText = Field(description="Why this score; needed (422 when empty).")


class ReviewCreate(InputModel):
    scores: list[ScoreModel] = Field(
        min_length=1, max_length=10, description="One for each criterion of the pool's rubric."
    )


class ReviewerPublic(BaseModel):
    subject: str
    conflict: bool | None = Field(description="null until declared.")
    reviewed: bool


class ReviewsPublic(BaseModel):
    needed: int = Field(description="Reviews a decision needs: 1 short form, 2 full form.")
    reviews: int = Field(description="Reviews given.")
    mean: float | None = Field(
        description="The mean of the reviewers' weighted totals (0-5); null before any."
    )
    spread: float | None = Field(
        description="The highest weighted total less the lowest; null before any."
    )
    reviewers: list[ReviewerPublic]

    @classmethod
    def of(cls, found: services.ReviewedApplication) -> ReviewsPublic:
        summary = found.summary
        return cls(
            needed=summary.needed,
            reviews=summary.reviews,
            mean=summary.mean,
            spread=summary.spread,
            reviewers=[
                ReviewerPublic(
                    subject=r.subject, conflict=r.conflict, reviewed=r.reviewed_at is not None
                )
                for r in found.reviewers
            ],
        )


class DeclarationAnswer(BaseModel):
    application_id: UUID
    conflict: bool
    declared_at: datetime


class ReviewAnswer(BaseModel):
    application_id: UUID
    reviewed_at: datetime


class RuleResultPublic(BaseModel):
    rule: Rule
    passed: bool
    reason: str


class DecisionPublic(BaseModel):
    outcome: Outcome
    amount_dkk: int = Field(description="What was granted: 0 when rejected.")
    reasons: str
    decided_at: datetime


class StepPublic(BaseModel):
    status: ApplicationStatus
    at: datetime


class DeclarationPublic(BaseModel):
    name: str
    cvr: str
    legal_form: str
    municipality_code: int
    board_unpaid: bool


class BudgetLinePublic(BaseModel):
    label: str
    amount_dkk: int


class PaymentPublic(BaseModel):
    amount_dkk: int
    paid_on: date
    reference: str = Field(description="The payment's reference in the municipality's books.")


class RepaymentPublic(BaseModel):
    amount_dkk: int
    repaid_on: date
    reference: str


class ReportPublic(BaseModel):
    participants: int = Field(description="How many people the activities reached.")
    activities: int = Field(description="How many activities were held.")
    spent_dkk: int
    summary: str
    received_at: datetime


class GrantPublic(BaseModel):
    """The money of an application that was granted some."""

    granted_dkk: int
    report_due_on: date = Field(description="The day the report is due (the pool's day).")
    agreement_accepted_at: datetime | None
    paid_dkk: int = Field(description="Paid out so far; never more than granted.")
    payments: list[PaymentPublic]
    report: ReportPublic | None
    report_overdue_reminded_at: datetime | None = Field(
        description="When the organisation was reminded of its overdue report."
    )
    repayment_claim_dkk: int = Field(
        description="Paid and, as the report shows, not spent: to be paid back."
    )
    repaid_dkk: int
    repayments: list[RepaymentPublic]

    @classmethod
    def of(cls, application: Application) -> GrantPublic | None:
        if not application.granted_dkk or application.report_due_on is None:
            return None
        report = application.report
        return cls(
            granted_dkk=application.granted_dkk,
            report_due_on=application.report_due_on,
            agreement_accepted_at=application.agreement_accepted_at,
            paid_dkk=application.paid_dkk,
            payments=[
                PaymentPublic(amount_dkk=p.amount_dkk, paid_on=p.day, reference=p.reference)
                for p in application.payments
            ],
            report=ReportPublic(
                participants=report.participants,
                activities=report.activities,
                spent_dkk=report.spent_dkk,
                summary=report.summary,
                received_at=report.received_at,
            )
            if report
            else None,
            report_overdue_reminded_at=application.reminded_at,
            repayment_claim_dkk=application.repayment_claim_dkk,
            repaid_dkk=application.repaid_dkk,
            repayments=[
                RepaymentPublic(amount_dkk=r.amount_dkk, repaid_on=r.day, reference=r.reference)
                for r in application.repayments
            ],
        )


class ApplicationPublic(BaseModel):
    id: UUID
    pool_id: UUID
    organization_id: UUID
    organization: DeclarationPublic
    status: ApplicationStatus
    title: str
    description: str
    amount_dkk: int
    budget_lines: list[BudgetLinePublic]
    target_groups: list[str]
    districts: list[str]
    expected_participants: int | None
    co_financing_dkk: int
    starts_on: date | None
    ends_on: date | None
    contact_name: str
    contact_email: str
    language: Language
    short_form: bool | None = Field(
        description="Within the pool's short-form limit; null until submitted."
    )
    eligibility: list[RuleResultPublic] | None = Field(
        description="Each rule of the check at submission, with its reason; null before."
    )
    override_note: str | None = Field(
        description="An operator's reason for screening it although the check failed."
    )
    decision: DecisionPublic | None
    grant: GrantPublic | None = Field(
        description="Once money is granted: the agreement, payments, report and repayment."
    )
    created_at: datetime
    submitted_at: datetime | None
    withdrawn_at: datetime | None
    history: list[StepPublic]
    reviews: ReviewsPublic | None = Field(
        default=None, description="To operators only: the reviewers and their scores' summary."
    )

    @classmethod
    def of(cls, application: Application) -> ApplicationPublic:
        form, applicant, found = application.form, application.applicant, application.eligibility
        decision = application.decision
        return cls(
            id=application.id,
            pool_id=application.pool_id,
            organization_id=applicant.organization_id,
            organization=DeclarationPublic(
                name=applicant.name,
                cvr=applicant.cvr,
                legal_form=applicant.legal_form,
                municipality_code=applicant.municipality_code,
                board_unpaid=applicant.board_unpaid,
            ),
            status=application.status,
            title=form.title,
            description=form.description,
            amount_dkk=form.amount_dkk,
            budget_lines=[
                BudgetLinePublic(label=b.label, amount_dkk=b.amount_dkk) for b in form.budget_lines
            ],
            target_groups=list(form.target_groups),
            districts=list(form.districts),
            expected_participants=form.expected_participants,
            co_financing_dkk=form.co_financing_dkk,
            starts_on=form.starts_on,
            ends_on=form.ends_on,
            contact_name=form.contact_name,
            contact_email=form.contact_email,
            language=form.language,
            short_form=found.short_form if found else None,
            eligibility=[
                RuleResultPublic(rule=r.rule, passed=r.passed, reason=r.reason)
                for r in found.results
            ]
            if found
            else None,
            override_note=application.override_note,
            decision=DecisionPublic(
                outcome=decision.outcome,
                amount_dkk=decision.amount_dkk,
                reasons=decision.reasons,
                decided_at=decision.decided_at,
            )
            if decision
            else None,
            grant=GrantPublic.of(application),
            created_at=application.created_at,
            submitted_at=application.submitted_at,
            withdrawn_at=application.withdrawn_at,
            history=[StepPublic(status=s, at=at) for s, at in application.history],
        )


class ApplicationPage(BaseModel):
    data: list[ApplicationPublic]
    total: int = Field(ge=0, description="How many there are in all.")
    offset: int = Field(ge=0)
    limit: int = Field(ge=1)


NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "There is no such application, or it is another organisation's."}
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "The application is not in a state where this can happen."}
}
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="How many to skip.")]
Limit = Annotated[int, Query(ge=1, le=200, description="At most this many.")]


def organization_of(principal: Principal) -> UUID:
    assert principal.organization_id is not None  # a partner token always names it
    return principal.organization_id


def _scope(principal: Principal) -> UUID | None:
    """The organisation whose applications the caller may see; None: every one."""
    return None if principal.role is Role.OPERATOR else organization_of(principal)


def _form(body: FormFields) -> Form:
    return Form(**_form_fields(body.model_dump(exclude={"organization"})))


def _form_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """The form's fields as the domain holds them: tuples, and budget lines."""
    converted = dict(fields)
    if "budget_lines" in converted:
        converted["budget_lines"] = tuple(BudgetLine(**b) for b in converted["budget_lines"])
    for name in ("target_groups", "districts"):
        if name in converted:
            converted[name] = tuple(converted[name])
    return converted


def missing(application_id: UUID) -> Problem:
    return Problem(404, f"There is no application {application_id}.")


def changed(
    application_id: UUID, what: str, change: Callable[[], Application]
) -> ApplicationPublic:
    """Run a change of one application, answering its failures as problems."""
    try:
        return ApplicationPublic.of(change())
    except services.ApplicationNotFound as error:
        raise missing(application_id) from error
    except InvalidApplication as error:
        raise Problem(422, f"{error}.") from error
    except InvalidTransition as error:
        raise Problem(409, f"Application {application_id} cannot be {what}: {error}.") from error


@router.post(
    "/pools/{pool_id}/applications",
    status_code=status.HTTP_201_CREATED,
    summary="Draft an application to a grant pool",
    responses={
        **created_responses(ApplicationPublic, "application"),
        404: {"description": "There is no pool with this id."},
        409: {"description": "The Idempotency-Key was used before with another body."},
        **rules(DRAFT_RULE),
    },
)
def draft_application(
    pool_id: UUID,
    body: ApplicationCreate,
    start_uow: StartUow,
    clock: AppClock,
    response: Response,
    principal: Partner,
    idempotency_key: IdempotencyKey = None,
) -> ApplicationPublic:
    """A draft for the token's organisation, to complete (`PATCH`) and submit. A retry
    with the same `Idempotency-Key` answers the first draft."""
    if idempotency_key is None:
        raise Problem(
            400,
            "The Idempotency-Key header is required: send a key unique to this application, "
            "and the same key when retrying.",
        )
    declaration = body.organization
    command = services.DraftApplication(
        drafted_by=principal.subject,
        pool_id=pool_id,
        applicant=Applicant(
            organization_id=organization_of(principal),
            name=declaration.name,
            cvr=declaration.cvr,
            legal_form=declaration.legal_form.value,
            municipality_code=declaration.municipality_code,
            board_unpaid=declaration.board_unpaid,
        ),
        form=_form(body),
        idempotency_key=idempotency_key,
    )
    try:
        application, created = services.draft_application(command, start_uow, clock)
    except services.PoolNotFound as error:
        raise Problem(404, f"There is no pool {pool_id}.") from error
    except InvalidApplication as error:
        raise Problem(422, f"{error}.") from error
    except IdempotencyConflict as error:
        raise Problem(409, f"{error}.") from error
    answer_created(response, f"/applications/{application.id}", created)
    return ApplicationPublic.of(application)


@router.patch(
    "/applications/{application_id}",
    summary="Change a draft application",
    responses={**NOT_FOUND, **CONFLICT, **rules(DRAFT_RULE, PATCH_RULE)},
)
def change_application(
    application_id: UUID, body: ApplicationPatch, start_uow: StartUow, principal: Partner
) -> ApplicationPublic:
    """Drafts only: a submitted application is 409."""
    changes = body.model_dump(exclude_unset=True)
    declared = changes.pop("organization", None) or {}
    if None in declared.values():
        raise Problem(422, f"The organisation's {PATCH_RULE}")
    if "legal_form" in declared:
        declared["legal_form"] = declared["legal_form"].value
    # Null takes a field back to the empty form's.
    empty = Form()
    form_changes = _form_fields(
        {name: getattr(empty, name) if value is None else value for name, value in changes.items()}
    )
    organization = organization_of(principal)
    return changed(
        application_id,
        "changed",
        lambda: services.change_application(
            application_id, organization, form_changes, declared, start_uow
        ),
    )


@router.post(
    "/applications/{application_id}/submit",
    summary="Submit an application",
    responses={
        **NOT_FOUND,
        409: {"description": "It is not a draft, or the pool does not take applications today."},
        **rules("Every field the application's form needs is filled in."),
    },
)
def submit_application(
    application_id: UUID, start_uow: StartUow, clock: AppClock, principal: Partner
) -> ApplicationPublic:
    """Inside the pool's window (Copenhagen's dates). Every eligibility rule is checked and
    recorded with its reason; an ineligible application is rejected at once, and the
    answer says why."""
    organization = organization_of(principal)
    return changed(
        application_id,
        "submitted",
        lambda: services.submit_application(application_id, organization, start_uow, clock),
    )


@router.post(
    "/applications/{application_id}/withdraw",
    summary="Withdraw an application",
    responses={**NOT_FOUND, **CONFLICT},
)
def withdraw_application(
    application_id: UUID, start_uow: StartUow, clock: AppClock, principal: Partner
) -> ApplicationPublic:
    """Until it is decided."""
    organization = organization_of(principal)
    return changed(
        application_id,
        "withdrawn",
        lambda: services.withdraw_application(application_id, organization, start_uow, clock),
    )


@router.post(
    "/applications/{application_id}/eligibility-override",
    summary="Screen an application the eligibility check rejected",
    dependencies=[Depends(require(Role.OPERATOR))],
    responses={
        **NOT_FOUND,
        409: {"description": "The eligibility check did not reject it."},
    },
)
def override_eligibility(
    application_id: UUID, body: OverrideCreate, start_uow: StartUow, clock: AppClock
) -> ApplicationPublic:
    """The note is recorded with the application; the check's results stay as they were."""
    return changed(
        application_id,
        "overridden",
        lambda: services.override_eligibility(application_id, body.note, start_uow, clock),
    )


@router.get("/applications", summary="List applications")
def list_applications(
    principal: PartnerOrOperator,
    start_uow: StartUow,
    pool_id: Annotated[UUID | None, Query(description="Only this pool's.")] = None,
    application_status: Annotated[
        ApplicationStatus | None, Query(alias="status", description="Only this status.")
    ] = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> ApplicationPage:
    """A partner's own organisation's, an operator's every one; the newest first."""
    found, total = services.list_applications(
        _scope(principal),
        start_uow,
        offset,
        limit,
        pool_id=pool_id,
        status=application_status,
    )
    return ApplicationPage(
        data=[ApplicationPublic.of(a) for a in found], total=total, offset=offset, limit=limit
    )


NOT_ASSIGNED: dict[int | str, dict[str, Any]] = {
    404: {"description": "There is no such application, or the reviewer is not assigned to it."}
}


def _unassigned(application_id: UUID) -> Problem:
    return Problem(404, f"There is no application {application_id} assigned to you.")


@router.get(
    "/applications/{application_id}",
    summary="Read an application",
    responses={
        **NOT_FOUND,
        403: {
            "description": "A reviewer who has not declared whether they have a conflict of "
            "interest, or who declared one."
        },
    },
)
def get_application(
    application_id: UUID, principal: Reader, start_uow: StartUow
) -> ApplicationPublic:
    """A partner reads its own organisation's; an operator any, with its reviews; a reviewer
    one assigned to them, once they declared no conflict of interest."""
    try:
        if principal.role is Role.OPERATOR:
            found = services.get_reviewed_application(application_id, start_uow)
            return ApplicationPublic.of(found.application).model_copy(
                update={"reviews": ReviewsPublic.of(found)}
            )
        if principal.role is Role.REVIEWER:
            application = services.get_application_to_review(
                application_id, principal.subject, start_uow
            )
        else:
            application = services.get_application(
                application_id, organization_of(principal), start_uow
            )
    except (services.ApplicationNotFound, services.NotAssigned) as error:
        raise missing(application_id) from error
    except services.NotDeclared as error:
        raise Problem(
            403, "Declare first whether you have a conflict of interest with this application."
        ) from error
    except services.Conflicted as error:
        raise Problem(403, "You declared a conflict of interest with this application.") from error
    return ApplicationPublic.of(application)


@router.post(
    "/applications/{application_id}/reviewers",
    summary="Assign reviewers to an application",
    dependencies=[Depends(require(Role.OPERATOR))],
    responses={
        **NOT_FOUND,
        409: {"description": "The application is neither screened nor in review."},
    },
)
def assign_reviewers(
    application_id: UUID, body: ReviewersAssign, start_uow: StartUow, clock: AppClock
) -> ReviewsPublic:
    """A screened application moves to review. Each reviewer declares whether they have a
    conflict of interest before they can read or score it."""
    try:
        found = services.assign_reviewers(application_id, body.subjects, start_uow, clock)
    except services.ApplicationNotFound as error:
        raise missing(application_id) from error
    except InvalidTransition as error:
        raise Problem(409, f"Application {application_id} cannot be reviewed: {error}.") from error
    return ReviewsPublic.of(found)


@router.post(
    "/applications/{application_id}/conflict-declaration",
    summary="Declare whether you have a conflict of interest",
    responses={
        **NOT_ASSIGNED,
        409: {"description": "Declared already, or the application is no longer in review."},
    },
)
def declare_conflict(
    application_id: UUID,
    body: ConflictDeclaration,
    start_uow: StartUow,
    clock: AppClock,
    principal: Reviewer,
) -> DeclarationAnswer:
    """Once. A reviewer who declares a conflict can neither read nor score the application."""
    try:
        reviewer = services.declare_conflict(
            application_id, principal.subject, body.conflict, start_uow, clock
        )
    except (services.ApplicationNotFound, services.NotAssigned) as error:
        raise _unassigned(application_id) from error
    except InvalidTransition as error:
        raise Problem(409, f"Cannot declare: {error}.") from error
    assert reviewer.conflict is not None and reviewer.declared_at is not None  # just declared
    return DeclarationAnswer(
        application_id=application_id,
        conflict=reviewer.conflict,
        declared_at=reviewer.declared_at,
    )


@router.post(
    "/applications/{application_id}/reviews",
    summary="Score an application",
    responses={
        **NOT_ASSIGNED,
        403: {"description": "The reviewer declared a conflict of interest."},
        409: {
            "description": "Not declared yet, scored already, or the application is no "
            "longer in review."
        },
        **rules("scores: one for each criterion of the pool's rubric, each with a comment."),
    },
)
def review_application(
    application_id: UUID,
    body: ReviewCreate,
    start_uow: StartUow,
    clock: AppClock,
    principal: Reviewer,
) -> ReviewAnswer:
    """Once, after declaring no conflict of interest: every criterion of the pool's rubric
    scored 0-5 with a comment."""
    scores = [Score(s.criterion, s.score, s.comment) for s in body.scores]
    try:
        reviewer = services.review_application(
            application_id, principal.subject, scores, start_uow, clock
        )
    except (services.ApplicationNotFound, services.NotAssigned) as error:
        raise _unassigned(application_id) from error
    except services.NotDeclared as error:
        raise Problem(
            409, "Declare first whether you have a conflict of interest with this application."
        ) from error
    except services.Conflicted as error:
        raise Problem(403, "You declared a conflict of interest with this application.") from error
    except InvalidReview as error:
        raise Problem(422, f"{error}.") from error
    except InvalidTransition as error:
        raise Problem(409, f"Cannot score: {error}.") from error
    assert reviewer.reviewed_at is not None  # just scored
    return ReviewAnswer(application_id=application_id, reviewed_at=reviewer.reviewed_at)
