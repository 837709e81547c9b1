"""The automatic eligibility check at submission: every rule, each with its result and the
reason, so that an applicant who is turned down knows why and an operator can override with
a note. Rules only, no I/O: what the check needs to know of the organisation's earlier
grants (an overdue report) is given to it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grants.domain.applications import Applicant, Form
    from grants.domain.pools import GrantPool

COPENHAGEN = 101
"""The municipality's code (kommunekode) in Danish registers."""

NON_PROFIT_FORMS = frozenset({"association", "self_governing_institution", "fund"})
"""Legal forms that cannot distribute a profit: forening, selvejende institution, fond."""

_CVR = re.compile(r"[1-9][0-9]{7}")
_CVR_WEIGHTS = (2, 7, 6, 5, 4, 3, 2, 1)


class Rule(StrEnum):
    NON_PROFIT = "non_profit"
    CVR_NUMBER = "cvr_number"
    IN_MUNICIPALITY = "in_municipality"
    UNPAID_BOARD = "unpaid_board"
    NO_OVERDUE_REPORT = "no_overdue_report"
    WITHIN_MAXIMUM = "within_maximum"
    BUDGET_ADDS_UP = "budget_adds_up"


@dataclass(frozen=True)
class RuleResult:
    rule: Rule
    passed: bool
    reason: str
    """Why it passed or failed, in words an applicant reads; never a personal detail."""


@dataclass(frozen=True)
class Eligibility:
    results: tuple[RuleResult, ...]
    short_form: bool
    """The amount is within the pool's short-form limit: fewer fields, one reviewer."""

    @property
    def eligible(self) -> bool:
        return all(result.passed for result in self.results)

    def reasons(self) -> str:
        """The failed rules' reasons, one sentence each."""
        return " ".join(f"{r.reason}." for r in self.results if not r.passed)


def valid_cvr(cvr: str) -> bool:
    """Eight digits, not starting with 0, whose weighted sum (2, 7, 6, 5, 4, 3, 2, 1) is a
    multiple of 11: the CVR register's own check."""
    digits = cvr.replace(" ", "")
    if not _CVR.fullmatch(digits):
        return False
    return sum(int(d) * w for d, w in zip(digits, _CVR_WEIGHTS, strict=True)) % 11 == 0


def check(
    pool: GrantPool, applicant: Applicant, form: Form, *, overdue_reports: int
) -> Eligibility:
    """Every rule, in a fixed order; `overdue_reports`: how many reports of the
    organisation's earlier grants are past their due date and not received."""
    maximum = pool.max_per_application_dkk
    results = (
        RuleResult(
            Rule.NON_PROFIT,
            applicant.legal_form in NON_PROFIT_FORMS,
            "The organisation is a non-profit (an association, a self-governing institution "
            "or a fund)"
            if applicant.legal_form in NON_PROFIT_FORMS
            else "Only non-profit organisations can apply: associations, self-governing "
            "institutions and funds",
        ),
        RuleResult(
            Rule.CVR_NUMBER,
            valid_cvr(applicant.cvr),
            "The CVR number is well-formed"
            if valid_cvr(applicant.cvr)
            else "The CVR number is not eight digits that pass the register's check",
        ),
        RuleResult(
            Rule.IN_MUNICIPALITY,
            applicant.municipality_code == COPENHAGEN,
            "The organisation is registered in Copenhagen"
            if applicant.municipality_code == COPENHAGEN
            else "The organisation must be registered in the City of Copenhagen",
        ),
        RuleResult(
            Rule.UNPAID_BOARD,
            applicant.board_unpaid,
            "The board is unpaid"
            if applicant.board_unpaid
            else "The board must be unpaid volunteers",
        ),
        RuleResult(
            Rule.NO_OVERDUE_REPORT,
            overdue_reports == 0,
            "No report of an earlier grant is overdue"
            if overdue_reports == 0
            else f"{overdue_reports} report(s) of earlier grants are overdue",
        ),
        RuleResult(
            Rule.WITHIN_MAXIMUM,
            maximum is None or form.amount_dkk <= maximum,
            "The amount is within the pool's maximum per application"
            if maximum is None or form.amount_dkk <= maximum
            else f"The amount is over the pool's maximum of {maximum} kroner per application",
        ),
        RuleResult(
            Rule.BUDGET_ADDS_UP,
            form.budget_total_dkk == form.amount_dkk,
            "The budget lines add up to the amount asked"
            if form.budget_total_dkk == form.amount_dkk
            else f"The budget lines add up to {form.budget_total_dkk} kroner, "
            f"not the {form.amount_dkk} asked",
        ),
    )
    return Eligibility(results, form.short(pool))


def published(pool: GrantPool) -> tuple[tuple[Rule, str], ...]:
    """The rules as the pool publishes them, in the order `check` applies them: what an
    application must meet, in words an applicant reads before applying."""
    maximum = pool.max_per_application_dkk
    return (
        (
            Rule.NON_PROFIT,
            "The organisation is a non-profit: an association, a self-governing institution "
            "or a fund",
        ),
        (Rule.CVR_NUMBER, "It has a CVR number (eight digits that pass the register's check)"),
        (Rule.IN_MUNICIPALITY, "It is registered in the City of Copenhagen"),
        (Rule.UNPAID_BOARD, "Its board members are unpaid volunteers"),
        (Rule.NO_OVERDUE_REPORT, "No report of an earlier grant to it is overdue"),
        (
            Rule.WITHIN_MAXIMUM,
            f"The amount asked is at most {maximum} kroner"
            if maximum is not None
            else f"The amount asked is at most the budget, {pool.budget_dkk} kroner",
        ),
        (Rule.BUDGET_ADDS_UP, "The budget lines add up to the amount asked"),
    )
