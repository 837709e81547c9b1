"""In-memory stand-ins for the referrals store, for service-layer unit tests. They keep
what the real store keeps and roll back what is not committed, like it."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Self
from uuid import UUID

from referrals.domain import KnownService, Referral, ReferralStatus
from referrals.store import ConcurrentUpdate, DueTimer
from tests import fakes

TimerKey = tuple[UUID, str, UUID]
"""(referral id, kind, key), as the real timer table's primary key."""


@dataclass
class Tables:
    """What the database holds; copied whole for a rollback."""

    referrals: dict[UUID, tuple[Referral, bytes]] = field(default_factory=dict)
    services: dict[UUID, tuple[KnownService, datetime]] = field(default_factory=dict)
    timers: dict[TimerKey, datetime] = field(default_factory=dict)


def _stored(referral: Referral) -> Referral:
    """What a row keeps of a referral: everything but the events not yet collected."""
    kept = copy.deepcopy(referral)
    kept.events = []
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
    def _rows(self) -> dict[UUID, tuple[Referral, bytes]]:
        return self._uow.tables.referrals

    def seen(self) -> Iterable[Referral]:
        return self._seen.values()

    def add(self, referral: Referral, *, identity_ciphertext: bytes) -> None:
        self._rows[referral.id] = (_stored(referral), identity_ciphertext)
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
        stored, ciphertext = self._rows[referral.id]
        if stored.version != referral.version:
            raise ConcurrentUpdate(f"referral {referral.id} changed meanwhile")
        referral.version += 1
        self._rows[referral.id] = (_stored(referral), ciphertext)
        self._uow.set_timers(referral)

    def identity_ciphertext(self, referral_id: UUID) -> bytes:
        return self._rows[referral_id][1]

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
        self._referrals = FakeReferralRepository(self)

    def _tables(self) -> list[object]:
        return [self.tables]

    @property
    def referrals(self) -> FakeReferralRepository:
        return self._referrals

    @property
    def services(self) -> FakeServiceBook:
        return FakeServiceBook(self)

    @property
    def timers(self) -> FakeTimerRepository:
        return FakeTimerRepository(self)

    def __enter__(self) -> Self:
        self._referrals = FakeReferralRepository(self)
        return super().__enter__()

    def commit(self) -> None:
        for referral in self._referrals.seen():
            for event in referral.events:
                self.publish(event)
            referral.events.clear()
        super().commit()

    # --- what tests use to look inside and to interfere -----------------------------------

    def set_timers(self, referral: Referral) -> None:
        self.tables.timers = _timers_with(self.tables.timers, referral)

    def stored(self, referral_id: UUID) -> Referral:
        return copy.deepcopy(self.tables.referrals[referral_id][0])

    def commit_elsewhere(self, referral_id: UUID, change: Callable[[Referral], object]) -> None:
        """Another transaction changes the stored referral and commits, now."""
        referral, ciphertext = self.tables.referrals[referral_id]
        changed = copy.deepcopy(referral)
        change(changed)
        self.committed_events += changed.events
        changed.version += 1

        def write() -> None:
            self.tables.referrals[referral_id] = (_stored(changed), ciphertext)
            self.set_timers(changed)

        self.committed_elsewhere(write)
