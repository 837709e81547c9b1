"""Use cases of the grants service: one function each, the only place that commits."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Protocol
from uuid import UUID

from contracts import IntegrationEvent
from grants import events
from grants.domain import GrantPool, PoolStatus
from grants.store import GrantPoolRepository
from runtime.idempotency import IdempotentRequest, KeyStore, create_once


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


def open_pool(command: OpenPool, start_uow: UnitOfWorkFactory) -> tuple[GrantPool, bool]:
    """Create the pool, open at once, and queue `PoolOpened`; a retry returns the first one.

    Returns the pool and whether it was created now. Invalid terms raise `InvalidPool`
    before anything is written.
    """
    pool = GrantPool.open(
        name=command.name,
        description=command.description,
        budget_dkk=command.budget_dkk,
        opens_on=command.opens_on,
        closes_on=command.closes_on,
        criteria=command.criteria,
        small_grant_limit_dkk=command.small_grant_limit_dkk,
        created_by=command.created_by,
        now=datetime.now(UTC),
    )

    def create(uow: UnitOfWork) -> tuple[GrantPool, str]:
        uow.pools.add(pool)
        uow.publish(events.pool_opened(pool))
        return pool, str(pool.id)

    return create_once(
        start_uow,
        IdempotentRequest.of(command.created_by, command.idempotency_key, command),
        create=create,
        load=lambda uow, pool_id: _get(uow, UUID(pool_id)),
    )


def close_pool(pool_id: UUID, start_uow: UnitOfWorkFactory) -> GrantPool:
    """Stop taking applications; closing a closed pool raises `InvalidTransition`."""
    with start_uow() as uow:
        pool = _get(uow, pool_id)
        pool.close()
        uow.pools.save(pool)
        uow.commit()
    return pool


def list_pools(start_uow: UnitOfWorkFactory, status: PoolStatus | None = None) -> list[GrantPool]:
    with start_uow() as uow:
        return uow.pools.all(status)


def get_pool(pool_id: UUID, start_uow: UnitOfWorkFactory) -> GrantPool:
    with start_uow() as uow:
        return _get(uow, pool_id)


def _get(uow: UnitOfWork, pool_id: UUID) -> GrantPool:
    pool = uow.pools.get(pool_id)
    if pool is None:
        raise PoolNotFound(f"no pool {pool_id}")
    return pool
