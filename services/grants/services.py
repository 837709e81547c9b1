"""Use cases of the grants service: one function each, the only place that commits."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date
from typing import Protocol
from uuid import UUID
from zoneinfo import ZoneInfo

from contracts import IntegrationEvent
from grants import events
from grants.domain import GrantPool, PoolStatus
from grants.store import GrantPoolRepository
from runtime.clock import Clock, utcnow
from runtime.idempotency import IdempotentRequest, KeyStore, create_once

CITY = ZoneInfo("Europe/Copenhagen")


def city_today(clock: Clock) -> date:
    """The day in Copenhagen: a pool's window is in the city's dates."""
    return clock().astimezone(CITY).date()


class UnitOfWork(KeyStore, Protocol):
    @property
    def pools(self) -> GrantPoolRepository: ...

    def publish(self, event: IntegrationEvent) -> None: ...


UnitOfWorkFactory = Callable[[], AbstractContextManager[UnitOfWork]]


class PoolNotFound(Exception):
    pass


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
    )

    def create(uow: UnitOfWork) -> tuple[GrantPool, str]:
        uow.pools.add(pool)
        _publish_changes(uow, pool, today)
        return pool, str(pool.id)

    return create_once(
        start_uow,
        IdempotentRequest.of(command.created_by, command.idempotency_key, command),
        create=create,
        load=lambda uow, pool_id: _get(uow, UUID(pool_id)),
    )


def close_pool(pool_id: UUID, start_uow: UnitOfWorkFactory, clock: Clock = utcnow) -> GrantPool:
    """Stop taking applications, and publish `PoolClosed`; closing a closed pool raises
    `InvalidTransition`."""
    with start_uow() as uow:
        pool = _get(uow, pool_id, for_update=True)
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
        return _get(uow, pool_id)


def _get(uow: UnitOfWork, pool_id: UUID, for_update: bool = False) -> GrantPool:
    pool = uow.pools.get(pool_id, for_update)
    if pool is None:
        raise PoolNotFound(f"no pool {pool_id}")
    return pool
