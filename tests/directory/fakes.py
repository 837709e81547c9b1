"""In-memory stand-ins for the directory store, for service-layer unit tests."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from uuid import UUID

from contracts import IntegrationEvent
from directory.domain import Location, Organization, Service, ServiceAtLocation
from directory.store import ServiceFilter


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


class FakeUnitOfWork:
    """Keeps writes, events and the inbox pending until `commit`, like the real one.

    Its own factory (`start_uow()` returns it), so a test can look inside afterwards.
    """

    def __init__(self) -> None:
        self.committed = False
        self.organizations = FakeOrganizationRepository()
        self.locations = FakeLocationRepository()
        self.services = FakeServiceRepository(self.locations)
        self.place_holds = FakePlaceHoldRepository()
        self.inbox: set[tuple[str, str]] = set()
        self.committed_events: list[IntegrationEvent] = []
        self.commits = 0
        self._pending: list[IntegrationEvent] = []
        self._snapshot = self._state()

    def _state(self) -> tuple[object, ...]:
        return copy.deepcopy(
            (
                self.organizations.rows,
                self.locations.rows,
                self.services.rows,
                self.place_holds.rows,
                self.inbox,
            )
        )

    def __call__(self) -> FakeUnitOfWork:
        return self

    def __enter__(self) -> FakeUnitOfWork:
        self.committed = False
        self._snapshot = self._state()
        return self

    def __exit__(self, *args: object) -> None:
        # Roll back whatever was not committed.
        organizations, locations, services, place_holds, inbox = self._snapshot
        self.organizations.rows = organizations  # type: ignore[assignment]
        self.locations.rows = locations  # type: ignore[assignment]
        self.services.rows = services  # type: ignore[assignment]
        self.place_holds.rows = place_holds  # type: ignore[assignment]
        self.inbox = inbox  # type: ignore[assignment]
        self._pending = []

    def publish(self, event: IntegrationEvent) -> None:
        self._pending.append(event)

    def already_processed(self, event_id: str, source: str) -> bool:
        return (source, event_id) in self.inbox

    def record_processed(self, event_id: str, event_type: str, source: str) -> None:
        self.inbox.add((source, event_id))

    def commit(self) -> None:
        self.committed = True
        self.commits += 1
        self.committed_events += self._pending
        self._pending = []
        self._snapshot = self._state()
