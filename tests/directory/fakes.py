"""In-memory stand-ins for the directory's store, for service-layer unit tests.

The HSDS records are kept as the SQL store keeps them (each with its owner, its foreign keys
and when it changed), so that `save` and the use cases built on it run unchanged. The list
queries of the HSDS API (search, paging) and the unmet-need report are SQL: they are tested
on the databases, and their fakes say so."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from directory.domain import (
    DEFAULT_WEIGHTS,
    Exclusion,
    Referral,
    ServiceAtLocation,
    ServiceStatus,
    Weights,
    rank,
)
from directory.hsds.records import Record
from directory.reports import Period, UnmetNeed, UnmetReferral
from directory.store import (
    Near,
    PlaceHoldRepository,
    RecordStore,
    ServiceQuery,
    ServiceRepository,
    UnmetReferralRepository,
)
from directory.store.records import Indexed, Point, Put, Stored
from tests import fakes

IN_SQL = "the HSDS API's lists are queries in SQL: test them on the databases"


@dataclass(frozen=True)
class StoredRecord:
    record: Record
    organization_id: UUID | None
    references: dict[str, str]
    modified_at: datetime


class FakeRecordStore:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], StoredRecord] = {}
        self.points: dict[str, Point] = {}
        self.words: dict[str, set[tuple[str, str]]] = {}

    def get(self, entity: str, ids: Collection[str]) -> list[Record]:
        return [found.record for found in self.stored(entity, ids).values()]

    def stored(self, entity: str, ids: Collection[str]) -> dict[str, Stored]:
        return {
            record_id: Stored(row.record, row.organization_id)
            for record_id in sorted(set(ids))
            if (row := self.rows.get((entity, record_id))) is not None
        }

    def children(self, entity: str, key: str, ids: Collection[str]) -> list[Record]:
        wanted = set(ids)
        return [
            row.record
            for (kind, _), row in sorted(self.rows.items())
            if kind == entity and row.references.get(key) in wanted
        ]

    def known(self, entity: str, ids: Collection[str]) -> set[str]:
        return {record_id for record_id in ids if (entity, record_id) in self.rows}

    def lock(self, entity: str, record_id: str) -> Record | None:
        row = self.rows.get((entity, record_id))
        return row.record if row is not None else None

    def organization_of(self, entity: str, record_id: str) -> UUID | None:
        row = self.rows.get((entity, record_id))
        return row.organization_id if row is not None else None

    def put(
        self,
        record: Record,
        *,
        organization_id: UUID | None,
        references: dict[str, str],
        modified_at: datetime,
    ) -> None:
        self.rows[record.entity, record.id] = StoredRecord(
            record, organization_id, dict(references), modified_at
        )

    def put_many(self, puts: Sequence[Put], modified_at: datetime) -> None:
        for put in puts:
            self.put(
                put.record,
                organization_id=put.organization_id,
                references=put.references,
                modified_at=modified_at,
            )

    def remove_many(self, keys: Collection[tuple[str, str]]) -> None:
        for entity, record_id in keys:
            self.rows.pop((entity, record_id), None)
            self.points.pop(record_id, None)
            self.words.pop(record_id, None)

    def touch(self, entity: str, record_id: str, modified_at: datetime) -> None:
        self.touch_many(entity, [record_id], modified_at)

    def touch_many(self, entity: str, ids: Collection[str], modified_at: datetime) -> None:
        for record_id in ids:
            if (row := self.rows.get((entity, record_id))) is not None:
                self.rows[entity, record_id] = replace(row, modified_at=modified_at)

    def place_many(self, points: Sequence[Point]) -> None:
        self.points.update((point.location_id, point) for point in points)

    def index_words_many(self, entries: dict[str, Indexed]) -> None:
        self.words.update((record_id, set(entry.words)) for record_id, entry in entries.items())

    def count(self, entity: str) -> int:
        return sum(kind == entity for kind, _ in self.rows)

    def every(self) -> list[Record]:
        return [row.record for _, row in sorted(self.rows.items())]

    def services(
        self, query: ServiceQuery, offset: int, limit: int | None
    ) -> tuple[list[str], int]:
        raise NotImplementedError(IN_SQL)

    def services_at_locations(
        self, query: ServiceQuery, near: Near, offset: int, limit: int | None
    ) -> tuple[list[str], int]:
        raise NotImplementedError(IN_SQL)

    def organizations(
        self, search: str | None, offset: int, limit: int | None
    ) -> tuple[list[str], int]:
        raise NotImplementedError(IN_SQL)

    def taxonomies(self, offset: int, limit: int | None) -> tuple[list[str], int]:
        raise NotImplementedError(IN_SQL)

    def taxonomy_terms(
        self,
        taxonomy_id: UUID | None,
        parent_id: UUID | None,
        top_only: bool,
        offset: int,
        limit: int | None,
    ) -> tuple[list[str], int]:
        raise NotImplementedError(IN_SQL)


class FakeServiceRepository:
    """Matching's view: the services as matching sees them, ranked by the domain itself."""

    def __init__(self) -> None:
        self.rows: dict[UUID, ServiceAtLocation] = {}

    def project(self, found: ServiceAtLocation) -> None:
        self.rows[found.service.id] = found

    def project_many(self, found: Sequence[ServiceAtLocation]) -> None:
        for each in found:
            self.project(each)

    def close(self, service_id: UUID) -> bool:
        return bool(self.close_many([service_id]))

    def close_many(self, service_ids: Collection[UUID]) -> list[ServiceAtLocation]:
        closed = []
        for service_id in service_ids:
            found = self.rows.get(service_id)
            if found is not None and found.service.status is not ServiceStatus.INACTIVE:
                service = replace(found.service, status=ServiceStatus.INACTIVE)
                self.rows[service_id] = closed_one = replace(found, service=service)
                closed.append(closed_one)
        return closed

    def get(self, service_id: UUID) -> ServiceAtLocation | None:
        return self.rows.get(service_id)

    def take_place(self, service_id: UUID) -> bool:
        found = self.rows.get(service_id)
        if found is None or found.service.free_places == 0:
            return False
        self._free_places(found, found.service.free_places - 1)
        return True

    def give_place_back(self, service_id: UUID) -> bool:
        found = self.rows.get(service_id)
        if found is None or found.service.free_places == found.service.capacity:
            return False
        self._free_places(found, found.service.free_places + 1)
        return True

    def all(self) -> list[ServiceAtLocation]:
        return sorted(self.rows.values(), key=lambda f: (f.service.name, str(f.service.id)))

    def best_fits(
        self, referral: Referral, *, max_matches: int, weights: Weights = DEFAULT_WEIGHTS
    ) -> list[ServiceAtLocation]:
        ranking = rank(referral, self.all(), max_matches=max_matches, weights=weights)
        return [match.service_at_location for match in ranking.matches]

    def exclusions(self, referral: Referral) -> dict[Exclusion, int]:
        return rank(referral, self.all(), max_matches=1).excluded

    def _free_places(self, found: ServiceAtLocation, free_places: int) -> None:
        # `replace` checks the rule on places, as the database's constraint does.
        service = replace(found.service, free_places=free_places)
        self.rows[service.id] = replace(found, service=service)


class FakePlaceHoldRepository:
    def __init__(self) -> None:
        self.rows: dict[UUID, UUID] = {}

    def add(self, referral_id: UUID, service_id: UUID) -> None:
        if referral_id in self.rows:
            raise KeyError(f"referral {referral_id} holds a place already")
        self.rows[referral_id] = service_id

    def held_by(self, referral_id: UUID) -> UUID | None:
        return self.rows.get(referral_id)

    def release(self, referral_id: UUID) -> UUID | None:
        return self.rows.pop(referral_id, None)


class FakeUnmetReferralRepository:
    """Keeps the unmet referrals; the report itself is tested on the real databases."""

    def __init__(self) -> None:
        self.rows: dict[UUID, UnmetReferral] = {}

    def add(self, unmet: UnmetReferral) -> bool:
        if unmet.referral_id in self.rows:
            return False
        self.rows[unmet.referral_id] = unmet
        return True

    def forget(self, referral_id: UUID) -> None:
        self.rows.pop(referral_id, None)

    def report(self, period: Period, offset: int, limit: int) -> tuple[list[UnmetNeed], int]:
        raise NotImplementedError("the report groups in SQL: test it on the store")


class FakeUnitOfWork(fakes.FakeUnitOfWork):
    """The directory's tables in memory, with the shared unit of work's transactions.

    The repositories are the unit of work's protocol's (whose attributes are settable, so
    typed as the protocol); the same fakes are at hand by their own names and types, for
    tests to look into."""

    records: RecordStore
    services: ServiceRepository
    place_holds: PlaceHoldRepository
    unmet_referrals: UnmetReferralRepository

    def __init__(self) -> None:
        super().__init__()
        self.records = self.stored = FakeRecordStore()
        self.services = self.matchable = FakeServiceRepository()
        self.place_holds = self.holds = FakePlaceHoldRepository()
        self.unmet_referrals = self.unmet = FakeUnmetReferralRepository()

    def _tables(self) -> list[object]:
        return [self.stored, self.matchable, self.holds, self.unmet]
