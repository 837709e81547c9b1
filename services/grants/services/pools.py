"""Use cases of pools: announce, open and close them, read them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from grants import events
from grants.domain import GrantPool, PoolStatus
from grants.domain.pools import Criterion
from grants.services.common import (
    UnitOfWork,
    UnitOfWorkFactory,
    city_today,
    load_pool,
)
from runtime.clock import Clock, utcnow
from runtime.idempotency import IdempotentRequest, create_once


@dataclass(frozen=True)
class OpenPool:
    created_by: str
    name: str
    description: str
    budget_dkk: int
    opens_on: date
    closes_on: date
    criteria: str
    small_grant_limit_dkk: int | None = None
    idempotency_key: str | None = None
    target_groups: tuple[str, ...] = ()
    rubric: tuple[Criterion, ...] | None = None
    """None: `pools.DEFAULT_RUBRIC`."""
    max_per_application_dkk: int | None = None
    report_due_on: date | None = None
    """None: 1 June of the year after the pool closes."""


def open_pool(
    command: OpenPool, start_uow: UnitOfWorkFactory, clock: Clock = utcnow
) -> tuple[GrantPool, bool]:
    """Create the pool and queue `PoolAnnounced`, and `PoolOpened` too when its window has
    begun; a retry returns the first one.

    Returns the pool and whether it was created now. Invalid terms raise `InvalidPool`
    before anything is written.
    """
    now = clock()
    today = city_today(clock)
    pool = GrantPool.announce(
        name=command.name,
        description=command.description,
        budget_dkk=command.budget_dkk,
        opens_on=command.opens_on,
        closes_on=command.closes_on,
        criteria=command.criteria,
        small_grant_limit_dkk=command.small_grant_limit_dkk,
        created_by=command.created_by,
        now=now,
        today=today,
        target_groups=command.target_groups,
        report_due_on=command.report_due_on,
        rubric=command.rubric,
        max_per_application_dkk=command.max_per_application_dkk,
    )

    def create(uow: UnitOfWork) -> tuple[GrantPool, str]:
        uow.pools.add(pool)
        _publish_changes(uow, pool, today)
        return pool, str(pool.id)

    return create_once(
        start_uow,
        IdempotentRequest.of(command.created_by, command.idempotency_key, command),
        create=create,
        load=lambda uow, pool_id: load_pool(uow, UUID(pool_id)),
    )


def close_pool(pool_id: UUID, start_uow: UnitOfWorkFactory, clock: Clock = utcnow) -> GrantPool:
    """Stop taking applications, and publish `PoolClosed`; closing a closed pool raises
    `InvalidTransition`."""
    with start_uow() as uow:
        pool = load_pool(uow, pool_id, for_update=True)
        pool.close()
        uow.pools.save(pool)
        _publish_changes(uow, pool, city_today(clock))
        uow.commit()
    return pool


def advance_pools(start_uow: UnitOfWorkFactory, clock: Clock = utcnow, limit: int = 100) -> int:
    """Open the pools whose opening day has come and close those whose closing day has
    passed, each publishing what happened; returns how many changed."""
    today = city_today(clock)
    with start_uow() as uow:
        pools = uow.pools.due_to_advance(today, limit)
        for pool in pools:
            pool.advance(today)
            uow.pools.save(pool)
            _publish_changes(uow, pool, today)
        uow.commit()
    return len(pools)


def _publish_changes(uow: UnitOfWork, pool: GrantPool, today: date) -> None:
    for change in pool.changes:
        uow.publish(events.of_change(pool, change, today))
    pool.changes.clear()


def list_pools(start_uow: UnitOfWorkFactory, status: PoolStatus | None = None) -> list[GrantPool]:
    with start_uow() as uow:
        return uow.pools.all(status)


def get_pool(pool_id: UUID, start_uow: UnitOfWorkFactory) -> GrantPool:
    with start_uow() as uow:
        return load_pool(uow, pool_id)
