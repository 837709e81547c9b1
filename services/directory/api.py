"""HTTP API of directory: the public overview of communities, kept up by operators and
by partners for their own organisation."""

from __future__ import annotations

from math import ceil
from typing import Annotated, Generic, TypeVar
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from directory import services
from directory.domain import (
    InvalidService,
    Location,
    Organization,
    ServiceAtLocation,
    ServiceStatus,
    TimeOfDay,
)
from directory.store import ServiceFilter
from runtime.auth import Principal, Role, require
from runtime.http import (
    NO_NUL,
    Keyword,
    LanguageCode,
    LongText,
    Name,
    ShortText,
    unit_of_work_factory,
)
from runtime.problems import Problem

router = APIRouter()

Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+$")]
District = Annotated[ShortText, Field(examples=["Nørrebro"])]

Editor = Annotated[Principal, Depends(require(Role.OPERATOR, Role.PARTNER))]
StartUow = Annotated[services.UnitOfWorkFactory, Depends(unit_of_work_factory)]


class OrganizationCreate(BaseModel):
    name: Name
    description: LongText
    email: Email | None = Field(default=None, description="Public contact address.")
    website: HttpUrl | None = Field(default=None, max_length=500)
    coordinator_email: Email = Field(
        description="Who is told about referrals; shown to operators only."
    )


class OrganizationPublic(BaseModel):
    """An organisation as anyone may see it (HSDS `organization`)."""

    id: UUID
    name: str
    description: str
    email: str | None
    website: str | None

    @classmethod
    def of(cls, organization: Organization) -> OrganizationPublic:
        return cls.model_validate(organization, from_attributes=True)


class OrganizationWithContact(OrganizationPublic):
    """An organisation as an operator sees it."""

    coordinator_email: str


class LocationCreate(BaseModel):
    name: Name
    address_1: Name = Field(examples=["Nørrebrogade 1"])
    postal_code: str = Field(pattern=r"^\d{4}$", examples=["2200"])
    city: ShortText = Field(examples=["København N"])
    district: District
    wheelchair_accessible: bool = False
    latitude: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False)
    longitude: float | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False)


class LocationPublic(BaseModel):
    """Where a service happens (HSDS `location` with its address; `district` and
    `wheelchair_accessible` are Brobygger's own)."""

    id: UUID
    organization_id: UUID
    name: str
    address_1: str
    postal_code: str
    city: str
    district: str
    wheelchair_accessible: bool
    latitude: float | None
    longitude: float | None

    @classmethod
    def of(cls, location: Location) -> LocationPublic:
        return cls.model_validate(location, from_attributes=True)


class ServiceCreate(BaseModel):
    location_id: UUID = Field(description="One of the organisation's own locations.")
    name: Name
    description: LongText
    status: ServiceStatus = ServiceStatus.ACTIVE
    interests: list[Keyword] = Field(default_factory=list, max_length=20, examples=[["walking"]])
    languages: list[LanguageCode] = Field(min_length=1, max_length=20, examples=[["da"]])
    target_groups: list[Keyword] = Field(
        default_factory=list, max_length=10, examples=[["older_people"]]
    )
    time_of_day: TimeOfDay
    schedule_description: str | None = Field(default=None, max_length=500, pattern=NO_NUL)
    capacity: int = Field(ge=1, le=100_000)
    free_places: int | None = Field(
        default=None, ge=0, le=100_000, description="Defaults to the capacity."
    )


class ServiceUpdate(BaseModel):
    """Only the fields sent change."""

    # A misspelt field would otherwise be a silent no-op.
    model_config = ConfigDict(extra="forbid")

    location_id: UUID | None = None
    name: Name | None = None
    description: LongText | None = None
    status: ServiceStatus | None = None
    interests: list[Keyword] | None = Field(default=None, max_length=20)
    languages: list[LanguageCode] | None = Field(default=None, min_length=1, max_length=20)
    target_groups: list[Keyword] | None = Field(default=None, max_length=10)
    time_of_day: TimeOfDay | None = None
    schedule_description: str | None = Field(default=None, max_length=500, pattern=NO_NUL)
    capacity: int | None = Field(default=None, ge=1, le=100_000)
    free_places: int | None = Field(default=None, ge=0, le=100_000)


class ServicePublic(BaseModel):
    """A service as anyone may see it (HSDS `service`, with its location nested)."""

    id: UUID
    organization_id: UUID
    name: str
    description: str
    status: ServiceStatus
    interests: list[str]
    languages: list[str]
    target_groups: list[str]
    time_of_day: TimeOfDay
    schedule_description: str | None
    capacity: int
    free_places: int
    location: LocationPublic

    @classmethod
    def of(cls, found: ServiceAtLocation) -> ServicePublic:
        service = found.service
        return cls(
            id=service.id,
            organization_id=service.organization_id,
            name=service.name,
            description=service.description,
            status=service.status,
            interests=service.interests,
            languages=service.languages,
            target_groups=service.target_groups,
            time_of_day=service.time_of_day,
            schedule_description=service.schedule_description,
            capacity=service.capacity,
            free_places=service.free_places,
            location=LocationPublic.of(found.location),
        )


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list, in the shape of the HSDS API's paginated responses."""

    total_items: int
    total_pages: int
    page_number: int
    size: int = Field(description="How many items this page holds.")
    first_page: bool
    last_page: bool
    empty: bool
    contents: list[T]

    @classmethod
    def of(cls, contents: list[T], total_items: int, paging: Paging) -> Page[T]:
        total_pages = ceil(total_items / paging.per_page)
        return cls(
            total_items=total_items,
            total_pages=total_pages,
            page_number=paging.page,
            size=len(contents),
            first_page=paging.page == 1,
            last_page=paging.page >= total_pages,
            empty=not contents,
            contents=contents,
        )


class Paging(BaseModel):
    page: int = Field(default=1, ge=1, le=100_000, description="Page number, from 1.")
    per_page: int = Field(default=20, ge=1, le=100, description="Items per page.")

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


def _may_edit(principal: Principal, organization_id: UUID) -> None:
    if principal.role is Role.PARTNER and principal.organization_id != organization_id:
        raise Problem(403, "A partner may only change its own organisation's entries.")


def _not_found(kind: str, id_: UUID) -> Problem:
    return Problem(404, f"There is no {kind} {id_}.")


@router.get("/organizations", tags=["organizations"], summary="List organisations (public)")
def list_organizations(
    start_uow: StartUow, paging: Annotated[Paging, Query()]
) -> Page[OrganizationPublic]:
    found, total = services.list_organizations(paging.offset, paging.per_page, start_uow)
    return Page.of([OrganizationPublic.of(o) for o in found], total, paging)


@router.get(
    "/organizations/{organization_id}",
    tags=["organizations"],
    summary="Read an organisation (public)",
)
def get_organization(organization_id: UUID, start_uow: StartUow) -> OrganizationPublic:
    try:
        return OrganizationPublic.of(services.get_organization(organization_id, start_uow))
    except services.OrganizationNotFound as error:
        raise _not_found("organization", organization_id) from error


@router.post(
    "/organizations",
    tags=["organizations"],
    status_code=status.HTTP_201_CREATED,
    summary="Add an organisation",
)
def create_organization(
    body: OrganizationCreate,
    start_uow: StartUow,
    response: Response,
    _operator: Annotated[Principal, Depends(require(Role.OPERATOR))],
) -> OrganizationWithContact:
    organization = services.create_organization(
        services.CreateOrganization(
            name=body.name,
            description=body.description,
            coordinator_email=body.coordinator_email,
            email=body.email,
            website=str(body.website) if body.website else None,
        ),
        start_uow,
    )
    response.headers["Location"] = f"/organizations/{organization.id}"
    return OrganizationWithContact.model_validate(organization, from_attributes=True)


@router.post(
    "/organizations/{organization_id}/locations",
    tags=["organizations"],
    status_code=status.HTTP_201_CREATED,
    summary="Add a location to an organisation",
)
def create_location(
    organization_id: UUID, body: LocationCreate, start_uow: StartUow, principal: Editor
) -> LocationPublic:
    _may_edit(principal, organization_id)
    try:
        location = services.create_location(
            services.CreateLocation(organization_id=organization_id, **body.model_dump()),
            start_uow,
        )
    except services.OrganizationNotFound as error:
        raise _not_found("organization", organization_id) from error
    return LocationPublic.of(location)


@router.post(
    "/organizations/{organization_id}/services",
    tags=["services"],
    status_code=status.HTTP_201_CREATED,
    summary="Add a service to an organisation",
)
def create_service(
    organization_id: UUID,
    body: ServiceCreate,
    start_uow: StartUow,
    response: Response,
    principal: Editor,
) -> ServicePublic:
    _may_edit(principal, organization_id)
    try:
        created = services.create_service(
            services.CreateService(organization_id=organization_id, **body.model_dump()),
            start_uow,
        )
    except services.OrganizationNotFound as error:
        raise _not_found("organization", organization_id) from error
    except services.UnknownLocation as error:
        raise Problem(422, f"location_id: {error}.") from error
    except InvalidService as error:
        raise Problem(422, f"{error}.") from error
    response.headers["Location"] = f"/services/{created.service.id}"
    return ServicePublic.of(created)


@router.get("/services", tags=["services"], summary="Search services (public)")
def search_services(
    start_uow: StartUow,
    paging: Annotated[Paging, Query()],
    district: Annotated[District | None, Query()] = None,
    interest: Annotated[Keyword | None, Query()] = None,
    language: Annotated[LanguageCode | None, Query()] = None,
) -> Page[ServicePublic]:
    filters = ServiceFilter(district=district, interest=interest, language=language)
    found, total = services.search_services(filters, paging.offset, paging.per_page, start_uow)
    return Page.of([ServicePublic.of(s) for s in found], total, paging)


@router.get("/services/{service_id}", tags=["services"], summary="Read a service (public)")
def get_service(service_id: UUID, start_uow: StartUow) -> ServicePublic:
    try:
        return ServicePublic.of(services.get_service(service_id, start_uow))
    except services.ServiceNotFound as error:
        raise _not_found("service", service_id) from error


@router.patch("/services/{service_id}", tags=["services"], summary="Change a service")
def update_service(
    service_id: UUID, body: ServiceUpdate, start_uow: StartUow, principal: Editor
) -> ServicePublic:
    try:
        # A service never moves to another organisation, so checking before the update's
        # own transaction cannot be outrun.
        _may_edit(principal, services.get_service(service_id, start_uow).service.organization_id)
        updated = services.update_service(
            services.UpdateService(service_id=service_id, **body.model_dump(exclude_unset=True)),
            start_uow,
        )
    except services.ServiceNotFound as error:
        raise _not_found("service", service_id) from error
    except services.UnknownLocation as error:
        raise Problem(422, f"location_id: {error}.") from error
    except InvalidService as error:
        raise Problem(422, f"{error}.") from error
    return ServicePublic.of(updated)
