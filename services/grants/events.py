"""The integration events grants publishes and consumes, built from the domain."""

from __future__ import annotations

from contracts import (
    IntegrationEvent,
    NoMatchFound,
    PoolOpened,
    ReferralErased,
    ReferralEscalated,
    ReferralSubmitted,
)
from grants.domain import GrantPool

PUBLISHES: tuple[type[IntegrationEvent], ...] = (PoolOpened,)
# Where the need is: the referrals that went unmet, and the submissions that place them.
CONSUMES: tuple[type[IntegrationEvent], ...] = (
    ReferralSubmitted,
    NoMatchFound,
    ReferralEscalated,
    ReferralErased,
)


def pool_opened(pool: GrantPool) -> PoolOpened:
    return PoolOpened(
        pool_id=pool.id,
        name=pool.name,
        budget_dkk=pool.budget_dkk,
        opens_on=pool.opens_on,
        closes_on=pool.closes_on,
        criteria=pool.criteria,
    )
