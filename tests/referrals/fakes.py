"""In-memory stand-ins for the referrals store, for service-layer unit tests."""

from __future__ import annotations

import copy
from uuid import UUID

from contracts import IntegrationEvent
from referrals.domain import Referral


class FakeReferralRepository:
    def __init__(self) -> None:
        self.rows: dict[UUID, tuple[Referral, bytes, str | None, str | None]] = {}

    def add(
        self,
        referral: Referral,
        *,
        identity_ciphertext: bytes,
        idempotency_key: str | None,
        request_hash: str | None,
    ) -> None:
        self.rows[referral.id] = (
            copy.deepcopy(referral), identity_ciphertext, idempotency_key, request_hash
        )

    def get(self, referral_id: UUID) -> Referral | None:
        row = self.rows.get(referral_id)
        return copy.deepcopy(row[0]) if row else None

    def by_idempotency_key(self, submitted_by: str, key: str) -> tuple[Referral, str | None] | None:
        for referral, _, stored_key, request_hash in self.rows.values():
            if referral.submitted_by == submitted_by and stored_key == key:
                return copy.deepcopy(referral), request_hash
        return None

    def save(self, referral: Referral) -> None:
        _, ciphertext, key, request_hash = self.rows[referral.id]
        self.rows[referral.id] = (copy.deepcopy(referral), ciphertext, key, request_hash)


class FakeUnitOfWork:
    """Keeps writes and events pending until `commit`, like the real one."""

    def __init__(self) -> None:
        self.referrals = FakeReferralRepository()
        self.committed_events: list[IntegrationEvent] = []
        self._pending: list[IntegrationEvent] = []
        self._snapshot = copy.deepcopy(self.referrals.rows)
        self.commits = 0

    def __call__(self) -> FakeUnitOfWork:
        return self

    def __enter__(self) -> FakeUnitOfWork:
        self._snapshot = copy.deepcopy(self.referrals.rows)
        return self

    def __exit__(self, *args: object) -> None:
        self.referrals.rows = self._snapshot  # roll back whatever was not committed
        self._pending = []

    def publish(self, event: IntegrationEvent) -> None:
        self._pending.append(event)

    def commit(self) -> None:
        self.commits += 1
        self.committed_events += self._pending
        self._pending = []
        self._snapshot = copy.deepcopy(self.referrals.rows)
