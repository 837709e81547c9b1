"""A grant's money on fakes: batch decisions within the budget, the agreement, payments,
the report and its repayment claim, reminders of overdue reports and the rule they feed;
what each use case commits and publishes."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from uuid import UUID, uuid4

import pytest

from contracts import ApplicationDecided, ReportOverdue
from grants import services
from grants.domain import GrantPool, InvalidTransition
from grants.domain.applications import ApplicationStatus, InvalidApplication, Outcome
from grants.domain.funding import OverBudget
from tests.fakes import FakeClock
from tests.grants.fakes import FakeUnitOfWork
from tests.grants.flows import CLOCK, DECIDED_AT, approve, decide, open_pool, paid, reviewed
from tests.grants.support import DURING, TERMS
from tests.grants.test_grants_application_services import DECLARATION, ORGANIZATION, SHORT

REPORT_DUE = date(2027, 6, 1)
"""TERMS name no report day: 1 June of the year after the pool closes."""


def test_a_batch_decides_each_application_and_publishes_each_decision_for_its_letter() -> None:
    uow = FakeUnitOfWork()
    pool = open_pool(uow)
    first = reviewed(uow, pool, 15_000, language="sv")
    second = reviewed(uow, pool, 25_000)
    before = len(uow.committed_events)

    decided = services.decide_applications(
        pool.id,
        [
            approve(first, 15_000),
            services.DecideApplication(second, Outcome.PARTLY_APPROVED, 20_000, "Færre ture."),
        ],
        "operator-1",
        uow,
        FakeClock(DECIDED_AT),
    )

    assert [a.status for a in decided] == [ApplicationStatus.DECIDED] * 2
    assert [a.report_due_on for a in decided] == [REPORT_DUE, REPORT_DUE]
    letters = uow.committed_events[before:]
    assert letters[0] == ApplicationDecided(
        application_id=first,
        pool_id=pool.id,
        organization_id=ORGANIZATION,
        outcome="approved",
        amount_dkk=15_000,
        reasons="Passer godt.",
        decided_at=DECIDED_AT,
        pool_name=pool.name,
        language="sv",
    )
    assert isinstance(letters[1], ApplicationDecided) and letters[1].amount_dkk == 20_000
    budget = services.pool_budget(pool.id, uow)
    assert (budget.committed_dkk, budget.remaining_dkk) == (35_000, 5_000)


def test_a_batch_that_would_pass_the_budget_decides_nothing_and_publishes_nothing() -> None:
    uow = FakeUnitOfWork()
    pool = open_pool(uow)
    decide(uow, pool, approve(reviewed(uow, pool, 25_000), 25_000))
    first, second = reviewed(uow, pool, 10_000), reviewed(uow, pool, 10_000)
    commits, events = uow.commits, len(uow.committed_events)

    with pytest.raises(OverBudget, match="would grant 20000 kroner; 15000 kroner"):
        decide(uow, pool, approve(first, 10_000), approve(second, 10_000))

    assert (uow.commits, len(uow.committed_events)) == (commits, events)
    assert {uow.applications.rows[a].status for a in (first, second)} == {
        ApplicationStatus.IN_REVIEW
    }


def test_a_rejection_grants_nothing_and_so_fits_any_budget() -> None:
    uow = FakeUnitOfWork()
    pool = open_pool(uow, budget_dkk=25_000)
    decide(uow, pool, approve(reviewed(uow, pool, 25_000), 25_000))
    late = reviewed(uow, pool, 15_000)

    decide(uow, pool, services.DecideApplication(late, Outcome.REJECTED, 0, "Ikke nok midler."))

    assert uow.applications.rows[late].granted_dkk == 0
    assert uow.applications.rows[late].report_due_on is None


def in_review(uow: FakeUnitOfWork, pool: GrantPool) -> UUID:
    """A short-form application given its reviewer, who has not scored it yet."""
    command = services.DraftApplication("partner-1", pool.id, DECLARATION, SHORT)
    application, _ = services.draft_application(command, uow, CLOCK)
    services.submit_application(application.id, ORGANIZATION, uow, CLOCK)
    services.assign_reviewers(application.id, ["r-1"], uow, CLOCK)
    return application.id


def test_an_application_still_waiting_for_its_review_cannot_be_decided() -> None:
    uow = FakeUnitOfWork()
    pool = open_pool(uow)
    waiting = in_review(uow, pool)

    with pytest.raises(services.ReviewsMissing, match="0 of the 1 reviews"):
        decide(uow, pool, approve(waiting, SHORT.amount_dkk))


def test_a_batch_names_only_the_pools_applications_and_each_once() -> None:
    uow = FakeUnitOfWork()
    pool, other = open_pool(uow), open_pool(uow)
    elsewhere = reviewed(uow, other, 10_000)
    mine = reviewed(uow, pool, 10_000)

    with pytest.raises(services.ApplicationNotFound):
        decide(uow, pool, approve(elsewhere, 10_000))
    with pytest.raises(InvalidApplication, match="decided once"):
        decide(uow, pool, approve(mine, 10_000), approve(mine, 10_000))


def test_the_ranking_puts_the_best_mean_first_and_those_waiting_for_reviews_last() -> None:
    uow = FakeUnitOfWork()
    pool = open_pool(uow)
    fair = reviewed(uow, pool, 10_000, score=2)
    best = reviewed(uow, pool, 10_000, score=5)
    waiting = in_review(uow, pool)

    ranked = services.rank_applications(pool.id, uow)

    assert [r.application.id for r in ranked] == [best, fair, waiting]
    assert [r.summary.mean for r in ranked] == [5.0, 2.0, None]


def test_a_grant_is_paid_after_its_agreement_and_closes_once_unspent_money_is_repaid() -> None:
    uow = FakeUnitOfWork()
    pool = open_pool(uow)
    granted = reviewed(uow, pool, 20_000)
    decide(uow, pool, approve(granted, 20_000))
    later = FakeClock(DECIDED_AT + timedelta(days=5))
    payment = services.RecordTransfer("operator-1", 12_000, date(2026, 7, 1), "BILAG-1")

    with pytest.raises(InvalidTransition, match="agreement is accepted first"):
        services.record_payment(granted, payment, uow, later)
    services.accept_agreement(granted, ORGANIZATION, uow, later)
    services.record_payment(granted, payment, uow, later)
    too_much = replace(payment, amount_dkk=8_001, reference="BILAG-2")
    with pytest.raises(InvalidApplication, match="8000 kroner left to pay"):
        services.record_payment(granted, too_much, uow, later)
    services.record_payment(granted, replace(payment, amount_dkk=8_000), uow, later)
    report = services.SubmitReport(participants=31, activities=24, spent_dkk=17_500, summary="")
    reported = services.submit_report(granted, ORGANIZATION, report, uow, later)

    assert (reported.status, reported.repayment_claim_dkk) == (
        ApplicationStatus.REPORT_RECEIVED,
        2_500,
    )
    repayment = services.RecordTransfer("operator-1", 2_500, date(2027, 2, 1), "RETUR-1")
    closed = services.record_repayment(granted, repayment, uow, later)
    assert closed.status is ApplicationStatus.CLOSED
    budget = services.pool_budget(pool.id, uow)
    assert (budget.committed_dkk, budget.paid_dkk, budget.repaid_dkk) == (20_000, 20_000, 2_500)
    assert budget.remaining_dkk == 40_000 - 20_000 + 2_500


def test_a_report_that_spent_everything_paid_closes_the_grant_at_once() -> None:
    uow = FakeUnitOfWork()
    pool = open_pool(uow)
    granted = paid(uow, pool, 10_000)

    report = services.SubmitReport(participants=12, activities=10, spent_dkk=10_400, summary="")
    closed = services.submit_report(granted, ORGANIZATION, report, uow, CLOCK)

    assert (closed.status, closed.repayment_claim_dkk) == (ApplicationStatus.CLOSED, 0)
    assert [status for status, _ in closed.history][-2:] == [
        ApplicationStatus.REPORT_RECEIVED,
        ApplicationStatus.CLOSED,
    ]


def test_only_the_applying_organisation_accepts_its_agreement_and_a_rejection_has_none() -> None:
    uow = FakeUnitOfWork()
    pool = open_pool(uow)
    granted, rejected = reviewed(uow, pool, 10_000), reviewed(uow, pool, 10_000)
    decide(
        uow,
        pool,
        approve(granted, 10_000),
        services.DecideApplication(rejected, Outcome.REJECTED, 0, "Uden for formålet."),
    )

    with pytest.raises(services.ApplicationNotFound):
        services.accept_agreement(granted, uuid4(), uow, CLOCK)
    with pytest.raises(InvalidTransition, match="no agreement"):
        services.accept_agreement(rejected, ORGANIZATION, uow, CLOCK)


def test_an_overdue_report_is_reminded_once_and_blocks_the_organisations_next_application() -> None:
    uow = FakeUnitOfWork()
    pool = open_pool(uow)
    granted = paid(uow, pool, 10_000)
    on_the_day = FakeClock(DURING.replace(year=2027, month=6, day=1))
    day_after = FakeClock(DURING.replace(year=2027, month=6, day=2))

    assert services.remind_of_overdue_reports(uow, on_the_day) == 0
    before = len(uow.committed_events)
    assert services.remind_of_overdue_reports(uow, day_after) == 1
    assert services.remind_of_overdue_reports(uow, day_after) == 0

    assert uow.committed_events[before:] == [
        ReportOverdue(
            application_id=granted,
            pool_id=pool.id,
            organization_id=ORGANIZATION,
            report_due_on=REPORT_DUE,
            pool_name=pool.name,
            language="da",
        )
    ]
    next_pool, _ = services.open_pool(
        services.OpenPool(**{**TERMS, "opens_on": date(2027, 6, 1), "closes_on": date(2027, 7, 1)}),
        uow,
        day_after,
    )
    command = services.DraftApplication("partner-1", next_pool.id, DECLARATION, SHORT)
    application, _ = services.draft_application(command, uow, day_after)
    rejected = services.submit_application(application.id, ORGANIZATION, uow, day_after)
    assert rejected.eligibility is not None
    assert [r.rule.value for r in rejected.eligibility.results if not r.passed] == [
        "no_overdue_report"
    ]


def test_a_report_received_lifts_the_block_on_the_next_application() -> None:
    uow = FakeUnitOfWork()
    pool = open_pool(uow)
    granted = paid(uow, pool, 10_000)
    late = date(2027, 6, 10)

    assert uow.applications.overdue_reports(ORGANIZATION, late) == 1
    report = services.SubmitReport(participants=5, activities=3, spent_dkk=10_000, summary="")
    services.submit_report(granted, ORGANIZATION, report, uow, CLOCK)
    assert uow.applications.overdue_reports(ORGANIZATION, late) == 0
