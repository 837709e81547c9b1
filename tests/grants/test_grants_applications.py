"""Applications, their eligibility check, reviews and decisions within budget: the rules,
without I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest

from grants.domain.applications import (
    Applicant,
    Application,
    ApplicationStatus,
    BudgetLine,
    Decision,
    Form,
    InvalidApplication,
    Outcome,
)
from grants.domain.eligibility import Rule, check, published, valid_cvr
from grants.domain.funding import Budget, OverBudget
from grants.domain.pools import (
    Criterion,
    GrantPool,
    InvalidTransition,
)
from grants.domain.reviews import InvalidReview, Reviews, Score

NOW = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)
TODAY = NOW.date()
RUBRIC = (Criterion("reach", 3), Criterion("feasibility", 2), Criterion("novelty", 1))


def pool(**changes: object) -> GrantPool:
    opened = GrantPool.announce(
        name="Fællesskaber 2027",
        description="",
        budget_dkk=100_000,
        opens_on=date(2027, 1, 4),
        closes_on=date(2027, 2, 26),
        criteria="Nye fællesskaber for ensomme ældre.",
        small_grant_limit_dkk=20_000,
        created_by="operator",
        now=NOW - timedelta(days=30),
        today=TODAY,
    )
    return replace(opened, max_per_application_dkk=60_000, rubric=RUBRIC, **changes)


APPLICANT = Applicant(
    organization_id=uuid4(),
    name="Ældre Sagen Nørrebro",
    cvr="29470405",
    legal_form="association",
    municipality_code=101,
    board_unpaid=True,
)


def full_form(amount: int = 50_000) -> Form:
    return Form(
        title="Gågruppe på Nørrebro",
        description="En ugentlig gåtur med kaffe bagefter.",
        amount_dkk=amount,
        budget_lines=(BudgetLine("Kaffe", amount - 10_000), BudgetLine("Materialer", 10_000)),
        target_groups=("older_people",),
        districts=("Nørrebro",),
        expected_participants=25,
        starts_on=date(2027, 3, 1),
        ends_on=date(2027, 12, 31),
        contact_name="Karen Ølgaard",
        contact_email="karen@example.dk",
    )


def short_form(amount: int = 15_000) -> Form:
    return Form(
        title="Kortspil",
        description="Kortspil hver torsdag.",
        amount_dkk=amount,
        budget_lines=(BudgetLine("Kort og kaffe", amount),),
        contact_name="Bo Holm",
        contact_email="bo@example.dk",
    )


def submitted(form: Form | None = None, applicant: Applicant = APPLICANT, **kw: int) -> Application:
    the_pool = pool()
    form = form or full_form()
    application = Application.draft(the_pool, applicant, form, NOW)
    eligibility = check(the_pool, applicant, form, overdue_reports=kw.get("overdue", 0))
    application.submit(the_pool, eligibility, TODAY, NOW)
    return application


# --- eligibility ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cvr", "valid"),
    [
        ("29470405", True),
        ("2947 0405", True),
        ("29470406", False),
        ("09470405", False),
        ("2947040", False),
        ("abcdefgh", False),
    ],
)
def test_a_cvr_number_is_eight_digits_passing_the_registers_modulus_11_check(
    cvr: str, valid: bool
) -> None:
    assert valid_cvr(cvr) is valid


def test_an_eligible_application_is_screened_with_every_rule_recorded() -> None:
    application = submitted()

    assert application.status is ApplicationStatus.SCREENED
    assert application.eligibility is not None
    assert [r.rule for r in application.eligibility.results] == list(Rule)
    assert all(r.passed and r.reason for r in application.eligibility.results)


@pytest.mark.parametrize(
    ("applicant", "form", "overdue", "failed"),
    [
        (replace(APPLICANT, legal_form="company"), full_form(), 0, Rule.NON_PROFIT),
        (replace(APPLICANT, cvr="12345678"), full_form(), 0, Rule.CVR_NUMBER),
        (replace(APPLICANT, municipality_code=147), full_form(), 0, Rule.IN_MUNICIPALITY),
        (replace(APPLICANT, board_unpaid=False), full_form(), 0, Rule.UNPAID_BOARD),
        (APPLICANT, full_form(), 1, Rule.NO_OVERDUE_REPORT),
        (APPLICANT, full_form(70_000), 0, Rule.WITHIN_MAXIMUM),
        (
            APPLICANT,
            replace(full_form(), budget_lines=(BudgetLine("Kaffe", 10_000),)),
            0,
            Rule.BUDGET_ADDS_UP,
        ),
    ],
    ids=lambda value: value.value if isinstance(value, Rule) else "",
)
def test_an_ineligible_application_is_rejected_at_once_with_the_reason_of_each_failed_rule(
    applicant: Applicant, form: Form, overdue: int, failed: Rule
) -> None:
    application = submitted(form, applicant, overdue=overdue)

    assert application.status is ApplicationStatus.DECIDED
    assert application.decision is not None
    assert application.decision.outcome is Outcome.REJECTED
    assert application.eligibility is not None
    [failing] = [r for r in application.eligibility.results if not r.passed]
    assert failing.rule is failed
    assert application.decision.reasons == f"{failing.reason}."
    assert "Karen" not in application.decision.reasons


def test_an_operator_overrides_a_rejection_of_the_check_with_a_recorded_note() -> None:
    application = submitted(applicant=replace(APPLICANT, municipality_code=147))

    application.override_eligibility("Foreningen holder alle aktiviteter i København.", NOW)

    assert application.status is ApplicationStatus.SCREENED
    assert application.override_note == "Foreningen holder alle aktiviteter i København."
    assert application.decision is None
    with pytest.raises(InvalidTransition):
        submitted().override_eligibility("Ingen grund.", NOW)


# --- the form and the window ------------------------------------------------------------------


def test_a_short_form_application_needs_only_the_short_forms_fields() -> None:
    application = submitted(short_form())

    assert application.status is ApplicationStatus.SCREENED
    assert application.short_form


def test_a_full_application_missing_fields_is_refused_naming_them() -> None:
    the_pool = pool()
    form = replace(full_form(), districts=(), expected_participants=None)
    application = Application.draft(the_pool, APPLICANT, form, NOW)
    eligibility = check(the_pool, APPLICANT, form, overdue_reports=0)

    with pytest.raises(InvalidApplication, match=r"^districts, expected_participants: needed"):
        application.submit(the_pool, eligibility, TODAY, NOW)
    assert application.status is ApplicationStatus.DRAFT


@pytest.mark.parametrize("day", [date(2027, 1, 3), date(2027, 2, 27)])
def test_an_application_is_submitted_only_inside_the_pools_window(day: date) -> None:
    the_pool = pool()
    application = Application.draft(the_pool, APPLICANT, full_form(), NOW)
    eligibility = check(the_pool, APPLICANT, full_form(), overdue_reports=0)

    with pytest.raises(InvalidTransition, match="from 2027-01-04 to 2027-02-26"):
        application.submit(the_pool, eligibility, day, NOW)


def test_a_draft_refuses_negative_amounts_and_an_end_before_the_start() -> None:
    with pytest.raises(InvalidApplication, match=r"^budget_lines"):
        Application.draft(
            pool(), APPLICANT, replace(short_form(), budget_lines=(BudgetLine("x", 0),)), NOW
        )
    with pytest.raises(InvalidApplication, match=r"^ends_on"):
        Application.draft(pool(), APPLICANT, replace(full_form(), ends_on=date(2027, 1, 1)), NOW)


def test_an_applicant_withdraws_before_the_decision_and_not_after() -> None:
    application = submitted()
    application.withdraw(NOW)
    assert application.status is ApplicationStatus.WITHDRAWN

    rejected = submitted(applicant=replace(APPLICANT, board_unpaid=False))
    with pytest.raises(InvalidTransition):
        rejected.withdraw(NOW)


# --- reviews ----------------------------------------------------------------------------------


def scores(reach: int, feasibility: int, novelty: int) -> tuple[Score, ...]:
    return (
        Score("reach", reach, "Når mange."),
        Score("feasibility", feasibility, "Realistisk."),
        Score("novelty", novelty, "Kendt form."),
    )


def test_reviewers_declare_before_scoring_and_a_conflicted_one_can_neither_see_nor_score() -> None:
    reviews = Reviews(uuid4())
    reviews.assign("anna", NOW)
    reviews.assign("bo", NOW)

    with pytest.raises(InvalidTransition, match="after declaring"):
        reviews.of("anna").score(RUBRIC, scores(5, 4, 3), NOW)
    reviews.of("bo").declare(True, NOW)
    assert not reviews.of("bo").may_see
    with pytest.raises(InvalidTransition):
        reviews.of("bo").score(RUBRIC, scores(1, 1, 1), NOW)
    with pytest.raises(InvalidTransition, match="declared once"):
        reviews.of("bo").declare(False, NOW)
    with pytest.raises(InvalidTransition, match="not assigned"):
        reviews.of("carl")


def test_the_weighted_totals_their_mean_and_spread_are_shown_to_the_operator() -> None:
    reviews = Reviews(uuid4())
    for name, given in (("anna", scores(5, 4, 3)), ("bo", scores(3, 2, 1))):
        reviews.assign(name, NOW)
        reviews.of(name).declare(False, NOW)
        reviews.of(name).score(RUBRIC, given, NOW)

    # anna: (3*5 + 2*4 + 1*3) / 6 = 26/6; bo: (9 + 4 + 1) / 6 = 14/6
    assert reviews.totals(RUBRIC) == pytest.approx([26 / 6, 14 / 6])
    summary = reviews.summary(RUBRIC, short_form=False)
    assert (summary.reviews, summary.needed, summary.mean, summary.spread) == (2, 2, 3.33, 2.0)
    assert summary.complete
    assert not Reviews(uuid4()).summary(RUBRIC, short_form=True).complete


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (scores(5, 4, 3)[:2], "one for each criterion"),
        ((*scores(5, 4, 3)[:2], Score("novelty", 6, "Ny.")), "novelty: from 0 to 5"),
        ((*scores(5, 4, 3)[:2], Score("novelty", 3, " ")), "novelty: a comment"),
        ((*scores(5, 4, 3), Score("reach", 1, "Igen.")), "one for each criterion"),
    ],
)
def test_a_review_scores_every_criterion_once_from_0_to_5_with_a_comment(
    given: tuple[Score, ...], message: str
) -> None:
    reviews = Reviews(uuid4())
    reviews.assign("anna", NOW)
    reviews.of("anna").declare(False, NOW)

    with pytest.raises(InvalidReview, match=message):
        reviews.of("anna").score(RUBRIC, given, NOW)
    assert reviews.of("anna").reviewed_at is None


# --- decisions --------------------------------------------------------------------------------


def in_review() -> Application:
    application = submitted()
    application.start_review(NOW)
    return application


@pytest.mark.parametrize(
    ("outcome", "amount", "message"),
    [
        (Outcome.APPROVED, 40_000, "the amount asked"),
        (Outcome.PARTLY_APPROVED, 50_000, "less than asked"),
        (Outcome.PARTLY_APPROVED, 0, "more than 0"),
        (Outcome.REJECTED, 1, "grants nothing"),
    ],
)
def test_a_decision_grants_what_its_outcome_says(
    outcome: Outcome, amount: int, message: str
) -> None:
    application = in_review()
    with pytest.raises(InvalidApplication, match=message):
        application.decide(Decision(outcome, amount, "Begrundelse.", "operator", NOW), pool())
    assert application.status is ApplicationStatus.IN_REVIEW


def test_every_decision_gives_its_reasons_and_a_partial_one_its_amount() -> None:
    application = in_review()
    with pytest.raises(InvalidApplication, match="reasons"):
        application.decide(Decision(Outcome.APPROVED, 50_000, " ", "operator", NOW), pool())

    application.decide(
        Decision(Outcome.PARTLY_APPROVED, 30_000, "Færre ture.", "operator", NOW), pool()
    )

    assert (application.status, application.granted_dkk) == (ApplicationStatus.DECIDED, 30_000)


def test_decisions_are_refused_when_they_would_pass_the_budget() -> None:
    the_pool = pool()

    budget = Budget(the_pool.budget_dkk, committed_dkk=60_000, paid_dkk=0, repaid_dkk=0)

    budget.allows([40_000])
    with pytest.raises(OverBudget, match="would grant 41000 kroner; 40000 kroner of the budget"):
        budget.allows([40_000, 1_000])


def test_a_pool_publishes_every_rule_the_check_applies_in_the_same_order() -> None:
    the_pool = pool()

    found = check(the_pool, APPLICANT, full_form(), overdue_reports=0)

    assert [rule for rule, _ in published(the_pool)] == [r.rule for r in found.results]
    assert "60000 kroner" in dict(published(the_pool))[Rule.WITHIN_MAXIMUM]
