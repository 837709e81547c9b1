"""In-memory stand-ins for the referrals store, for service-layer unit tests."""

from __future__ import annotations

import copy
from uuid import UUID

from contracts import IntegrationEvent
from referrals.domain import Referral


class FakeReferralRepository:
    def __init__(self) -> None:
        self.rows: dict[UUID, tuple[Referral, bytes]] = {}

    def add(self, referral: Referral, *, identity_ciphertext: bytes) -> None:
        self.rows[referral.id] = (copy.deepcopy(referral), identity_ciphertext)

    def get(self, referral_id: UUID) -> Referral | None:
        row = self.rows.get(referral_id)
        return copy.deepcopy(row[0]) if row else None

    def save(self, referral: Referral) -> None:
        self.rows[referral.id] = (copy.deepcopy(referral), self.rows[referral.id][1])


class FakeUnitOfWork:
    """Keeps writes and events pending until `commit`, like the real one."""

    def __init__(self) -> None:
        self.committed = False
        self._referrals = FakeReferralRepository()
        self.keys: dict[tuple[str, str], tuple[str, str]] = {}
        self.committed_events: list[IntegrationEvent] = []
        self._pending: list[IntegrationEvent] = []
        self._snapshot = self._state()
        self.commits = 0

    @property
    def referrals(self) -> FakeReferralRepository:
        return self._referrals

    def _state(self) -> object:
        return copy.deepcopy((self._referrals.rows, self.keys))

    def __call__(self) -> FakeUnitOfWork:
        return self

    def __enter__(self) -> FakeUnitOfWork:
        self.committed = False
        self._snapshot = self._state()
        return self

    def __exit__(self, *args: object) -> None:
        # Roll back whatever was not committed.
        self._referrals.rows, self.keys = copy.deepcopy(self._snapshot)  # type: ignore[misc]
        self._pending = []

    def publish(self, event: IntegrationEvent) -> None:
        self._pending.append(event)

    def find_idempotency_key(self, principal: str, key: str) -> tuple[str, str] | None:
        return self.keys.get((principal, key))

    def record_idempotency_key(
        self, principal: str, key: str, fingerprint: str, resource_id: str
    ) -> None:
        self.keys[(principal, key)] = (fingerprint, resource_id)

    def commit(self) -> None:
        self.committed = True
        self.commits += 1
        self.committed_events += self._pending
        self._pending = []
        self._snapshot = self._state()
