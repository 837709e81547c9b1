"""In-memory stand-ins for the referrals store, for service-layer unit tests. They keep
what the real store keeps and roll back what is not committed, like it."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Self
from uuid import UUID

from sqlalchemy.exc import IntegrityError

from contracts.referrals import CareSystemEvent
from referrals.domain import ErasedReferral, KnownService, Referral, ReferralStatus
from referrals.privacy import WrappedKey
from referrals.store import ConcurrentUpdate, DueTimer, Sealed, StoredCitizen
from runtime.audit import AuditEntry
from tests import fakes

TimerKey = tuple[UUID, str, UUID]
"""(referral id, kind, key), as the real timer table's primary key."""


@dataclass
class Tables:
    """What the database holds; copied whole for a rollback."""

    referrals: dict[UUID, tuple[Referral, Sealed]] = field(default_factory=dict)
    citizens: dict[UUID, StoredCitizen] = field(default_factory=dict)
    legacy: dict[UUID, bytes] = field(default_factory=dict)
    """Referrals' identities under the legacy key, until converted."""
    services: dict[UUID, tuple[KnownService, datetime]] = field(default_factory=dict)
    timers: dict[TimerKey, datetime] = field(default_factory=dict)
    erased: dict[UUID, ErasedReferral] = field(default_factory=dict)
    audit_log: list[AuditEntry] = field(default_factory=list)


def _stored(referral: Referral) -> Referral:
    """What a row keeps of a referral: everything but the events not yet collected."""
    kept = copy.deepcopy(referral)
    kept.events, kept.care_events = [], []
    return kept


def _timers_with(timers: dict[TimerKey, datetime], referral: Referral) -> dict[TimerKey, datetime]:
    """`timers` with the referral's made exactly its deadlines, as the real store does."""
    kept = {key: at for key, at in timers.items() if key[0] != referral.id}
    kept.update({(referral.id, d.kind, d.key): d.due_at for d in referral.deadlines()})
    return kept


class FakeReferralRepository:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow
        self._seen: dict[UUID, Referral] = {}

    @property
    def _rows(self) -> dict[UUID, tuple[Referral, Sealed]]:
        return self._uow.tables.referrals

    def seen(self) -> Iterable[Referral]:
        return self._seen.values()

    def add(self, referral: Referral, *, citizen_id: UUID, note: bytes | None) -> None:
        self._rows[referral.id] = (_stored(referral), Sealed(citizen_id, note))
        self._uow.set_timers(referral)
        self._seen[referral.id] = referral

    def get(self, referral_id: UUID, *, for_update: bool = False) -> Referral | None:
        row = self._rows.get(referral_id)
        if row is None:
            return None
        referral = copy.deepcopy(row[0])
        self._seen[referral.id] = referral
        if for_update and self._uow.other_writers:
            self._uow.other_writers.pop(0)(referral_id)
        return referral

    def save(self, referral: Referral) -> None:
        stored, sealed = self._rows[referral.id]
        if stored.version != referral.version:
            raise ConcurrentUpdate(f"referral {referral.id} changed meanwhile")
        referral.version += 1
        self._rows[referral.id] = (_stored(referral), sealed)
        self._uow.set_timers(referral)

    def sealed(self, referral_id: UUID) -> Sealed:
        return self._rows[referral_id][1]

    def of_citizen(self, citizen_id: UUID) -> list[Referral]:
        mine = [r for r, sealed in self._rows.values() if sealed.citizen_id == citizen_id]
        referrals = [copy.deepcopy(r) for r in sorted(mine, key=lambda r: (r.submitted_at, r.id))]
        self._seen.update((referral.id, referral) for referral in referrals)
        for referral in referrals:
            if self._uow.other_writers:
                self._uow.other_writers.pop(0)(referral.id)
        return referrals

    def erase(self, referral: Referral, tombstone: ErasedReferral) -> None:
        if self._rows[referral.id][0].version != referral.version:
            raise ConcurrentUpdate(f"referral {referral.id} changed meanwhile")
        del self._rows[referral.id]
        tables = self._uow.tables
        tables.timers = {key: at for key, at in tables.timers.items() if key[0] != referral.id}
        self._uow.keys = {k: v for k, v in self._uow.keys.items() if v[1] != str(referral.id)}
        tables.erased[referral.id] = tombstone

    def erased(self, referral_id: UUID) -> ErasedReferral | None:
        return self._uow.tables.erased.get(referral_id)

    def legacy(self, *, after: UUID | None, limit: int) -> list[tuple[UUID, bytes]]:
        found = sorted(i for i in self._uow.tables.legacy if after is None or i > after)
        return [(i, self._uow.tables.legacy[i]) for i in found[:limit]]

    def attach_citizen(self, referral_id: UUID, citizen_id: UUID) -> None:
        del self._uow.tables.legacy[referral_id]
        referral, _ = self._rows[referral_id]
        self._rows[referral_id] = (referral, Sealed(citizen_id, None))

    def count_legacy(self) -> int:
        return len(self._uow.tables.legacy)

    def offered_to(
        self, organization_id: UUID, status: str | None, offset: int, limit: int
    ) -> tuple[list[Referral], int]:
        found = []
        for referral, _ in self._rows.values():
            latest = referral.latest_offer_to(organization_id)
            if latest and status in (None, referral.status_for(organization_id)):
                found.append((latest.offered_at, referral))
        found.sort(key=lambda pair: (-pair[0].timestamp(), pair[1].id))
        page = [copy.deepcopy(referral) for _, referral in found[offset : offset + limit]]
        return page, len(found)

    def escalated(
        self, district: str | None, offset: int, limit: int
    ) -> tuple[list[Referral], int]:
        found = sorted(
            (
                referral
                for referral, _ in self._rows.values()
                if referral.status is ReferralStatus.ESCALATED
                and (district is None or referral.district.casefold() == district.casefold())
            ),
            key=lambda r: (r.escalated_at, r.id),
        )
        return [copy.deepcopy(r) for r in found[offset : offset + limit]], len(found)


class FakeCitizenRepository:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    def find(self, blind_index: str) -> StoredCitizen | None:
        found = [c for c in self._uow.tables.citizens.values() if c.blind_index == blind_index]
        if self._uow.citizen_arrives:
            self._uow.citizen_arrives.pop(0)()
        return found[0] if found else None

    def get(self, citizen_id: UUID) -> StoredCitizen | None:
        return self._uow.tables.citizens.get(citizen_id)

    def add(self, citizen: StoredCitizen, *, now: datetime) -> None:
        citizens = self._uow.tables.citizens
        if any(c.blind_index == citizen.blind_index for c in citizens.values()):
            raise IntegrityError("INSERT INTO citizen", None, Exception("unique blind_index"))
        citizens[citizen.id] = citizen

    def update_identity(self, citizen_id: UUID, identity: bytes, *, now: datetime) -> None:
        citizen = self._uow.tables.citizens[citizen_id]
        self._uow.tables.citizens[citizen_id] = StoredCitizen(
            citizen.id, citizen.blind_index, identity
        )

    def remove(self, citizen_id: UUID) -> None:
        del self._uow.tables.citizens[citizen_id]


class FakeDataKeyStore:
    """The key store: a database of its own, so it commits on every call, whatever the
    referrals unit of work does."""

    def __init__(self) -> None:
        self.keys: dict[UUID, WrappedKey] = {}

    def add(self, citizen_id: UUID, wrapped: WrappedKey) -> None:
        assert citizen_id not in self.keys
        self.keys[citizen_id] = wrapped

    def get(self, citizen_id: UUID) -> WrappedKey | None:
        return self.keys.get(citizen_id)

    def not_under(
        self, kid: str, *, after: UUID | None, limit: int
    ) -> list[tuple[UUID, WrappedKey]]:
        found = sorted(
            (i, k) for i, k in self.keys.items() if k.kid != kid and (after is None or i > after)
        )
        return found[:limit]

    def replace(self, citizen_id: UUID, old: WrappedKey, new: WrappedKey) -> bool:
        if self.keys.get(citizen_id) != old:
            return False
        self.keys[citizen_id] = new
        return True

    def count(self) -> int:
        return len(self.keys)

    def remove(self, citizen_id: UUID) -> bool:
        return self.keys.pop(citizen_id, None) is not None


class FakeServiceBook:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    def get_many(self, service_ids: set[UUID]) -> dict[UUID, KnownService]:
        services = self._uow.tables.services
        return {sid: services[sid][0] for sid in service_ids if sid in services}

    def put(self, service: KnownService, *, changed_at: datetime) -> None:
        earlier = self._uow.tables.services.get(service.service_id)
        if earlier is not None and earlier[1] > changed_at:
            return
        self._uow.tables.services[service.service_id] = (service, changed_at)


class FakeTimerRepository:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    def claim_due(self, now: datetime) -> DueTimer | None:
        due = sorted((at, key) for key, at in self._uow.tables.timers.items() if at <= now)
        return DueTimer(*due[0][1]) if due else None

    def remove(self, timer: DueTimer) -> bool:
        key = (timer.referral_id, timer.kind, timer.key)
        return self._uow.tables.timers.pop(key, None) is not None


class FakeUnitOfWork(fakes.FakeUnitOfWork):
    """The referrals tables in memory, with the shared unit of work's transactions.

    Like the real one, `commit` collects the events of the referrals it handed out or was
    given."""

    def __init__(self) -> None:
        super().__init__()
        self.tables = Tables()
        self.other_writers: list[Callable[[UUID], None]] = []
        """Each runs once, right after a referral is read for update: another transaction
        that changes it and commits before this one saves."""
        self.citizen_arrives: list[Callable[[], None]] = []
        """Each runs once, right after a citizen is looked up by blind index: another
        transaction that commits just then."""
        self.crashes: list[BaseException] = []
        """Each is raised once, by a commit, instead of committing: the process died there."""
        self._referrals = FakeReferralRepository(self)
        self.care_events_published: list[CareSystemEvent] = []
        """What the referrals told their care systems (`referrals.status.v1`); kept apart
        from the events on `referrals.referral.v1`, which the tests count."""

    def _tables(self) -> list[object]:
        return [self.tables]

    @property
    def referrals(self) -> FakeReferralRepository:
        return self._referrals

    @property
    def citizens(self) -> FakeCitizenRepository:
        return FakeCitizenRepository(self)

    @property
    def services(self) -> FakeServiceBook:
        return FakeServiceBook(self)

    @property
    def timers(self) -> FakeTimerRepository:
        return FakeTimerRepository(self)

    def __enter__(self) -> Self:
        self._referrals = FakeReferralRepository(self)
        return super().__enter__()

    def audit(self, entry: AuditEntry) -> None:
        self.tables.audit_log.append(entry)

    def commit(self) -> None:
        if self.crashes:
            raise self.crashes.pop(0)
        for referral in self._referrals.seen():
            for event in referral.events:
                self.publish(event)
            self.care_events_published += referral.care_events
            referral.events.clear()
            referral.care_events.clear()
        super().commit()

    # --- what tests use to look inside and to interfere -----------------------------------

    def set_timers(self, referral: Referral) -> None:
        self.tables.timers = _timers_with(self.tables.timers, referral)

    def stored(self, referral_id: UUID) -> Referral:
        return copy.deepcopy(self.tables.referrals[referral_id][0])

    def commit_elsewhere(self, referral_id: UUID, change: Callable[[Referral], object]) -> None:
        """Another transaction changes the stored referral and commits, now."""
        referral, sealed = self.tables.referrals[referral_id]
        changed = copy.deepcopy(referral)
        change(changed)
        self.committed_events += changed.events
        changed.version += 1

        def write() -> None:
            self.tables.referrals[referral_id] = (_stored(changed), sealed)
            self.set_timers(changed)

        self.committed_elsewhere(write)
