"""In-memory stand-ins for the grants store, for service-layer unit tests."""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

from contracts import IntegrationEvent
from grants.domain import GrantPool, PoolStatus


class FakeGrantPoolRepository:
    """Keeps added pools apart until the unit of work commits, like a transaction."""

    def __init__(self) -> None:
        self.committed: dict[UUID, GrantPool] = {}
        self.staged: dict[UUID, GrantPool] = {}

    def add(self, pool: GrantPool) -> None:
        self.staged[pool.id] = replace(pool)

    def get(self, pool_id: UUID) -> GrantPool | None:
        found = self.committed.get(pool_id)
        return replace(found) if found else None

    def all(self, status: PoolStatus | None = None) -> list[GrantPool]:
        pools = [replace(pool) for pool in self.committed.values()]
        return [p for p in pools if status is None or p.status is status]

    def save(self, pool: GrantPool) -> None:
        self.staged[pool.id] = replace(pool)


class FakeUnitOfWork:
    """Its own factory: `start_uow()` returns it, so a test can look inside afterwards."""

    def __init__(self) -> None:
        self.committed = False
        self._pools = FakeGrantPoolRepository()
        self.keys: dict[tuple[str, str], tuple[str, str]] = {}
        self._staged_keys: dict[tuple[str, str], tuple[str, str]] = {}
        self.pending: list[IntegrationEvent] = []
        self.committed_events: list[IntegrationEvent] = []
        self.commits = 0

    @property
    def pools(self) -> FakeGrantPoolRepository:
        return self._pools

    def __call__(self) -> FakeUnitOfWork:
        return self

    def __enter__(self) -> FakeUnitOfWork:
        self.committed = False
        return self

    def __exit__(self, *args: object) -> None:
        # What was not committed is rolled back.
        self.pending.clear()
        self._pools.staged.clear()
        self._staged_keys.clear()

    def publish(self, event: IntegrationEvent) -> None:
        self.pending.append(event)

    def find_idempotency_key(self, principal: str, key: str) -> tuple[str, str] | None:
        return self.keys.get((principal, key))

    def record_idempotency_key(
        self, principal: str, key: str, fingerprint: str, resource_id: str
    ) -> None:
        self._staged_keys[(principal, key)] = (fingerprint, resource_id)

    def commit(self) -> None:
        self.committed = True
        self._pools.committed.update(self._pools.staged)
        self.keys.update(self._staged_keys)
        self.committed_events += self.pending
        self._pools.staged.clear()
        self._staged_keys.clear()
        self.pending.clear()
        self.commits += 1
