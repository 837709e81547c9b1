"""Use cases of the directory service: one function each, the only place that commits."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from enum import Enum
from typing import Any, Literal, Protocol
from uuid import UUID, uuid4

from sqlalchemy.exc import IntegrityError

from contracts import (
    IntegrationEvent,
    ReferralAccepted,
    ReferralCancelled,
    ReferralCompleted,
    ReferralErased,
    ReferralEscalated,
    ReferralFailed,
    ReferralSubmitted,
)
from directory import demo, events
from directory.domain import (
    DEFAULT_WEIGHTS,
    Location,
    Organization,
    Service,
    ServiceAtLocation,
    ServiceStatus,
    TimeOfDay,
    Weights,
    rank,
)
from directory.reports import Period, UnmetNeed
from directory.store import (
    LocationRepository,
    OrganizationRepository,
    PlaceHoldRepository,
    ServiceFilter,
    ServiceRepository,
    UnmetReferralRepository,
)
from runtime.logs import get_logger
from runtime.storage import utcnow

log = get_logger(component="places")


class UnitOfWork(Protocol):
    organizations: OrganizationRepository
    locations: LocationRepository
    services: ServiceRepository
    place_holds: PlaceHoldRepository
    unmet_referrals: UnmetReferralRepository

    def publish(self, event: IntegrationEvent) -> None: ...

    def commit(self) -> None: ...


UnitOfWorkFactory = Callable[[], AbstractContextManager[UnitOfWork]]

Clock = Callable[[], datetime]
"""The time now, timezone-aware UTC: a dependency, so that tests can set and move it."""

ReferralEnded = ReferralCompleted | ReferralFailed | ReferralCancelled
"""The events after which a referral no longer needs the place it may have taken."""


class _Keep(Enum):
    KEEP = "keep"


KEEP = _Keep.KEEP
"""An update's field left as it is; None is a value (it clears a field that may be empty)."""
Keep = Literal[_Keep.KEEP]


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
    """Changes to a service; a field left at `KEEP` stays as it is."""

    service_id: UUID
    location_id: UUID | Keep = KEEP
    name: str | Keep = KEEP
    description: str | Keep = KEEP
    status: ServiceStatus | Keep = KEEP
    time_of_day: TimeOfDay | Keep = KEEP
    capacity: int | Keep = KEEP
    free_places: int | Keep = KEEP
    interests: list[str] | Keep = KEEP
    languages: list[str] | Keep = KEEP
    target_groups: list[str] | Keep = KEEP
    schedule_description: str | Keep | None = KEEP

    def changes(self) -> dict[str, Any]:
        """The fields to change, by `Service` field name, keywords cleaned."""
        given = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name != "service_id" and getattr(self, f.name) is not KEEP
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


def create_service(
    command: CreateService, start_uow: UnitOfWorkFactory, clock: Clock = utcnow
) -> ServiceAtLocation:
    """Add a service at one of the organisation's own locations, and tell who follows the
    directory's services.

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
        uow.publish(events.service_changed(service, clock()))
        uow.commit()
    return ServiceAtLocation(service, location)


def update_service(
    command: UpdateService, start_uow: UnitOfWorkFactory, clock: Clock = utcnow
) -> ServiceAtLocation:
    """Change the given fields of a service, e.g. its name, free places or status, and
    tell who follows the directory's services.

    Only those fields are written, so that a place taken meanwhile is not undone. Raises
    `InvalidService` when the service as it is then would contradict itself.
    """
    with start_uow() as uow:
        current = _service(uow, command.service_id)
        if command.location_id is not KEEP:
            _own_location(uow, current.service.organization_id, command.location_id)
        uow.services.update(command.service_id, command.changes())
        # Read back after the write, which locks the row: the rule holds for what commits.
        updated = _service(uow, command.service_id)
        if updated != current:
            uow.publish(events.service_changed(updated.service, clock()))
        uow.commit()
    return updated


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


def match_referral(
    event: ReferralSubmitted, uow: UnitOfWork, max_matches: int, weights: Weights = DEFAULT_WEIGHTS
) -> None:
    """Rank the services that fit a submitted referral, each criterion weighed by
    `weights`, and tell referrals the best `max_matches`, or why nothing fits.

    One commit per event: the consumer's inbox row commits with the published event, so a
    redelivered referral publishes nothing again.
    """
    referral = replace(
        events.referral_from(event),
        preferred_times=frozenset(TimeOfDay(t) for t in event.preferred_times),
    )
    # Every service, in one query, not a pre-filtered few: the domain decides what fits and
    # counts what does not, for the no-match reason. A city's directory is hundreds of rows.
    ranking = rank(referral, uow.services.all(), max_matches=max_matches, weights=weights)
    if ranking.matches:
        uow.publish(events.matches_found(event.referral_id, ranking.matches))
    else:
        uow.publish(events.no_match_found(event.referral_id, ranking.no_match_reason()))
        uow.unmet_referrals.add(events.unmet_referral(event))
    uow.commit()


def take_place(event: ReferralAccepted, uow: UnitOfWork, clock: Clock = utcnow) -> None:
    """An accepted referral takes one free place of its service, and holds it until the
    referral ends. A service with no free place stays at none, and nothing is held."""
    if uow.place_holds.held_by(event.referral_id) is not None:
        # One place per referral, even if its acceptance arrives twice under two ids.
        log.info("place.already_held")
    elif uow.services.take_place(event.service_id):
        uow.place_holds.add(event.referral_id, event.service_id)
        _publish_changed(uow, event.service_id, clock)
    elif uow.services.get(event.service_id) is None:
        log.info("place.unknown_service")
    else:
        log.info("place.none_free")
    uow.commit()


def give_place_back(event: ReferralEnded, uow: UnitOfWork, clock: Clock = utcnow) -> None:
    """A referral that ended frees the place it held, if it held one (it may have ended
    before it was accepted). Never more free places than the capacity."""
    if not _release_place(event.referral_id, uow, clock):
        log.info("place.none_held")
    uow.commit()


def forget_referral(event: ReferralErased, uow: UnitOfWork, clock: Clock = utcnow) -> None:
    """An erased referral leaves nothing here: its place hold goes. It should hold none
    (referrals cancels a referral before erasing it, and the cancellation gave the place
    back), but if it still does, the place is given back first."""
    if _release_place(event.referral_id, uow, clock):
        log.warning("place.held_at_erasure")
    uow.unmet_referrals.forget(event.referral_id)
    uow.commit()


def count_escalation(event: ReferralEscalated, uow: UnitOfWork) -> None:
    """An escalated referral counts as unmet need, once: one that found no match is
    escalated for it, and stays counted as it first went unmet."""
    uow.unmet_referrals.add(events.unmet_referral(event))
    uow.commit()


def unmet_need(
    period: Period, offset: int, limit: int, start_uow: UnitOfWorkFactory
) -> tuple[list[UnmetNeed], int]:
    """The referrals that went unmet in the period by district, target group and interest,
    most first: one page, and how many groups in all."""
    with start_uow() as uow:
        return uow.unmet_referrals.report(period, offset, limit)


def _release_place(referral_id: UUID, uow: UnitOfWork, clock: Clock) -> bool:
    """Drop the referral's place hold and free its place; False if it held none."""
    service_id = uow.place_holds.release(referral_id)
    if service_id is None:
        return False
    if uow.services.give_place_back(service_id):
        _publish_changed(uow, service_id, clock)
    else:
        log.info("place.all_free_already")
    return True


def seed_demo(start_uow: UnitOfWorkFactory, clock: Clock = utcnow) -> bool:
    """Fill an empty directory with the demo communities, and tell who follows the
    directory's services of each; True if it did.

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
            now = clock()
            for service in demo.SERVICES:
                uow.services.add(service)
                uow.publish(events.service_changed(service, now))
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


def _publish_changed(uow: UnitOfWork, service_id: UUID, clock: Clock) -> None:
    uow.publish(events.service_changed(_service(uow, service_id).service, clock()))


def _service(uow: UnitOfWork, service_id: UUID) -> ServiceAtLocation:
    found = uow.services.get(service_id)
    if found is None:
        raise ServiceNotFound(f"no service {service_id}")
    return found
