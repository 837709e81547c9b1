"""Storage of the directory: SQLModel tables and the repositories the service layer uses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import (
    CheckConstraint,
    Column,
    ColumnElement,
    CursorResult,
    Index,
    Text,
    and_,
    case,
    delete,
    exists,
    func,
    or_,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, registry
from sqlmodel import Field, Session, SQLModel, col, select

from directory.domain import (
    InvalidService,
    Location,
    Organization,
    Service,
    ServiceAtLocation,
    ServiceStatus,
    TimeOfDay,
)
from directory.reports import REASONS, Period, UnmetNeed, UnmetReferral
from directory.search import Part, query_words, service_words
from runtime.storage import UnitOfWork, UTCDateTime


class Base(SQLModel, registry=registry()):
    """This service's tables only; the outbox and inbox come from `runtime.storage`."""


class OrganizationRow(Base, table=True):
    __tablename__ = "organization"

    id: UUID = Field(primary_key=True)
    name: str = Field(index=True, max_length=200)
    description: str = Field(sa_column=Column(Text, nullable=False))
    email: str | None = Field(default=None, max_length=254)
    website: str | None = Field(default=None, max_length=500)
    coordinator_email: str = Field(max_length=254)


class LocationRow(Base, table=True):
    __tablename__ = "location"

    id: UUID = Field(primary_key=True)
    organization_id: UUID = Field(foreign_key="organization.id", index=True)
    name: str = Field(max_length=200)
    address_1: str = Field(max_length=200)
    postal_code: str = Field(max_length=20)
    city: str = Field(max_length=100)
    district: str = Field(max_length=100)
    # Searches ignore case; SQLite's lower() knows only ASCII, so 'Østerbro' is folded here.
    # Text: folding can lengthen a district ('ß' becomes 'ss').
    district_key: str = Field(sa_column=Column(Text, nullable=False, index=True))
    wheelchair_accessible: bool
    latitude: float | None = None
    longitude: float | None = None


PLACES_RULE = "ck_service_places"


class ServiceRow(Base, table=True):
    __tablename__ = "service"
    # The domain's rule, kept by the database too: a write that breaks it fails, whoever
    # writes, even two transactions changing capacity and free places at once.
    __table_args__ = (
        CheckConstraint(
            "capacity >= 1 AND free_places >= 0 AND free_places <= capacity", name=PLACES_RULE
        ),
    )

    id: UUID = Field(primary_key=True)
    organization_id: UUID = Field(foreign_key="organization.id", index=True)
    location_id: UUID = Field(foreign_key="location.id", index=True)
    name: str = Field(index=True, max_length=200)
    description: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(max_length=20)
    time_of_day: str = Field(max_length=20)
    schedule_description: str | None = Field(default=None, max_length=500)
    capacity: int
    free_places: int


class ServiceTermRow(Base, table=True):
    """A service's interests, languages and target groups, one row each, so they can be
    searched with plain SQL on SQLite and PostgreSQL alike (HSDS keeps them in
    `language` and `attribute` rows for the same reason)."""

    __tablename__ = "service_term"
    __table_args__ = (Index("ix_service_term_lookup", "taxonomy", "term"),)

    service_id: UUID = Field(foreign_key="service.id", primary_key=True)
    taxonomy: str = Field(primary_key=True, max_length=20)
    # Text: lower-casing can lengthen a keyword ('İ' becomes 'i' and a combining dot).
    term: str = Field(sa_column=Column(Text, primary_key=True))


class ServiceSearchWordRow(Base, table=True):
    """A folded word a service is found by (see `directory.search`), one row each, so that
    a search is a prefix LIKE on an index, the same on SQLite and PostgreSQL."""

    __tablename__ = "service_search_word"
    __table_args__ = (
        # text_pattern_ops: PostgreSQL uses the index for LIKE 'prefix%' in any collation.
        Index("ix_service_search_word_word", "word", postgresql_ops={"word": "text_pattern_ops"}),
    )

    service_id: UUID = Field(foreign_key="service.id", primary_key=True)
    part: str = Field(primary_key=True, max_length=10)
    word: str = Field(sa_column=Column(Text, primary_key=True))


class PlaceHoldRow(Base, table=True):
    """A place of a service taken by an accepted referral, until the referral ends."""

    __tablename__ = "place_hold"

    referral_id: UUID = Field(primary_key=True)
    service_id: UUID = Field(foreign_key="service.id")


INTEREST, LANGUAGE, TARGET_GROUP = "interest", "language", "target_group"
TAXONOMY_OF_FIELD = {"interests": INTEREST, "languages": LANGUAGE, "target_groups": TARGET_GROUP}


@dataclass(frozen=True)
class ServiceFilter:
    """Narrows a service search; None leaves a field out."""

    district: str | None = None
    interest: str | None = None
    language: str | None = None
    search: str | None = None
    """A citizen's words: services that match any, the best matches first."""


class OrganizationRepository(Protocol):
    def add(self, organization: Organization) -> None: ...

    def get(self, organization_id: UUID) -> Organization | None: ...

    def page(self, offset: int, limit: int) -> tuple[list[Organization], int]:
        """One page by name, and how many there are in all."""
        ...

    def count(self) -> int: ...


class LocationRepository(Protocol):
    def add(self, location: Location) -> None: ...

    def get(self, location_id: UUID) -> Location | None: ...


class ServiceRepository(Protocol):
    def add(self, service: Service) -> None: ...

    def get(self, service_id: UUID) -> ServiceAtLocation | None: ...

    def update(self, service_id: UUID, changes: Mapping[str, Any]) -> None:
        """Write only the fields in `changes` (a `Service`'s field names), and of the
        keywords only the taxonomies given, so that a concurrent change of another field
        is kept. Raises `InvalidService` when the row would break the rule on places."""
        ...

    def take_place(self, service_id: UUID) -> bool:
        """One free place fewer, if one is free; whether it took one."""
        ...

    def give_place_back(self, service_id: UUID) -> bool:
        """One free place more, if that stays within the capacity; whether it gave one."""
        ...

    def search(
        self, filters: ServiceFilter, offset: int, limit: int
    ) -> tuple[list[ServiceAtLocation], int]:
        """One page by name, or with `search` by relevance (see `directory.search.hits`),
        and how many match in all."""
        ...

    def all(self) -> list[ServiceAtLocation]: ...


class PlaceHoldRepository(Protocol):
    def add(self, referral_id: UUID, service_id: UUID) -> None: ...

    def held_by(self, referral_id: UUID) -> UUID | None:
        """The service whose place the referral holds, if any."""
        ...

    def release(self, referral_id: UUID) -> UUID | None:
        """Drop the referral's hold; the service whose place it held, if any."""
        ...


class SqlOrganizationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, organization: Organization) -> None:
        self.session.add(
            OrganizationRow(
                id=organization.id,
                name=organization.name,
                description=organization.description,
                email=organization.email,
                website=organization.website,
                coordinator_email=organization.coordinator_email,
            )
        )
        # No ORM relationships tell the session which rows the foreign keys need first:
        # flushing each parent as it is added keeps the inserts in order.
        self.session.flush()

    def get(self, organization_id: UUID) -> Organization | None:
        row = self.session.get(OrganizationRow, organization_id)
        return _organization(row) if row else None

    def page(self, offset: int, limit: int) -> tuple[list[Organization], int]:
        rows = self.session.exec(
            select(OrganizationRow)
            .order_by(col(OrganizationRow.name), col(OrganizationRow.id))
            .offset(offset)
            .limit(limit)
        ).all()
        return [_organization(row) for row in rows], self.count()

    def count(self) -> int:
        return self.session.exec(select(func.count()).select_from(OrganizationRow)).one()


def _organization(row: OrganizationRow) -> Organization:
    return Organization(
        id=row.id,
        name=row.name,
        description=row.description,
        email=row.email,
        website=row.website,
        coordinator_email=row.coordinator_email,
    )


class SqlLocationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, location: Location) -> None:
        self.session.add(
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
        self.session.flush()  # before its services, as for organisations

    def get(self, location_id: UUID) -> Location | None:
        row = self.session.get(LocationRow, location_id)
        return _location(row) if row else None


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


class SqlServiceRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, service: Service) -> None:
        self.session.add(ServiceRow(id=service.id, **_service_columns(service)))
        self.session.flush()  # before its terms, as for organisations
        self._add_terms(service)
        location = self.session.get(LocationRow, service.location_id)
        assert location is not None, "the service layer checks the location first"
        self._index(ServiceAtLocation(service, _location(location)))

    def get(self, service_id: UUID) -> ServiceAtLocation | None:
        found = self.session.exec(_with_location().where(ServiceRow.id == service_id)).first()
        return self._to_domain([found])[0] if found else None

    def update(self, service_id: UUID, changes: Mapping[str, Any]) -> None:
        columns = {
            name: value.value if isinstance(value, Enum) else value
            for name, value in changes.items()
            if name not in TAXONOMY_OF_FIELD
        }
        if columns:
            try:
                self._update(service_id, columns)
            except IntegrityError as error:
                if PLACES_RULE not in str(error.orig):
                    raise
                raise InvalidService("free_places must be between 0 and the capacity") from error
        for name, taxonomy in TAXONOMY_OF_FIELD.items():
            if name in changes:
                self.session.execute(
                    delete(ServiceTermRow).where(
                        col(ServiceTermRow.service_id) == service_id,
                        col(ServiceTermRow.taxonomy) == taxonomy,
                    )
                )
                self._add_terms_of(service_id, taxonomy, changes[name])
        if SEARCHED_FIELDS.intersection(changes):
            found = self.get(service_id)
            assert found is not None, "the service layer read it first"
            self._index(found)

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

    def search(
        self, filters: ServiceFilter, offset: int, limit: int
    ) -> tuple[list[ServiceAtLocation], int]:
        query = _with_location()
        if filters.district:
            query = query.where(LocationRow.district_key == filters.district.casefold())
        for taxonomy, term in ((INTEREST, filters.interest), (LANGUAGE, filters.language)):
            if term:
                query = query.where(
                    exists().where(
                        col(ServiceTermRow.service_id) == ServiceRow.id,
                        col(ServiceTermRow.taxonomy) == taxonomy,
                        col(ServiceTermRow.term) == term,
                    )
                )
        words = query_words(filters.search or "")
        order: list[Any] = [ServiceRow.name, ServiceRow.id]
        if words:
            found, in_name, in_all = _matches(words)
            query = query.join(found, found.c.service_id == ServiceRow.id)
            order = [in_name.desc(), in_all.desc(), *order]
        total = self.session.exec(select(func.count()).select_from(query.subquery())).one()
        page = self.session.exec(query.order_by(*order).offset(offset).limit(limit)).all()
        return self._to_domain(page), total

    def _index(self, found: ServiceAtLocation) -> None:
        """Write anew the words the service is found by."""
        service_id = found.service.id
        self.session.execute(
            delete(ServiceSearchWordRow)
            .where(col(ServiceSearchWordRow.service_id) == service_id)
            .execution_options(synchronize_session=False)
        )
        self.session.add_all(
            ServiceSearchWordRow(service_id=service_id, part=part.value, word=word)
            for part, word in service_words(found)
        )
        self.session.flush()

    def all(self) -> list[ServiceAtLocation]:
        return self._to_domain(self.session.exec(_with_location()).all())

    def _add_terms(self, service: Service) -> None:
        for name, taxonomy in TAXONOMY_OF_FIELD.items():
            self._add_terms_of(service.id, taxonomy, getattr(service, name))

    def _add_terms_of(self, service_id: UUID, taxonomy: str, terms: list[str]) -> None:
        self.session.add_all(
            ServiceTermRow(service_id=service_id, taxonomy=taxonomy, term=term)
            for term in set(terms)
        )

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


SEARCHED_FIELDS = frozenset({"name", "description", "interests", "location_id"})
"""A service's fields whose change changes the words it is found by."""


def _matches(words: list[str]) -> tuple[Any, ColumnElement[int], ColumnElement[int]]:
    """The services any of the words starts a word of (a subquery with `service_id`), and
    for each how many of the words its name matches and how many it matches in all."""
    row = ServiceSearchWordRow
    # Folded words hold letters and digits only: no LIKE wildcard to escape.
    starts = [col(row.word).like(f"{word}%") for word in words]
    in_name = [
        func.max(case((and_(like, col(row.part) == Part.NAME.value), 1), else_=0)).label(
            f"name_{i}"
        )
        for i, like in enumerate(starts)
    ]
    in_all = [func.max(case((like, 1), else_=0)).label(f"any_{i}") for i, like in enumerate(starts)]
    found = (
        select(col(row.service_id), *in_name, *in_all)
        .where(or_(*starts))
        .group_by(col(row.service_id))
        .subquery()
    )

    def total(labels: list[Any]) -> ColumnElement[int]:
        columns = [found.c[label.name] for label in labels]
        result: ColumnElement[int] = columns[0]
        for column in columns[1:]:
            result = result + column
        return result

    return found, total(in_name), total(in_all)


def _with_location() -> Any:
    # Any: sqlmodel's overloads do not type a two-entity select joined like this.
    return (
        select(ServiceRow, LocationRow)
        .join(LocationRow, col(LocationRow.id) == ServiceRow.location_id)
        # What the database holds now, not what the session read before its own (or a
        # concurrent transaction's committed) column-wise updates.
        .execution_options(populate_existing=True)
    )


def _service_columns(service: Service) -> dict[str, Any]:
    return {
        "organization_id": service.organization_id,
        "location_id": service.location_id,
        "name": service.name,
        "description": service.description,
        "status": service.status.value,
        "time_of_day": service.time_of_day.value,
        "schedule_description": service.schedule_description,
        "capacity": service.capacity,
        "free_places": service.free_places,
    }


def _service(row: ServiceRow, terms: dict[str, list[str]]) -> Service:
    return Service(
        id=row.id,
        organization_id=row.organization_id,
        location_id=row.location_id,
        name=row.name,
        description=row.description,
        status=ServiceStatus(row.status),
        time_of_day=TimeOfDay(row.time_of_day),
        schedule_description=row.schedule_description,
        capacity=row.capacity,
        free_places=row.free_places,
        interests=terms.get(INTEREST, []),
        languages=terms.get(LANGUAGE, []),
        target_groups=terms.get(TARGET_GROUP, []),
    )


class SqlPlaceHoldRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, referral_id: UUID, service_id: UUID) -> None:
        self.session.add(PlaceHoldRow(referral_id=referral_id, service_id=service_id))
        self.session.flush()

    def held_by(self, referral_id: UUID) -> UUID | None:
        return self.session.exec(
            select(PlaceHoldRow.service_id).where(PlaceHoldRow.referral_id == referral_id)
        ).first()

    def release(self, referral_id: UUID) -> UUID | None:
        # One statement: of two transactions releasing the same hold, one gets it.
        released: UUID | None = self.session.execute(
            delete(PlaceHoldRow)
            .where(col(PlaceHoldRow.referral_id) == referral_id)
            .returning(col(PlaceHoldRow.service_id))
            .execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        return released


class UnmetReferralRow(Base, table=True):
    """A referral for which no community was found, for the unmet-need report: coded
    categories only, and gone when the referral is erased."""

    __tablename__ = "unmet_referral"

    referral_id: UUID = Field(primary_key=True)
    unmet_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # The day in the city's calendar, so that a period is a plain range on an index.
    unmet_on: date = Field(index=True)
    reason: str = Field(max_length=40)
    district: str = Field(sa_column=Column(Text, nullable=False))


class UnmetReferralTermRow(Base, table=True):
    """An unmet referral's interests and target groups, one row each, for grouping in SQL."""

    __tablename__ = "unmet_referral_term"

    referral_id: UUID = Field(foreign_key="unmet_referral.referral_id", primary_key=True)
    kind: str = Field(primary_key=True, max_length=20)
    term: str = Field(sa_column=Column(Text, primary_key=True))


class UnmetReferralRepository(Protocol):
    def add(self, unmet: UnmetReferral) -> bool:
        """Keep a referral that went unmet, unless it is kept already; whether it was new."""
        ...

    def forget(self, referral_id: UUID) -> None:
        """Drop everything kept of the referral."""
        ...

    def report(self, period: Period, offset: int, limit: int) -> tuple[list[UnmetNeed], int]:
        """One page of the unmet referrals of the period counted by district, target group
        and interest, most first, then by those keys; and how many such groups in all."""
        ...


class SqlUnmetReferralRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, unmet: UnmetReferral) -> bool:
        if self.session.get(UnmetReferralRow, unmet.referral_id) is not None:
            return False
        self.session.add(
            UnmetReferralRow(
                referral_id=unmet.referral_id,
                unmet_at=unmet.unmet_at,
                unmet_on=unmet.unmet_on,
                reason=unmet.reason,
                district=unmet.district,
            )
        )
        self.session.flush()  # before its terms, as for organisations
        self.session.add_all(
            UnmetReferralTermRow(referral_id=unmet.referral_id, kind=kind, term=term)
            for kind, terms in ((INTEREST, unmet.interests), (TARGET_GROUP, unmet.target_groups))
            for term in terms
        )
        self.session.flush()
        return True

    def forget(self, referral_id: UUID) -> None:
        for table in (UnmetReferralTermRow, UnmetReferralRow):
            self.session.execute(
                delete(table)
                .where(col(table.referral_id) == referral_id)
                .execution_options(synchronize_session=False)
            )

    def report(self, period: Period, offset: int, limit: int) -> tuple[list[UnmetNeed], int]:
        unmet = UnmetReferralRow
        group = aliased(UnmetReferralTermRow, name="target_group")
        interest = aliased(UnmetReferralTermRow, name="interest")
        keys = (col(unmet.district), col(group.term), col(interest.term))
        # Each referral has one row per target group and interest: a group's row count is
        # its number of referrals.
        referrals = func.count()
        grouped = (
            select(
                *keys,
                referrals,
                *(func.sum(case((col(unmet.reason) == reason, 1), else_=0)) for reason in REASONS),
            )
            .join(
                group,
                and_(
                    col(group.referral_id) == col(unmet.referral_id),
                    col(group.kind) == TARGET_GROUP,
                ),
            )
            .join(
                interest,
                and_(
                    col(interest.referral_id) == col(unmet.referral_id),
                    col(interest.kind) == INTEREST,
                ),
            )
            .where(col(unmet.unmet_on).between(period.first, period.last))
            .group_by(*keys)
        )
        total = self.session.execute(select(func.count()).select_from(grouped.subquery()))
        page = self.session.execute(
            grouped.order_by(referrals.desc(), *keys).offset(offset).limit(limit)
        ).all()
        return [
            UnmetNeed(
                district=district,
                target_group=target_group,
                interest=interest_term,
                referrals=count,
                reasons=dict(zip(REASONS, map(int, by_reason), strict=True)),
            )
            for district, target_group, interest_term, count, *by_reason in page
        ], total.scalar_one()


class DirectoryUnitOfWork(UnitOfWork):
    organizations: OrganizationRepository
    locations: LocationRepository
    services: ServiceRepository
    place_holds: PlaceHoldRepository
    unmet_referrals: UnmetReferralRepository

    def _open(self) -> None:
        self.organizations = SqlOrganizationRepository(self.session)
        self.locations = SqlLocationRepository(self.session)
        self.services = SqlServiceRepository(self.session)
        self.place_holds = SqlPlaceHoldRepository(self.session)
        self.unmet_referrals = SqlUnmetReferralRepository(self.session)
