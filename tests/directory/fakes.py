"""In-memory stand-ins for the directory store, for service-layer unit tests."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from uuid import UUID

from directory.domain import Location, Organization, Service, ServiceAtLocation
from directory.reports import Period, UnmetNeed, UnmetReferral
from directory.search import hits, query_words, service_words
from directory.store import ServiceFilter
from tests import fakes


class FakeOrganizationRepository:
    def __init__(self) -> None:
        self.rows: dict[UUID, Organization] = {}

    def add(self, organization: Organization) -> None:
        self.rows[organization.id] = organization

    def get(self, organization_id: UUID) -> Organization | None:
        return self.rows.get(organization_id)

    def page(self, offset: int, limit: int) -> tuple[list[Organization], int]:
        ordered = sorted(self.rows.values(), key=lambda o: (o.name, str(o.id)))
        return ordered[offset : offset + limit], len(ordered)

    def count(self) -> int:
        return len(self.rows)


class FakeLocationRepository:
    def __init__(self) -> None:
        self.rows: dict[UUID, Location] = {}

    def add(self, location: Location) -> None:
        self.rows[location.id] = location

    def get(self, location_id: UUID) -> Location | None:
        return self.rows.get(location_id)


class FakeServiceRepository:
    def __init__(self, locations: FakeLocationRepository) -> None:
        self.rows: dict[UUID, Service] = {}
        self._locations = locations

    def add(self, service: Service) -> None:
        self.rows[service.id] = copy.deepcopy(service)

    def get(self, service_id: UUID) -> ServiceAtLocation | None:
        service = self.rows.get(service_id)
        return self._at_location(service) if service else None

    def update(self, service_id: UUID, changes: Mapping[str, Any]) -> None:
        # `replace` checks the rule on places, as the database's constraint does.
        self.rows[service_id] = replace(self.rows[service_id], **changes)

    def take_place(self, service_id: UUID) -> bool:
        service = self.rows.get(service_id)
        if service is None or service.free_places == 0:
            return False
        self.rows[service_id] = replace(service, free_places=service.free_places - 1)
        return True

    def give_place_back(self, service_id: UUID) -> bool:
        service = self.rows.get(service_id)
        if service is None or service.free_places == service.capacity:
            return False
        self.rows[service_id] = replace(service, free_places=service.free_places + 1)
        return True

    def search(
        self, filters: ServiceFilter, offset: int, limit: int
    ) -> tuple[list[ServiceAtLocation], int]:
        found = [
            service_at_location
            for service_at_location in self.all()
            if (not filters.district or service_at_location.location.district == filters.district)
            and (not filters.interest or filters.interest in service_at_location.service.interests)
            and (not filters.language or filters.language in service_at_location.service.languages)
        ]
        words = query_words(filters.search or "")
        if words:
            ranked = [(hits(words, service_words(each)), each) for each in found]
            # Stable: equally good matches stay in the order by name.
            ranked.sort(key=lambda pair: (-pair[0][0], -pair[0][1]))
            found = [each for (_, in_all), each in ranked if in_all]
        return found[offset : offset + limit], len(found)

    def all(self) -> list[ServiceAtLocation]:
        ordered = sorted(self.rows.values(), key=lambda s: (s.name, str(s.id)))
        return [self._at_location(service) for service in ordered]

    def _at_location(self, service: Service) -> ServiceAtLocation:
        return ServiceAtLocation(copy.deepcopy(service), self._locations.rows[service.location_id])


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
    """The directory's tables in memory, with the shared unit of work's transactions."""

    def __init__(self) -> None:
        super().__init__()
        self.organizations = FakeOrganizationRepository()
        self.locations = FakeLocationRepository()
        self.services = FakeServiceRepository(self.locations)
        self.place_holds = FakePlaceHoldRepository()
        self.unmet_referrals = FakeUnmetReferralRepository()

    def _tables(self) -> list[object]:
        return [
            self.organizations,
            self.locations,
            self.services,
            self.place_holds,
            self.unmet_referrals,
        ]
