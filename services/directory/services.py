"""Use cases of the directory service: one function each, the only place that commits."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from uuid import UUID, uuid4

from sqlalchemy.exc import IntegrityError

from contracts import IntegrationEvent, ReferralSubmitted
from directory import demo, events
from directory.domain import (
    Location,
    Organization,
    Service,
    ServiceAtLocation,
    ServiceStatus,
    TimeOfDay,
    rank,
)
from directory.store import (
    LocationRepository,
    OrganizationRepository,
    ServiceFilter,
    ServiceRepository,
)


class UnitOfWork(Protocol):
    organizations: OrganizationRepository
    locations: LocationRepository
    services: ServiceRepository

    def publish(self, event: IntegrationEvent) -> None: ...

    def commit(self) -> None: ...


UnitOfWorkFactory = Callable[[], AbstractContextManager[UnitOfWork]]


class OrganizationNotFound(Exception):
    pass


class ServiceNotFound(Exception):
    pass


class UnknownLocation(Exception):
    """The location does not exist or belongs to another organisation."""


@dataclass(frozen=True)
class CreateOrganization:
    name: str
    description: str
    coordinator_email: str
    email: str | None = None
    website: str | None = None


@dataclass(frozen=True)
class CreateLocation:
    organization_id: UUID
    name: str
    address_1: str
    postal_code: str
    city: str
    district: str
    wheelchair_accessible: bool = False
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True)
class CreateService:
    organization_id: UUID
    location_id: UUID
    name: str
    description: str
    time_of_day: TimeOfDay
    capacity: int
    free_places: int | None = None
    """None: as many as the capacity."""
    status: ServiceStatus = ServiceStatus.ACTIVE
    interests: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    target_groups: list[str] = field(default_factory=list)
    schedule_description: str | None = None


@dataclass(frozen=True)
class UpdateService:
    """Changes to a service; None leaves a field as it is."""

    service_id: UUID
    location_id: UUID | None = None
    name: str | None = None
    description: str | None = None
    status: ServiceStatus | None = None
    time_of_day: TimeOfDay | None = None
    capacity: int | None = None
    free_places: int | None = None
    interests: list[str] | None = None
    languages: list[str] | None = None
    target_groups: list[str] | None = None
    schedule_description: str | None = None

    def changes(self) -> dict[str, Any]:
        given = {
            name: value
            for name, value in vars(self).items()
            if name != "service_id" and value is not None
        }
        for name in ("interests", "languages", "target_groups"):
            if name in given:
                given[name] = _terms(given[name])
        return given


def _terms(values: Iterable[str]) -> list[str]:
    """Keywords compare in lower case, once each, in a stable order."""
    return sorted({value.strip().lower() for value in values})


def create_organization(command: CreateOrganization, start_uow: UnitOfWorkFactory) -> Organization:
    organization = Organization(
        id=uuid4(),
        name=command.name,
        description=command.description,
        coordinator_email=command.coordinator_email,
        email=command.email,
        website=command.website,
    )
    with start_uow() as uow:
        uow.organizations.add(organization)
        uow.commit()
    return organization


def create_location(command: CreateLocation, start_uow: UnitOfWorkFactory) -> Location:
    location = Location(
        id=uuid4(),
        organization_id=command.organization_id,
        name=command.name,
        address_1=command.address_1,
        postal_code=command.postal_code,
        city=command.city,
        district=command.district,
        wheelchair_accessible=command.wheelchair_accessible,
        latitude=command.latitude,
        longitude=command.longitude,
    )
    with start_uow() as uow:
        _organization(uow, command.organization_id)
        uow.locations.add(location)
        uow.commit()
    return location


def create_service(command: CreateService, start_uow: UnitOfWorkFactory) -> ServiceAtLocation:
    """Add a service at one of the organisation's own locations.

    Raises `InvalidService` when its free places do not fit its capacity.
    """
    with start_uow() as uow:
        _organization(uow, command.organization_id)
        location = _own_location(uow, command.organization_id, command.location_id)
        service = Service(
            id=uuid4(),
            organization_id=command.organization_id,
            location_id=location.id,
            name=command.name,
            description=command.description,
            status=command.status,
            time_of_day=command.time_of_day,
            capacity=command.capacity,
            free_places=command.capacity if command.free_places is None else command.free_places,
            interests=_terms(command.interests),
            languages=_terms(command.languages),
            target_groups=_terms(command.target_groups),
            schedule_description=command.schedule_description,
        )
        uow.services.add(service)
        uow.commit()
    return ServiceAtLocation(service, location)


def update_service(command: UpdateService, start_uow: UnitOfWorkFactory) -> ServiceAtLocation:
    """Change a service, e.g. its free places or status.

    Raises `InvalidService` when the result would contradict itself.
    """
    with start_uow() as uow:
        current = _service(uow, command.service_id)
        location = current.location
        if command.location_id is not None:
            location = _own_location(uow, current.service.organization_id, command.location_id)
        service = replace(current.service, **command.changes())
        uow.services.save(service)
        uow.commit()
    return ServiceAtLocation(service, location)


def get_organization(organization_id: UUID, start_uow: UnitOfWorkFactory) -> Organization:
    with start_uow() as uow:
        return _organization(uow, organization_id)


def list_organizations(
    offset: int, limit: int, start_uow: UnitOfWorkFactory
) -> tuple[list[Organization], int]:
    with start_uow() as uow:
        return uow.organizations.page(offset, limit)


def get_service(service_id: UUID, start_uow: UnitOfWorkFactory) -> ServiceAtLocation:
    with start_uow() as uow:
        return _service(uow, service_id)


def search_services(
    filters: ServiceFilter, offset: int, limit: int, start_uow: UnitOfWorkFactory
) -> tuple[list[ServiceAtLocation], int]:
    with start_uow() as uow:
        return uow.services.search(filters, offset, limit)


def match_referral(event: ReferralSubmitted, uow: UnitOfWork) -> None:
    """Rank the services that fit a submitted referral and tell referrals what was found.

    One commit per event: the consumer's inbox row commits with the published event, so a
    redelivered referral publishes nothing again.
    """
    # Every service, not a pre-filtered few: the domain decides what fits and counts what
    # does not, for the no-match reason. A city's directory is hundreds of rows.
    ranking = rank(events.referral_from(event), uow.services.all())
    if ranking.matches:
        uow.publish(events.matches_found(event.referral_id, ranking.matches))
    else:
        uow.publish(events.no_match_found(event.referral_id, ranking.no_match_reason()))
    uow.commit()


def seed_demo(start_uow: UnitOfWorkFactory) -> bool:
    """Fill an empty directory with the demo communities; True if it did.

    A directory that has any organisation is left alone, so restarts change nothing.
    """
    with start_uow() as uow:
        if uow.organizations.count():
            return False
        # The repositories flush as they add, so a clash can come from any of these lines.
        try:
            for organization in demo.ORGANIZATIONS:
                uow.organizations.add(organization)
            for location in demo.LOCATIONS:
                uow.locations.add(location)
            for service in demo.SERVICES:
                uow.services.add(service)
            uow.commit()
        except IntegrityError:
            # Another replica seeded the same stable ids between the count and now.
            return False
    return True


def _organization(uow: UnitOfWork, organization_id: UUID) -> Organization:
    organization = uow.organizations.get(organization_id)
    if organization is None:
        raise OrganizationNotFound(f"no organization {organization_id}")
    return organization


def _own_location(uow: UnitOfWork, organization_id: UUID, location_id: UUID) -> Location:
    location = uow.locations.get(location_id)
    if location is None or location.organization_id != organization_id:
        raise UnknownLocation(f"the organization has no location {location_id}")
    return location


def _service(uow: UnitOfWork, service_id: UUID) -> ServiceAtLocation:
    found = uow.services.get(service_id)
    if found is None:
        raise ServiceNotFound(f"no service {service_id}")
    return found
