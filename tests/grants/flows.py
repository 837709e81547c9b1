"""Ways through grants' use cases that many tests take: a pool opened, an application
reviewed, a grant decided and paid. Each takes a unit-of-work factory: the fakes' or the
store's."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from grants import services
from grants.domain import GrantPool
from grants.domain.applications import BudgetLine, Outcome
from grants.domain.reviews import Score
from tests.fakes import FakeClock
from tests.grants.support import DURING, TERMS
from tests.grants.test_grants_application_services import DECLARATION, ORGANIZATION, SHORT

StartUow = Callable[[], AbstractContextManager[Any]]
CLOCK = FakeClock(DURING)
DECIDED_AT = DURING + timedelta(days=70)
"""After the window (TERMS close on 30 April 2026): operators decide then."""


def open_pool(start_uow: StartUow, budget_dkk: int = 40_000) -> GrantPool:
    """TERMS' pool, open (created inside its window), with this budget."""
    command = services.OpenPool(**{**TERMS, "budget_dkk": budget_dkk})
    pool, _ = services.open_pool(command, start_uow, CLOCK)
    return pool


def reviewed(
    start_uow: StartUow,
    pool: GrantPool,
    amount: int,
    *,
    score: int = 4,
    organization: UUID = ORGANIZATION,
    language: str = "da",
) -> UUID:
    """A short-form application for `amount`, submitted and scored by its one reviewer."""
    form = replace(
        SHORT, amount_dkk=amount, budget_lines=(BudgetLine("Kaffe", amount),), language=language
    )
    applicant = replace(DECLARATION, organization_id=organization)
    command = services.DraftApplication("partner-1", pool.id, applicant, form)
    application, _ = services.draft_application(command, start_uow, CLOCK)
    services.submit_application(application.id, organization, start_uow, CLOCK)
    services.assign_reviewers(application.id, ["r-1"], start_uow, CLOCK)
    services.declare_conflict(application.id, "r-1", False, start_uow, CLOCK)
    scores = [Score("fit", score, "Godt.")]
    services.review_application(application.id, "r-1", scores, start_uow, CLOCK)
    return application.id


def approve(application_id: UUID, amount: int) -> services.DecideApplication:
    return services.DecideApplication(application_id, Outcome.APPROVED, amount, "Passer godt.")


def decide(start_uow: StartUow, pool: GrantPool, *decisions: services.DecideApplication) -> None:
    services.decide_applications(pool.id, decisions, "operator-1", start_uow, FakeClock(DECIDED_AT))


def paid(
    start_uow: StartUow, pool: GrantPool, amount: int, organization: UUID = ORGANIZATION
) -> UUID:
    """A grant of `amount`, approved, its agreement accepted and paid in full."""
    granted = reviewed(start_uow, pool, amount, organization=organization)
    decide(start_uow, pool, approve(granted, amount))
    services.accept_agreement(granted, organization, start_uow, CLOCK)
    payment = services.RecordTransfer("operator-1", amount, date(2026, 7, 1), "BILAG-1")
    services.record_payment(granted, payment, start_uow, CLOCK)
    return granted
