"""The integration events grants publishes and consumes, built from the domain."""

from __future__ import annotations

from datetime import date

from contracts import (
    IntegrationEvent,
    NoMatchFound,
    PoolAnnounced,
    PoolClosed,
    PoolOpened,
    ReferralErased,
    ReferralEscalated,
    ReferralSubmitted,
)
from grants.domain import GrantPool, PoolChange

PUBLISHES: tuple[type[IntegrationEvent], ...] = (PoolAnnounced, PoolOpened, PoolClosed)
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
