"""Use cases of a grant's money: decisions within the pool's budget, the agreement, payments,
the report and repayment, reminders of overdue reports, and the budget."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from uuid import UUID

from grants.domain import GrantPool, InvalidTransition
from grants.domain.applications import (
    Application,
    ApplicationStatus,
    Decision,
    InvalidApplication,
    Outcome,
)
from grants.domain.funding import Budget, Payment, Repayment, Report
from grants.services.common import (
    ApplicationNotFound,
    UnitOfWorkFactory,
    city_today,
    load_application,
    load_pool,
    publish_changes,
)
from grants.services.reviews import ReviewedApplication, reviewed
from runtime.clock import Clock, utcnow

_Change = Callable[[Application], None]


class ReviewsMissing(InvalidTransition):
    """An application is decided only once it has the reviews it needs."""


@dataclass(frozen=True)
class DecideApplication:
    application_id: UUID
    outcome: Outcome
    amount_dkk: int
    """What is granted: the amount asked (approved), a part of it, or 0 (rejected)."""
    reasons: str


def decide_applications(
    pool_id: UUID,
    decisions: Sequence[DecideApplication],
    decided_by: str,
    start_uow: UnitOfWorkFactory,
    clock: Clock = utcnow,
) -> list[Application]:
    """Decide a batch of the pool's reviewed applications, all or none: what they grant
    fits in what remains of the budget, also when operators decide at the same moment (the
    pool's row is locked, so deciders of one pool take turns). Publishes `ApplicationDecided`
    for each."""
    ids = [decision.application_id for decision in decisions]
    if len(set(ids)) != len(ids):
        raise InvalidApplication("decisions: each application is decided once in a batch")
    now = clock()
    with start_uow() as uow:
        pool = load_pool(uow, pool_id, for_update=True)
        applications = {a.id: a for a in uow.applications.of_pool(pool_id)}
        budget = Budget.of(pool, applications.values())
        decided = []
        for command in decisions:
            application = applications.get(command.application_id)
            if application is None:
                raise ApplicationNotFound(command.application_id)
            summary = reviewed(uow, application, uow.reviews.of(application.id)).summary
            if application.status is ApplicationStatus.IN_REVIEW and not summary.complete:
                raise ReviewsMissing(
                    f"application {application.id} has {summary.reviews} of the "
                    f"{summary.needed} reviews it needs"
                )
            decision = Decision(
                command.outcome, command.amount_dkk, command.reasons, decided_by, now
            )
            try:
                application.decide(decision, pool)
            except (InvalidApplication, InvalidTransition) as error:
                raise type(error)(f"application {application.id}: {error}") from error
            decided.append(application)
        budget.allows(application.granted_dkk for application in decided)
        for application in decided:
            uow.applications.save(application)
            publish_changes(uow, application, pool)
        uow.commit()
    return decided


def rank_applications(pool_id: UUID, start_uow: UnitOfWorkFactory) -> list[ReviewedApplication]:
    """For the operator deciding: the pool's applications in review, the best weighted mean
    first; those still waiting for reviews after the rest."""
    with start_uow() as uow:
        load_pool(uow, pool_id)
        ranked = [
            reviewed(uow, application, uow.reviews.of(application.id))
            for application in uow.applications.of_pool(pool_id)
            if application.status is ApplicationStatus.IN_REVIEW
        ]
    return sorted(ranked, key=lambda r: (not r.summary.complete, -(r.summary.mean or 0.0)))


def accept_agreement(
    application_id: UUID,
    organization_id: UUID,
    start_uow: UnitOfWorkFactory,
    clock: Clock = utcnow,
) -> Application:
    """The organisation accepts its grant's terms; money can be paid from now."""
    now = clock()
    return _change(application_id, organization_id, start_uow, lambda a: a.accept_agreement(now))


@dataclass(frozen=True)
class RecordTransfer:
    """Money paid out, or paid back, as the municipality's books record it."""

    recorded_by: str
    amount_dkk: int
    day: date
    reference: str


def record_payment(
    application_id: UUID,
    command: RecordTransfer,
    start_uow: UnitOfWorkFactory,
    clock: Clock = utcnow,
) -> Application:
    """An operator records money paid out (`InvalidApplication` past what was granted)."""
    payment = Payment(
        command.amount_dkk, command.day, command.reference, command.recorded_by, clock()
    )
    return _change(application_id, None, start_uow, lambda a: a.pay(payment))


@dataclass(frozen=True)
class SubmitReport:
    participants: int
    activities: int
    spent_dkk: int
    summary: str


def submit_report(
    application_id: UUID,
    organization_id: UUID,
    command: SubmitReport,
    start_uow: UnitOfWorkFactory,
    clock: Clock = utcnow,
) -> Application:
    """The organisation reports on a paid grant; money not spent becomes a repayment claim,
    and without one the grant closes."""
    report = Report(
        command.participants, command.activities, command.spent_dkk, command.summary, clock()
    )
    return _change(application_id, organization_id, start_uow, lambda a: a.receive_report(report))


def record_repayment(
    application_id: UUID,
    command: RecordTransfer,
    start_uow: UnitOfWorkFactory,
    clock: Clock = utcnow,
) -> Application:
    """An operator records unspent money paid back; the whole claim repaid closes it."""
    repayment = Repayment(
        command.amount_dkk, command.day, command.reference, command.recorded_by, clock()
    )
    return _change(application_id, None, start_uow, lambda a: a.repay(repayment))


def remind_of_overdue_reports(
    start_uow: UnitOfWorkFactory, clock: Clock = utcnow, limit: int = 100
) -> int:
    """Publish `ReportOverdue` once for each paid grant whose report's day has passed;
    returns how many. (The overdue report blocks the organisation's next application from
    that day on, reminded or not.)"""
    today, now = city_today(clock), clock()
    with start_uow() as uow:
        due = uow.applications.due_for_reminder(today, limit)
        pools: dict[UUID, GrantPool] = {}
        for application in due:
            application.remind_of_report(today, now)
            uow.applications.save(application)
            pool = pools.get(application.pool_id) or load_pool(uow, application.pool_id)
            pools[pool.id] = pool
            publish_changes(uow, application, pool)
        uow.commit()
    return len(due)


def pool_budget(pool_id: UUID, start_uow: UnitOfWorkFactory) -> Budget:
    with start_uow() as uow:
        pool = load_pool(uow, pool_id)
        return Budget.of(pool, uow.applications.of_pool(pool_id))


def _change(
    application_id: UUID,
    organization_id: UUID | None,
    start_uow: UnitOfWorkFactory,
    change: _Change,
) -> Application:
    with start_uow() as uow:
        application = load_application(uow, application_id, organization_id, for_update=True)
        change(application)
        uow.applications.save(application)
        uow.commit()
    return application
