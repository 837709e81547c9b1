"""In-memory stand-ins for the grants store, for service-layer unit tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from uuid import UUID

from grants.domain import GrantPool, PoolStatus
from tests import fakes


def _copy(pool: GrantPool) -> GrantPool:
    """A copy, as a row holds it: no changes waiting to be published (they are not stored)."""
    return replace(pool, changes=[])


class FakeGrantPoolRepository:
    """Hands out copies, so that only `save` changes what is stored."""

    def __init__(self) -> None:
        self.rows: dict[UUID, GrantPool] = {}

    def add(self, pool: GrantPool) -> None:
        self.rows[pool.id] = _copy(pool)

    def get(self, pool_id: UUID, for_update: bool = False) -> GrantPool | None:
        found = self.rows.get(pool_id)
        return _copy(found) if found else None

    def all(self, status: PoolStatus | None = None) -> list[GrantPool]:
        pools = [_copy(pool) for pool in self.rows.values()]
        return [p for p in pools if status is None or p.status is status]

    def save(self, pool: GrantPool) -> None:
        self.rows[pool.id] = _copy(pool)

    def due_to_advance(self, today: date, limit: int) -> list[GrantPool]:
        due = [
            pool
            for pool in self.rows.values()
            if (pool.status is PoolStatus.ANNOUNCED and pool.opens_on <= today)
            or (pool.status is PoolStatus.OPEN and pool.closes_on < today)
        ]
        due.sort(key=lambda pool: (pool.opens_on, pool.id))
        return [_copy(pool) for pool in due[:limit]]


class FakeUnitOfWork(fakes.FakeUnitOfWork):
    """The grant pools in memory, with the shared unit of work's transactions."""

    def __init__(self) -> None:
        super().__init__()
        self.pools = FakeGrantPoolRepository()

    def _tables(self) -> list[object]:
        return [self.pools]
