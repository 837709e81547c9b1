"""What the service layer asks of storage: the repositories' protocols and what they hand
back."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from referrals.domain import (
    ErasedReferral,
    KnownService,
    Referral,
)


class ConcurrentUpdate(Exception):
    """Another transaction changed the referral since it was read."""


@dataclass(frozen=True)
class StoredCitizen:
    id: UUID
    blind_index: str
    identity: bytes
    """Sealed with the citizen's data key."""


@dataclass(frozen=True)
class Sealed:
    """What of a referral only the citizen's data key opens."""

    citizen_id: UUID | None
    """None while the referral waits for conversion from the legacy key."""
    note: bytes | None


@dataclass(frozen=True)
class Change:
    """One step of a referral as its care system sees it in the changes feed."""

    seq: int
    """Its place in the feed: numbers follow the order of commits."""
    referral_id: UUID
    care_record_reference: str | None
    at: datetime
    action: str
    status: str | None
    """Null once the referral was erased."""
    previous_status: str | None
    reason: str | None
    follow_up: int | None
    outcome: str | None
    score_changes: dict[str, dict[str, int]] | None


@dataclass(frozen=True)
class DueTimer:
    referral_id: UUID
    kind: str
    key: UUID


class ReferralRepository(Protocol):
    def add(self, referral: Referral, *, citizen_id: UUID, note: bytes | None) -> None: ...

    def get(self, referral_id: UUID, *, for_update: bool = False) -> Referral | None:
        """`for_update`: lock it until the commit (on PostgreSQL; SQLite has one writer)."""
        ...

    def save(self, referral: Referral) -> None:
        """Raises `ConcurrentUpdate` if it changed since it was read."""
        ...

    def sealed(self, referral_id: UUID) -> Sealed: ...

    def of_citizen(self, citizen_id: UUID) -> list[Referral]:
        """The citizen's referrals, oldest first, locked until the commit (on PostgreSQL)."""
        ...

    def erase(self, referral: Referral, tombstone: ErasedReferral) -> None:
        """Delete the referral with everything stored of it (its history and its texts, its
        sealed note, its timers, the request that created it) and keep `tombstone`.
        Raises `ConcurrentUpdate` if it changed since it was read."""
        ...

    def erased(self, referral_id: UUID) -> ErasedReferral | None:
        """The tombstone of an erased referral."""
        ...

    def legacy(self, *, after: UUID | None, limit: int) -> list[tuple[UUID, bytes]]:
        """Referrals whose identity is still under the legacy key, by id, after `after`:
        (id, Fernet ciphertext)."""
        ...

    def attach_citizen(self, referral_id: UUID, citizen_id: UUID) -> None:
        """Point the referral to its citizen and drop its legacy ciphertext."""
        ...

    def count_legacy(self) -> int: ...

    def offered_to(
        self, organization_id: UUID, status: str | None, offset: int, limit: int
    ) -> tuple[list[Referral], int]: ...

    def escalated(
        self, district: str | None, offset: int, limit: int
    ) -> tuple[list[Referral], int]: ...

    def updated_after(self, care_system: str | None, after: datetime, limit: int) -> list[Referral]:
        """Referrals whose last step was taken after `after`, the least recent first; of
        one care system, or (None) of all."""
        ...

    def changes(self, care_system: str | None, after: int, limit: int) -> list[Change]:
        """The changes numbered after `after`, in order; of one care system's referrals,
        or (None) of all."""
        ...

    def seen(self) -> Iterable[Referral]:
        """The referrals added or loaded in this unit of work."""
        ...


class CitizenRepository(Protocol):
    def find(self, blind_index: str) -> StoredCitizen | None:
        """The citizen, locked until the commit (on PostgreSQL): a submission for them and
        their erasure take turns, so that no referral is added to a citizen being erased."""
        ...

    def get(self, citizen_id: UUID) -> StoredCitizen | None: ...

    def add(self, citizen: StoredCitizen, *, now: datetime) -> None: ...

    def update_identity(self, citizen_id: UUID, identity: bytes, *, now: datetime) -> None: ...

    def remove(self, citizen_id: UUID) -> None:
        """Delete the citizen: the blind index and the sealed identity."""
        ...


class ServiceBook(Protocol):
    def get_many(self, service_ids: set[UUID]) -> dict[UUID, KnownService]: ...

    def put(self, service: KnownService, *, changed_at: datetime) -> None: ...


class TimerRepository(Protocol):
    def claim_due(self, now: datetime) -> DueTimer | None:
        """The earliest timer due by `now`, locked with its referral until the commit so
        that no other scheduler sees it; one whose referral is being changed is skipped
        (SKIP LOCKED on PostgreSQL)."""
        ...

    def remove(self, timer: DueTimer) -> bool:
        """Delete the claimed timer; False if another scheduler fired it first."""
        ...
