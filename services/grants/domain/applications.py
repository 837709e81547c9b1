"""An application for a grant, from draft to closed: its form, its steps and who may take
them. Rules only, no I/O.

draft → submitted → screened → in review → decided (approved, partly approved, rejected) →
agreement accepted → paid (the report is due from now) → report received → closed. The
automatic eligibility check at submission either screens the application or rejects it at
once with its reasons; the applicant may withdraw until the decision. A report that shows
money unspent makes a repayment claim: the grant closes once it is paid back.

An application records what happened to it (`changes`) for the service layer to publish.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID, uuid4

from grants.domain.eligibility import Eligibility
from grants.domain.funding import Payment, Repayment, Report
from grants.domain.pools import GrantPool, InvalidTransition


class ApplicationStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    """Submitted inside the window; screened at once (the status is seen only in between)."""
    SCREENED = "screened"
    """Every eligibility rule holds (or an operator overrode the check)."""
    IN_REVIEW = "in_review"
    DECIDED = "decided"
    AGREEMENT_ACCEPTED = "agreement_accepted"
    PAID = "paid"
    REPORT_RECEIVED = "report_received"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


class ApplicationChange(StrEnum):
    """What happened to an application that others hear of."""

    SUBMITTED = "submitted"
    DECIDED = "decided"
    REPORT_OVERDUE = "report_overdue"


LANGUAGES = ("da", "sv", "en")


class Outcome(StrEnum):
    APPROVED = "approved"
    PARTLY_APPROVED = "partly_approved"
    REJECTED = "rejected"


class InvalidApplication(ValueError):
    """The form breaks a rule; the message names the field and why, never its value."""


@dataclass(frozen=True)
class BudgetLine:
    label: str
    amount_dkk: int


@dataclass(frozen=True)
class Applicant:
    """The applying organisation as it declares itself: what eligibility checks."""

    organization_id: UUID
    name: str
    cvr: str
    """The CVR number, as written."""
    legal_form: str
    """E.g. `association` (forening), `self_governing_institution`, `company`."""
    municipality_code: int
    """Where it is registered (Copenhagen: 101)."""
    board_unpaid: bool


@dataclass(frozen=True)
class Form:
    """What an applicant fills in. A short-form application (up to the pool's limit) needs
    the title, description, amount, budget lines and contact person only."""

    title: str = ""
    description: str = ""
    amount_dkk: int = 0
    budget_lines: tuple[BudgetLine, ...] = ()
    target_groups: tuple[str, ...] = ()
    districts: tuple[str, ...] = ()
    expected_participants: int | None = None
    co_financing_dkk: int = 0
    starts_on: date | None = None
    ends_on: date | None = None
    contact_name: str = ""
    """Personal data: kept in grants, never on Kafka or in a public list."""
    contact_email: str = ""
    language: str = "da"
    """The language it is written in (`LANGUAGES`): its letters are written in it too."""

    def short(self, pool: GrantPool) -> bool:
        limit = pool.small_grant_limit_dkk
        return limit is not None and 0 < self.amount_dkk <= limit

    def missing(self, pool: GrantPool) -> list[str]:
        """The fields a submission still needs, for this amount's form."""
        needed = {
            "title": bool(self.title.strip()),
            "description": bool(self.description.strip()),
            "amount_dkk": self.amount_dkk > 0,
            "budget_lines": bool(self.budget_lines),
            "contact_name": bool(self.contact_name.strip()),
            "contact_email": bool(self.contact_email.strip()),
        }
        if not self.short(pool):
            needed |= {
                "target_groups": bool(self.target_groups),
                "districts": bool(self.districts),
                "expected_participants": bool(self.expected_participants),
                "starts_on": self.starts_on is not None,
                "ends_on": self.ends_on is not None,
            }
        return [name for name, present in needed.items() if not present]

    def check(self) -> None:
        """Rules any draft keeps, complete or not."""
        if self.language not in LANGUAGES:
            raise InvalidApplication(f"language: one of {', '.join(LANGUAGES)}")
        if self.amount_dkk < 0 or self.co_financing_dkk < 0:
            raise InvalidApplication("amount_dkk: amounts are 0 kroner or more")
        if any(line.amount_dkk <= 0 for line in self.budget_lines):
            raise InvalidApplication("budget_lines: each line is more than 0 kroner")
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise InvalidApplication("ends_on: the activity cannot end before it starts")
        if self.expected_participants is not None and self.expected_participants <= 0:
            raise InvalidApplication("expected_participants: more than 0")

    @property
    def budget_total_dkk(self) -> int:
        return sum(line.amount_dkk for line in self.budget_lines)


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    amount_dkk: int
    """What was granted: the amount asked, a part of it, or 0 when rejected."""
    reasons: str
    decided_by: str
    decided_at: datetime


@dataclass
class Application:
    id: UUID
    pool_id: UUID
    applicant: Applicant
    form: Form
    created_at: datetime
    status: ApplicationStatus = ApplicationStatus.DRAFT
    submitted_at: datetime | None = None
    eligibility: Eligibility | None = None
    override_note: str | None = None
    """An operator's reason for screening an application the check found ineligible."""
    decision: Decision | None = None
    withdrawn_at: datetime | None = None
    report_due_on: date | None = None
    """Set when money is granted: the pool's day for reports."""
    agreement_accepted_at: datetime | None = None
    payments: list[Payment] = field(default_factory=list)
    report: Report | None = None
    repayments: list[Repayment] = field(default_factory=list)
    reminded_at: datetime | None = None
    """When the organisation was reminded of its overdue report."""
    history: list[tuple[ApplicationStatus, datetime]] = field(default_factory=list)
    changes: list[ApplicationChange] = field(default_factory=list, compare=False, repr=False)
    """What happened to it in this unit of work, oldest first, not yet published."""

    @classmethod
    def draft(cls, pool: GrantPool, applicant: Applicant, form: Form, now: datetime) -> Application:
        form.check()
        application = cls(uuid4(), pool.id, applicant, form, now)
        application.history.append((ApplicationStatus.DRAFT, now))
        return application

    @property
    def short_form(self) -> bool:
        return self.eligibility is not None and self.eligibility.short_form

    def change(self, form: Form) -> None:
        self._require(ApplicationStatus.DRAFT, "changed")
        form.check()
        self.form = form

    def submit(self, pool: GrantPool, eligibility: Eligibility, today: date, now: datetime) -> None:
        """Inside the pool's window only, with every field its form needs. The eligibility
        check (made by the caller, who knows the organisation's other grants) screens it or
        rejects it at once, with its reasons."""
        self._require(ApplicationStatus.DRAFT, "submitted")
        if not pool.accepting_applications(today):
            raise InvalidTransition(
                f"the pool takes applications from {pool.opens_on} to {pool.closes_on}"
            )
        if missing := self.form.missing(pool):
            raise InvalidApplication(f"{', '.join(missing)}: needed to submit")
        self.submitted_at = now
        self.eligibility = eligibility
        self._move(ApplicationStatus.SUBMITTED, now)
        self.changes.append(ApplicationChange.SUBMITTED)
        if eligibility.eligible:
            self._move(ApplicationStatus.SCREENED, now)
        else:
            self.decision = Decision(
                Outcome.REJECTED, 0, eligibility.reasons(), "eligibility check", now
            )
            self._move(ApplicationStatus.DECIDED, now)
            self.changes.append(ApplicationChange.DECIDED)

    def override_eligibility(self, note: str, now: datetime) -> None:
        """An operator screens an application the check rejected, with a recorded note."""
        if not note.strip():
            raise InvalidApplication("note: an override says why")
        rejected_by_check = (
            self.status is ApplicationStatus.DECIDED
            and self.eligibility is not None
            and not self.eligibility.eligible
            and self.decision is not None
            and self.decision.decided_by == "eligibility check"
        )
        if not rejected_by_check:
            raise InvalidTransition("only an application the eligibility check rejected")
        self.override_note = note.strip()
        self.decision = None
        self._move(ApplicationStatus.SCREENED, now)

    def start_review(self, now: datetime) -> None:
        if self.status is ApplicationStatus.IN_REVIEW:
            return
        self._require(ApplicationStatus.SCREENED, "reviewed")
        self._move(ApplicationStatus.IN_REVIEW, now)

    def decide(self, decision: Decision, pool: GrantPool) -> None:
        """Decide it, with reasons; money granted makes its report due on the pool's day."""
        self._require(ApplicationStatus.IN_REVIEW, "decided")
        asked = self.form.amount_dkk
        if decision.outcome is Outcome.APPROVED and decision.amount_dkk != asked:
            raise InvalidApplication("amount_dkk: an approval grants the amount asked")
        if decision.outcome is Outcome.PARTLY_APPROVED and not 0 < decision.amount_dkk < asked:
            raise InvalidApplication("amount_dkk: a part is more than 0 and less than asked")
        if decision.outcome is Outcome.REJECTED and decision.amount_dkk != 0:
            raise InvalidApplication("amount_dkk: a rejection grants nothing")
        if not decision.reasons.strip():
            raise InvalidApplication("reasons: every decision gives its reasons")
        self.decision = decision
        if decision.amount_dkk:
            self.report_due_on = pool.reports_due_on
        self._move(ApplicationStatus.DECIDED, decision.decided_at)
        self.changes.append(ApplicationChange.DECIDED)

    @property
    def granted_dkk(self) -> int:
        """What the pool's budget carries for it: the amount decided, unless rejected."""
        return self.decision.amount_dkk if self.decision else 0

    # --- after the decision: agreement, payments, report, repayment -----------------------

    def accept_agreement(self, now: datetime) -> None:
        """The organisation accepts the grant's terms: money can be paid from now."""
        self._require(ApplicationStatus.DECIDED, "accepted")
        if not self.granted_dkk:
            raise InvalidTransition("a rejected application has no agreement to accept")
        self.agreement_accepted_at = now
        self._move(ApplicationStatus.AGREEMENT_ACCEPTED, now)

    @property
    def paid_dkk(self) -> int:
        return sum(payment.amount_dkk for payment in self.payments)

    def pay(self, payment: Payment) -> None:
        """Record money paid out, in one payment or several, never more than was granted.
        The first payment makes the report due."""
        if self.status not in (ApplicationStatus.AGREEMENT_ACCEPTED, ApplicationStatus.PAID):
            raise InvalidTransition(
                f"an application that is {self.status} cannot be paid: "
                "its agreement is accepted first"
            )
        if not payment.reference.strip():
            raise InvalidApplication("reference: a payment names its reference")
        left = self.granted_dkk - self.paid_dkk
        if not 0 < payment.amount_dkk <= left:
            raise InvalidApplication(
                f"amount_dkk: more than 0 kroner and at most the {left} kroner left to pay"
            )
        self.payments.append(payment)
        if self.status is ApplicationStatus.AGREEMENT_ACCEPTED:
            self._move(ApplicationStatus.PAID, payment.recorded_at)

    def report_overdue(self, today: date) -> bool:
        """Paid, and its report not received by its due day."""
        return (
            self.status is ApplicationStatus.PAID
            and self.report_due_on is not None
            and self.report_due_on < today
        )

    def remind_of_report(self, today: date, now: datetime) -> bool:
        """Remind the organisation, once, of a report that is overdue; whether it did."""
        if not self.report_overdue(today) or self.reminded_at is not None:
            return False
        self.reminded_at = now
        self.changes.append(ApplicationChange.REPORT_OVERDUE)
        return True

    @property
    def repayment_claim_dkk(self) -> int:
        """Money paid and, as the report shows, not spent: the organisation pays it back."""
        if self.report is None:
            return 0
        return max(self.paid_dkk - self.report.spent_dkk, 0)

    @property
    def repaid_dkk(self) -> int:
        return sum(repayment.amount_dkk for repayment in self.repayments)

    def receive_report(self, report: Report) -> None:
        """The report on what the grant did; closes the grant unless money is to be paid
        back."""
        self._require(ApplicationStatus.PAID, "reported on")
        if min(report.participants, report.activities, report.spent_dkk) < 0:
            raise InvalidApplication("participants, activities, spent_dkk: 0 or more")
        self.report = report
        self._move(ApplicationStatus.REPORT_RECEIVED, report.received_at)
        if not self.repayment_claim_dkk:
            self._move(ApplicationStatus.CLOSED, report.received_at)

    def repay(self, repayment: Repayment) -> None:
        """Record money paid back; the grant closes when the whole claim is repaid."""
        self._require(ApplicationStatus.REPORT_RECEIVED, "repaid")
        owed = self.repayment_claim_dkk - self.repaid_dkk
        if not repayment.reference.strip():
            raise InvalidApplication("reference: a repayment names its reference")
        if not 0 < repayment.amount_dkk <= owed:
            raise InvalidApplication(
                f"amount_dkk: more than 0 kroner and at most the {owed} kroner owed"
            )
        self.repayments.append(repayment)
        if self.repaid_dkk == self.repayment_claim_dkk:
            self._move(ApplicationStatus.CLOSED, repayment.recorded_at)

    def withdraw(self, now: datetime) -> None:
        before_decision = (
            ApplicationStatus.DRAFT,
            ApplicationStatus.SUBMITTED,
            ApplicationStatus.SCREENED,
            ApplicationStatus.IN_REVIEW,
        )
        if self.status not in before_decision:
            raise InvalidTransition(f"an application that is {self.status} cannot be withdrawn")
        self.withdrawn_at = now
        self._move(ApplicationStatus.WITHDRAWN, now)

    def _require(self, status: ApplicationStatus, what: str) -> None:
        if self.status is not status:
            raise InvalidTransition(f"an application that is {self.status} cannot be {what}")

    def _move(self, status: ApplicationStatus, now: datetime) -> None:
        self.status = status
        self.history.append((status, now))
