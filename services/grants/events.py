"""The integration events grants publishes and consumes, built from the domain."""

from __future__ import annotations

from datetime import date

from contracts import (
    ApplicationDecided,
    ApplicationSubmitted,
    IntegrationEvent,
    NoMatchFound,
    PoolAnnounced,
    PoolClosed,
    PoolOpened,
    ReferralErased,
    ReferralEscalated,
    ReferralSubmitted,
    ReportOverdue,
)
from grants.domain import GrantPool, PoolChange
from grants.domain.applications import Application, ApplicationChange

PUBLISHES: tuple[type[IntegrationEvent], ...] = (
    PoolAnnounced,
    PoolOpened,
    PoolClosed,
    ApplicationSubmitted,
    ApplicationDecided,
    ReportOverdue,
)
# Where the need is: the referrals that went unmet, and the submissions that place them.
CONSUMES: tuple[type[IntegrationEvent], ...] = (
    ReferralSubmitted,
    NoMatchFound,
    ReferralEscalated,
    ReferralErased,
)


def of_change(pool: GrantPool, change: PoolChange, today: date) -> IntegrationEvent:
    """The event telling of one change of the pool, `today` being the city's date."""
    if change in (PoolChange.CLOSED_EARLY, PoolChange.WINDOW_ENDED):
        return PoolClosed(pool_id=pool.id, closed_on=today, reason=change.value)
    terms = {
        "pool_id": pool.id,
        "name": pool.name,
        "budget_dkk": pool.budget_dkk,
        "opens_on": pool.opens_on,
        "closes_on": pool.closes_on,
        "criteria": pool.criteria,
    }
    if change is PoolChange.ANNOUNCED:
        return PoolAnnounced.model_validate(terms)
    return PoolOpened.model_validate(terms)


def of_application_change(
    application: Application, change: ApplicationChange, pool: GrantPool
) -> IntegrationEvent:
    """The event telling of one change of the application: never its contact person."""
    if change is ApplicationChange.SUBMITTED:
        return _submitted(application)
    about = {
        "application_id": application.id,
        "pool_id": application.pool_id,
        "organization_id": application.applicant.organization_id,
        "pool_name": pool.name,
        "language": application.form.language,
    }
    if change is ApplicationChange.REPORT_OVERDUE:
        return ReportOverdue.model_validate({**about, "report_due_on": application.report_due_on})
    decision = application.decision
    assert decision is not None
    return ApplicationDecided.model_validate(
        {
            **about,
            "outcome": decision.outcome.value,
            "amount_dkk": decision.amount_dkk,
            "reasons": decision.reasons,
            "decided_at": decision.decided_at,
        }
    )


def _submitted(application: Application) -> ApplicationSubmitted:
    assert application.eligibility is not None and application.submitted_at is not None
    return ApplicationSubmitted(
        application_id=application.id,
        pool_id=application.pool_id,
        organization_id=application.applicant.organization_id,
        amount_dkk=application.form.amount_dkk,
        short_form=application.eligibility.short_form,
        eligible=application.eligibility.eligible,
        failed_rules=[r.rule.value for r in application.eligibility.results if not r.passed],
        submitted_at=application.submitted_at,
    )
