"""Use cases of the grants service: one function each, the only place that commits."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Protocol
from uuid import UUID

from sqlalchemy.exc import IntegrityError

from contracts import IntegrationEvent
from grants import events
from grants.domain import GrantPool, PoolStatus
from grants.store import GrantPoolRepository


class UnitOfWork(Protocol):
    pools: GrantPoolRepository

    def publish(self, event: IntegrationEvent) -> None: ...

    def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWorkContext: ...


class UnitOfWorkContext(Protocol):
    def __enter__(self) -> UnitOfWork: ...

    def __exit__(self, *args: object) -> None: ...


class IdempotencyConflict(Exception):
    """The same Idempotency-Key came with a different request body."""


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

    def fingerprint(self) -> str:
        """Identifies the request body, to tell a retry from a reuse of the key."""
        body = {k: v for k, v in asdict(self).items() if k != "idempotency_key"}
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


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
    with start_uow() as uow:
        earlier = _earlier_pool(uow, command)
        if earlier:
            return earlier, False
        uow.pools.add(
            pool,
            idempotency_key=command.idempotency_key,
            request_hash=command.fingerprint() if command.idempotency_key else None,
        )
        uow.publish(events.pool_opened(pool))
        try:
            uow.commit()
        except IntegrityError:
            # A concurrent retry with the same key won the race: answer with its pool.
            with start_uow() as fresh:
                earlier = _earlier_pool(fresh, command)
            if earlier is None:
                raise
            return earlier, False
    return pool, True


def _earlier_pool(uow: UnitOfWork, command: OpenPool) -> GrantPool | None:
    if command.idempotency_key is None:
        return None
    found = uow.pools.by_idempotency_key(command.created_by, command.idempotency_key)
    if found is None:
        return None
    pool, request_hash = found
    if request_hash != command.fingerprint():
        raise IdempotencyConflict("this Idempotency-Key was already used for a different pool")
    return pool


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
