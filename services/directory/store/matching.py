"""The view of the directory that matching reads: each service with what matching needs,
read from its HSDS records (see `directory.hsds.brobygger`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import time
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import ColumnElement, CursorResult, delete, update
from sqlmodel import Session, col, select

from directory.domain import Location, Service, ServiceAtLocation, ServiceStatus, WeeklySchedule
from directory.store.tables import LocationRow, ServiceRow, ServiceTermRow

INTEREST, LANGUAGE, TARGET_GROUP = "interest", "language", "target_group"
TAXONOMY_OF_FIELD = {"interests": INTEREST, "languages": LANGUAGE, "target_groups": TARGET_GROUP}


class ServiceRepository(Protocol):
    def project(self, found: ServiceAtLocation) -> None:
        """Write the service and its location as matching is to see them now."""
        ...

    def close(self, service_id: UUID) -> bool:
        """Nothing more is to be matched to the service (its records no longer say what
        matching needs); whether it was open."""
        ...

    def get(self, service_id: UUID) -> ServiceAtLocation | None: ...

    def take_place(self, service_id: UUID) -> bool:
        """One free place fewer, if one is free; whether it took one."""
        ...

    def give_place_back(self, service_id: UUID) -> bool:
        """One free place more, if that stays within the capacity; whether it gave one."""
        ...

    def all(self) -> list[ServiceAtLocation]: ...


class SqlServiceRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def project(self, found: ServiceAtLocation) -> None:
        service, location = found.service, found.location
        self.session.merge(
            LocationRow(
                id=location.id,
                organization_id=location.organization_id,
                name=location.name,
                address_1=location.address_1,
                postal_code=location.postal_code,
                city=location.city,
                district=location.district,
                district_key=location.district.casefold(),
                wheelchair_accessible=location.wheelchair_accessible,
                latitude=location.latitude,
                longitude=location.longitude,
            )
        )
        self.session.flush()  # before the service that refers to it
        self.session.merge(
            ServiceRow(
                id=service.id,
                organization_id=service.organization_id,
                location_id=service.location_id,
                name=service.name,
                status=service.status.value,
                schedules=json.dumps([_schedule_json(s) for s in service.schedules]),
                capacity=service.capacity,
                free_places=service.free_places,
            )
        )
        self.session.execute(
            delete(ServiceTermRow)
            .where(col(ServiceTermRow.service_id) == service.id)
            .execution_options(synchronize_session=False)
        )
        self.session.flush()
        self.session.add_all(
            ServiceTermRow(service_id=service.id, taxonomy=taxonomy, term=term)
            for name, taxonomy in TAXONOMY_OF_FIELD.items()
            for term in set(getattr(service, name))
        )
        self.session.flush()

    def close(self, service_id: UUID) -> bool:
        return self._update(
            service_id,
            {"status": ServiceStatus.INACTIVE.value},
            col(ServiceRow.status) != ServiceStatus.INACTIVE.value,
        )

    def get(self, service_id: UUID) -> ServiceAtLocation | None:
        found = self.session.exec(_with_location().where(ServiceRow.id == service_id)).first()
        return self._to_domain([found])[0] if found else None

    def take_place(self, service_id: UUID) -> bool:
        # Relative and conditional in one statement: the row's current value counts, not
        # one read earlier, and concurrent takers queue on the row lock.
        return self._update(
            service_id,
            {"free_places": col(ServiceRow.free_places) - 1},
            col(ServiceRow.free_places) > 0,
        )

    def give_place_back(self, service_id: UUID) -> bool:
        return self._update(
            service_id,
            {"free_places": col(ServiceRow.free_places) + 1},
            col(ServiceRow.free_places) < col(ServiceRow.capacity),
        )

    def all(self) -> list[ServiceAtLocation]:
        return self._to_domain(self.session.exec(_with_location()).all())

    def _update(
        self, service_id: UUID, values: dict[str, Any], *conditions: ColumnElement[bool]
    ) -> bool:
        result: CursorResult[Any] = self.session.execute(  # type: ignore[assignment]
            update(ServiceRow)
            .where(col(ServiceRow.id) == service_id, *conditions)
            .values(values)
            # Reads refresh the rows they return (see `_with_location`).
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1

    def _to_domain(self, rows: Sequence[tuple[ServiceRow, LocationRow]]) -> list[ServiceAtLocation]:
        # One query for the terms of all the services, not one per service.
        terms: dict[UUID, dict[str, list[str]]] = {row.id: {} for row, _ in rows}
        if terms:
            found = self.session.exec(
                select(ServiceTermRow.service_id, ServiceTermRow.taxonomy, ServiceTermRow.term)
                .where(col(ServiceTermRow.service_id).in_(terms))
                .order_by(col(ServiceTermRow.term))
            ).all()
            for service_id, taxonomy, term in found:
                terms[service_id].setdefault(taxonomy, []).append(term)
        return [
            ServiceAtLocation(_service(row, terms[row.id]), _location(location))
            for row, location in rows
        ]


def _with_location() -> Any:
    # Any: sqlmodel's overloads do not type a two-entity select joined like this.
    return (
        select(ServiceRow, LocationRow)
        .join(LocationRow, col(LocationRow.id) == ServiceRow.location_id)
        # What the database holds now, not what the session read before its own (or a
        # concurrent transaction's committed) column-wise updates.
        .execution_options(populate_existing=True)
    )


def _schedule_json(schedule: WeeklySchedule) -> dict[str, Any]:
    return {
        "days": list(schedule.days),
        "opens_at": schedule.opens_at.isoformat(),
        "closes_at": schedule.closes_at.isoformat(),
    }


def _service(row: ServiceRow, terms: dict[str, list[str]]) -> Service:
    return Service(
        id=row.id,
        organization_id=row.organization_id,
        location_id=row.location_id,
        name=row.name,
        status=ServiceStatus(row.status),
        schedules=[
            WeeklySchedule(
                tuple(s["days"]),
                time.fromisoformat(s["opens_at"]),
                time.fromisoformat(s["closes_at"]),
            )
            for s in json.loads(row.schedules)
        ],
        capacity=row.capacity,
        free_places=row.free_places,
        interests=terms.get(INTEREST, []),
        languages=terms.get(LANGUAGE, []),
        target_groups=terms.get(TARGET_GROUP, []),
    )


def _location(row: LocationRow) -> Location:
    return Location(
        id=row.id,
        organization_id=row.organization_id,
        name=row.name,
        address_1=row.address_1,
        postal_code=row.postal_code,
        city=row.city,
        district=row.district,
        wheelchair_accessible=row.wheelchair_accessible,
        latitude=row.latitude,
        longitude=row.longitude,
    )
