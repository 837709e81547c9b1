"""In-memory stand-ins for the grants store, for service-layer unit tests."""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

from grants.domain import GrantPool, PoolStatus
from tests import fakes


class FakeGrantPoolRepository:
    """Hands out copies, so that only `save` changes what is stored."""

    def __init__(self) -> None:
        self.rows: dict[UUID, GrantPool] = {}

    def add(self, pool: GrantPool) -> None:
        self.rows[pool.id] = replace(pool)

    def get(self, pool_id: UUID) -> GrantPool | None:
        found = self.rows.get(pool_id)
        return replace(found) if found else None

    def all(self, status: PoolStatus | None = None) -> list[GrantPool]:
        pools = [replace(pool) for pool in self.rows.values()]
        return [p for p in pools if status is None or p.status is status]

    def save(self, pool: GrantPool) -> None:
        self.rows[pool.id] = replace(pool)


class FakeUnitOfWork(fakes.FakeUnitOfWork):
    """The grant pools in memory, with the shared unit of work's transactions."""

    def __init__(self) -> None:
        super().__init__()
        self.pools = FakeGrantPoolRepository()

    def _tables(self) -> list[object]:
        return [self.pools]
