"""A grant's money in the grants store on SQLite and PostgreSQL: revision 0006 matches the
tables, the money comes back as written, overdue reports and awards are found by query, and
operators deciding one pool at the same moment never pass its budget (PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from uuid import UUID, uuid4

import pytest
import sqlmodel
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from grants import services
from grants.domain import GrantPool
from grants.domain.applications import Outcome
from grants.domain.funding import OverBudget
from grants.store import GrantPoolRow, GrantsUnitOfWork, SqlGrantPoolRepository
from tests.fakes import FakeClock
from tests.grants.flows import DECIDED_AT, open_pool, paid, reviewed
from tests.grants.support import DURING

UowFactory = Callable[[], GrantsUnitOfWork]
SOURCE = "/brobygger/grants"
WAIT_SECONDS = 30
LATER = FakeClock(DECIDED_AT)


def test_revision_0006_makes_the_money_columns_as_the_model_has_them(engine: Engine) -> None:
    with engine.connect() as connection:
        differences = compare_metadata(
            MigrationContext.configure(connection), GrantPoolRow.metadata
        )
    assert [d for d in differences if "grant_" in repr(d)] == []


def test_a_grants_payments_report_and_repayment_come_back_as_written(
    start_uow: UowFactory,
) -> None:
    organization = uuid4()
    pool = open_pool(start_uow, 5_000_000_000)
    granted = paid(start_uow, pool, 20_000, organization)
    report = services.SubmitReport(participants=40, activities=12, spent_dkk=15_000, summary="Tak")
    services.submit_report(granted, organization, report, start_uow, LATER)
    repayment = services.RecordTransfer("operator-1", 2_000, date(2027, 2, 1), "RETUR-1")
    written = services.record_repayment(granted, repayment, start_uow, LATER)

    read = services.get_application(granted, organization, start_uow)

    assert read == written
    assert (read.paid_dkk, read.repayment_claim_dkk, read.repaid_dkk) == (20_000, 5_000, 2_000)
    assert read.report_due_on == date(2027, 6, 1)


def test_overdue_reports_are_found_per_organisation_and_reminded_of_once(
    start_uow: UowFactory,
) -> None:
    late, prompt = uuid4(), uuid4()
    pool = open_pool(start_uow, 100_000)
    paid(start_uow, pool, 10_000, late)
    reported = paid(start_uow, pool, 10_000, prompt)
    report = services.SubmitReport(participants=4, activities=2, spent_dkk=10_000, summary="")
    services.submit_report(reported, prompt, report, start_uow, LATER)
    after_due = FakeClock(DURING.replace(year=2027, month=6, day=2))

    with start_uow() as uow:
        counts = [uow.applications.overdue_reports(o, date(2027, 6, 2)) for o in (late, prompt)]
        on_the_day = uow.applications.overdue_reports(late, date(2027, 6, 1))
    assert (counts, on_the_day) == ([1, 0], 0)
    assert services.remind_of_overdue_reports(start_uow, after_due) == 1
    assert services.remind_of_overdue_reports(start_uow, after_due) == 0


def test_awards_are_the_grants_with_money_newest_decision_first(start_uow: UowFactory) -> None:
    pool = open_pool(start_uow, 100_000)
    first = paid(start_uow, pool, 10_000, uuid4())
    rejected = reviewed(start_uow, pool, 10_000, organization=uuid4())
    no = services.DecideApplication(rejected, Outcome.REJECTED, 0, "Nej.")
    services.decide_applications(pool.id, [no], "operator-1", start_uow, LATER)
    second = reviewed(start_uow, pool, 12_000, organization=uuid4())
    yes = services.DecideApplication(second, Outcome.APPROVED, 12_000, "Ja.")
    services.decide_applications(
        pool.id, [yes], "operator-1", start_uow, FakeClock(LATER.now + timedelta(days=1))
    )

    awards, total = services.list_awards(start_uow, offset=0, limit=10)

    assert total == 2
    assert [(a.application.id, a.pool.id) for a in awards] == [(second, pool.id), (first, pool.id)]


class LocksTogether(SqlGrantPoolRepository):
    """Waits before taking the pool's lock until every operator's transaction has begun, so
    that they all decide at the same moment."""

    def __init__(self, session: sqlmodel.Session, ready: threading.Barrier) -> None:
        super().__init__(session)
        self.ready = ready

    def get(self, pool_id: UUID, for_update: bool = False) -> GrantPool | None:
        if for_update:
            self.ready.wait(timeout=WAIT_SECONDS)
        return super().get(pool_id, for_update)


@pytest.mark.parametrize("engine_for", ["postgresql"], indirect=True)
def test_operators_deciding_one_pool_at_the_same_moment_never_grant_past_its_budget(
    sessions: sessionmaker[sqlmodel.Session], start_uow: UowFactory
) -> None:
    """Eight operators each approve a different 10 000-kroner application of a pool with
    40 000 kroner, all at once: four are granted, four are refused, none passes the budget."""
    operators, budget, amount = 8, 40_000, 10_000
    pool = open_pool(start_uow, budget)
    applications = [
        reviewed(start_uow, pool, amount, organization=uuid4()) for _ in range(operators)
    ]
    ready = threading.Barrier(operators)

    class Operator(GrantsUnitOfWork):
        def _open(self) -> None:
            super()._open()
            self._pools = LocksTogether(self.session, ready)

    def decide(application_id: UUID) -> str:
        approve = services.DecideApplication(application_id, Outcome.APPROVED, amount, "Ja.")
        try:
            services.decide_applications(
                pool.id, [approve], "operator", lambda: Operator(sessions, SOURCE), LATER
            )
        except OverBudget:
            return "refused"
        return "granted"

    with ThreadPoolExecutor(operators) as threads:
        outcomes = list(threads.map(decide, applications, timeout=2 * WAIT_SECONDS))

    assert sorted(outcomes) == ["granted"] * 4 + ["refused"] * 4
    found = services.pool_budget(pool.id, start_uow)
    assert (found.committed_dkk, found.remaining_dkk) == (budget, 0)
