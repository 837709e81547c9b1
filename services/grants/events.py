"""The integration events grants publishes and consumes, built from the domain."""

from __future__ import annotations

from contracts import IntegrationEvent, PoolOpened
from grants.domain import GrantPool

PUBLISHES: tuple[type[IntegrationEvent], ...] = (PoolOpened,)
CONSUMES: tuple[type[IntegrationEvent], ...] = ()


def pool_opened(pool: GrantPool) -> PoolOpened:
    return PoolOpened(
        pool_id=pool.id,
        name=pool.name,
        budget_dkk=pool.budget_dkk,
        opens_on=pool.opens_on,
        closes_on=pool.closes_on,
        criteria=pool.criteria,
    )
