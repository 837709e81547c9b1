"""HTTP API of directory: the public overview of communities, kept up by operators and
by partners for their own organisation."""

from __future__ import annotations

from datetime import date
from math import ceil
from typing import Annotated, Any, Generic, Literal, TypeVar
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    ValidationInfo,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema

from directory import reports, search, services
from directory.domain import (
    InvalidService,
    Location,
    Organization,
    ServiceAtLocation,
    ServiceStatus,
    TimeOfDay,
)
from directory.reports import UnmetNeed
from directory.store import ServiceFilter
from runtime.auth import Principal, Role, require
from runtime.http import (
    HTTP_URL,
    JSON_INTEGER,
    NO_NUL,
    WHITESPACE,
    Day,
    InputModel,
    Keyword,
    LanguageCode,
    LongText,
    Name,
    ShortText,
    unit_of_work_factory,
)
from runtime.openapi import LOCATION, rules
from runtime.problems import Problem

router = APIRouter()

# Explicit character classes, not \s or \d: those mean different characters to the
# regex engines that read these patterns (ECMA-262 for the document, Rust in pydantic).
_ADDRESS_CHAR = rf"[^@\x00-\x20\x7f-\xa0{WHITESPACE}]"
Email = Annotated[
    str,
    Field(
        max_length=254,
        pattern=rf"^{_ADDRESS_CHAR}+@{_ADDRESS_CHAR}+\.{_ADDRESS_CHAR}+$",
        examples=["kontakt@forening.example"],
    ),
]
WebAddress = Annotated[
    str,
    Field(
        max_length=500,
        # Stored as sent, so what is read back is what was written.
        pattern=HTTP_URL,
        json_schema_extra={"format": "uri"},
        description="An http(s) address with a host name, as sent.",
        examples=["https://forening.example/"],
    ),
]
District = Annotated[ShortText, Field(examples=["Nørrebro"])]


Editor = Annotated[Principal, Depends(require(Role.OPERATOR, Role.PARTNER))]
StartUow = Annotated[services.UnitOfWorkFactory, Depends(unit_of_work_factory)]

PARTNER_ELSEWHERE: dict[int | str, dict[str, Any]] = {
    403: {
        "description": "The token's role may not do this, or it is a partner's token for "
        "another organisation."
    }
}
OWN_LOCATION = "`location_id` names one of the organisation's own locations."
FREE_PLACES = "`free_places` is at most `capacity`."


def _created(what: str) -> dict[int | str, dict[str, Any]]:
    return {201: {"description": f"The {what} was created.", "headers": LOCATION}}


def _missing(what: str) -> dict[int | str, dict[str, Any]]:
    return {404: {"description": f"There is no {what} with this id."}}


class OrganizationCreate(InputModel):
    name: Name
    description: LongText
    email: Email | None = Field(default=None, description="Public contact address.")
    website: WebAddress | None = None
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


class LocationCreate(InputModel):
    name: Name
    address_1: Name = Field(examples=["Nørrebrogade 1"])
    postal_code: str = Field(pattern=r"^[0-9]{4}$", examples=["2200"])
    city: ShortText = Field(examples=["København N"])
    district: District
    wheelchair_accessible: StrictBool = False
    latitude: StrictFloat | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False)
    longitude: StrictFloat | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False)


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


# Constraints inside the types, so that they stay on the value when a field is optional.
Capacity = Annotated[int, Field(ge=1, le=100_000), JSON_INTEGER]
FreePlaces = Annotated[int, Field(ge=0, le=100_000), JSON_INTEGER]
Interests = Annotated[
    list[Keyword],
    Field(max_length=20, description="Interest codes, each stored once.", examples=[["walking"]]),
]
Languages = Annotated[
    list[LanguageCode],
    Field(
        min_length=1,
        max_length=20,
        description="ISO 639-1 codes, each stored once.",
        examples=[["da"]],
    ),
]
TargetGroups = Annotated[
    list[Keyword],
    Field(
        max_length=10,
        description="Whom it is meant for, in the codes of a referral's needs; each stored once.",
        examples=[["older_people"]],
    ),
]
ScheduleDescription = Annotated[
    str, Field(max_length=500, pattern=NO_NUL, examples=["Tuesdays 10-12"])
]
OWN_LOCATION_ID = "One of the organisation's own locations."


class ServiceCreate(InputModel):
    location_id: UUID = Field(description=OWN_LOCATION_ID)
    name: Name
    description: LongText
    status: ServiceStatus = ServiceStatus.ACTIVE
    interests: Interests = Field(default_factory=list)
    languages: Languages
    target_groups: TargetGroups = Field(default_factory=list)
    time_of_day: TimeOfDay
    schedule_description: ScheduleDescription | None = None
    capacity: Capacity
    free_places: FreePlaces | None = Field(
        default=None, description="At most the capacity; null or left out: the capacity."
    )


def _without_defaults(schema: dict[str, Any]) -> None:
    # A left-out field keeps its value: there is no default to show.
    for field in schema["properties"].values():
        field.pop("default", None)


NULLABLE_ON_UPDATE = frozenset({"schedule_description"})


class ServiceUpdate(InputModel, json_schema_extra=_without_defaults):
    """Only the fields sent change; a field left out keeps its value. Null clears
    `schedule_description`; no other field may be null."""

    location_id: UUID | SkipJsonSchema[None] = Field(default=None, description=OWN_LOCATION_ID)
    name: Name | SkipJsonSchema[None] = None
    description: LongText | SkipJsonSchema[None] = None
    status: ServiceStatus | SkipJsonSchema[None] = None
    interests: Interests | SkipJsonSchema[None] = None
    languages: Languages | SkipJsonSchema[None] = None
    target_groups: TargetGroups | SkipJsonSchema[None] = None
    time_of_day: TimeOfDay | SkipJsonSchema[None] = None
    schedule_description: ScheduleDescription | None = Field(
        default=None, description="Null clears it."
    )
    capacity: Capacity | SkipJsonSchema[None] = None
    free_places: FreePlaces | SkipJsonSchema[None] = Field(
        default=None, description="At most the capacity."
    )

    @field_validator("*", mode="before")
    @classmethod
    def _sent_with_a_value(cls, value: object, info: ValidationInfo) -> object:
        # Runs only for fields sent: leaving a field out is the one way to keep it.
        if value is None and info.field_name not in NULLABLE_ON_UPDATE:
            raise ValueError(
                "Input should not be null: this field cannot be empty; leave it out to keep "
                "its value"
            )
        return value


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


HSDS_PROFILE = "urn:brobygger:hsds-profile"
"""Names Brobygger's HSDS profile (HSDS 3.0 plus HSDS 3.1's `capacities` on a service): a
URN until the profile is published with the directory's HSDS model."""


class ApiRoot(BaseModel):
    """What this API is, as the HSDS 3.0 API reference's `GET /` says it."""

    version: Literal["3.0"] = Field(description="HSDS version of this API.")
    profile: str = Field(
        json_schema_extra={"format": "uri"},
        description="URL of the information on the HSDS profile of this API.",
    )
    openapi_url: str = Field(
        json_schema_extra={"format": "uri"},
        description="URL of the openapi JSON file which defines this API.",
    )


@router.get(
    "/",
    tags=["hsds"],
    summary="Retrieve information about this API and its relationship with HSDS.",
    operation_id="getAPIMetaInformation",
)
def api_root(request: Request) -> ApiRoot:
    """The HSDS API root (public)."""
    return ApiRoot(version="3.0", profile=HSDS_PROFILE, openapi_url=str(request.url_for("openapi")))


@router.get("/organizations", tags=["organizations"], summary="List organisations (public)")
def list_organizations(
    start_uow: StartUow, paging: Annotated[Paging, Query()]
) -> Page[OrganizationPublic]:
    """By name; the coordinator's address is for operators only and never shown here."""
    found, total = services.list_organizations(paging.offset, paging.per_page, start_uow)
    return Page.of([OrganizationPublic.of(o) for o in found], total, paging)


@router.get(
    "/organizations/{organization_id}",
    tags=["organizations"],
    summary="Read an organisation (public)",
    responses=_missing("organisation"),
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
    responses=_created("organisation"),
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
            website=body.website,
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
    responses={
        201: {"description": "The location was created."},
        **PARTNER_ELSEWHERE,
        **_missing("organisation"),
    },
)
def create_location(
    organization_id: UUID, body: LocationCreate, start_uow: StartUow, principal: Editor
) -> LocationPublic:
    """A partner adds locations to its own organisation only (403 for another's)."""
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
    responses={
        **_created("service"),
        **PARTNER_ELSEWHERE,
        **_missing("organisation"),
        **rules(OWN_LOCATION, FREE_PLACES),
    },
)
def create_service(
    organization_id: UUID,
    body: ServiceCreate,
    start_uow: StartUow,
    response: Response,
    principal: Editor,
) -> ServicePublic:
    """A partner adds services to its own organisation only (403 for another's).

    Refused with 422: a `location_id` that is not one of the organisation's own locations;
    more `free_places` than `capacity`."""
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
    district: Annotated[
        District | None, Query(description="Only services located here; case is ignored.")
    ] = None,
    interest: Annotated[Keyword | None, Query(description="Only services with it.")] = None,
    language: Annotated[
        LanguageCode | None, Query(description="Only services held in it (ISO 639-1).")
    ] = None,
    search_text: Annotated[
        str | None,
        Query(
            alias="search",
            max_length=200,
            pattern=NO_NUL,
            description="Words a citizen looks for, e.g. `gåtur nørrebro`: services whose "
            "name, description, location's name or district, or interests have a word "
            "starting with any of them, ignoring case and accents (`norrebro` finds "
            "`Nørrebro`; `gaatur` and `gatur` find `gåtur`). The first "
            f"{search.MAX_QUERY_WORDS} words count; text with no letter or digit narrows "
            "nothing.",
            examples=["gåtur nørrebro"],
        ),
    ] = None,
) -> Page[ServicePublic]:
    """By name; every filter given must hold. With `search`: the services whose name
    matches more of the words first, then those matching more of the words anywhere, then
    by name."""
    filters = ServiceFilter(
        district=district, interest=interest, language=language, search=search_text
    )
    found, total = services.search_services(filters, paging.offset, paging.per_page, start_uow)
    return Page.of([ServicePublic.of(s) for s in found], total, paging)


@router.get(
    "/services/{service_id}",
    tags=["services"],
    summary="Read a service (public)",
    responses=_missing("service"),
)
def get_service(service_id: UUID, start_uow: StartUow) -> ServicePublic:
    try:
        return ServicePublic.of(services.get_service(service_id, start_uow))
    except services.ServiceNotFound as error:
        raise _not_found("service", service_id) from error


@router.patch(
    "/services/{service_id}",
    tags=["services"],
    summary="Change a service",
    responses={
        **PARTNER_ELSEWHERE,
        **_missing("service"),
        **rules(
            "`location_id` names one of the service's organisation's own locations.",
            "`free_places` stays at most `capacity`; of the two, one not sent keeps its "
            "current value (free places change as referrals are accepted and end).",
        ),
    },
)
def update_service(
    service_id: UUID, body: ServiceUpdate, start_uow: StartUow, principal: Editor
) -> ServicePublic:
    """A partner changes its own organisation's services only (403 for another's).

    Only the fields sent are written: a place taken by an accepted referral at the same
    moment is kept. `schedule_description: null` clears it; null for any other field is
    refused with 422 naming it.

    Refused with 422: a `location_id` that is not one of the organisation's own locations;
    more free places than capacity, counting the current value of whichever is not sent."""
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


class UnmetNeedReasons(BaseModel):
    """How many of a group's referrals went unmet for each reason."""

    no_match: int = Field(ge=0, description="Nothing in the directory fits.")
    all_declined: int = Field(ge=0, description="Every candidate declined.")
    all_expired: int = Field(ge=0, description="Every candidate let the offer lapse.")
    declined_or_expired: int = Field(ge=0, description="Every candidate declined or let lapse.")
    none_available: int = Field(ge=0, description="The remaining candidates closed or filled up.")


class UnmetNeedPublic(BaseModel):
    district: str
    target_group: str = Field(
        description=f"One of the citizen's target-group needs, or `{reports.NONE}` for "
        "referrals without one.",
        examples=["older_people"],
    )
    interest: str = Field(examples=["walking"])
    referrals: int = Field(ge=1, description="How many referrals of this group went unmet.")
    reasons: UnmetNeedReasons

    @classmethod
    def of(cls, need: UnmetNeed) -> UnmetNeedPublic:
        return cls(
            district=need.district,
            target_group=need.target_group,
            interest=need.interest,
            referrals=need.referrals,
            reasons=UnmetNeedReasons.model_validate(need.reasons),
        )


class UnmetNeedReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    first: date = Field(alias="from", description="The period's first day, as asked.")
    last: date = Field(alias="to", description="The period's last day, as asked.")
    data: list[UnmetNeedPublic] = Field(
        description="Most referrals first, then by district, target group and interest."
    )
    total: int = Field(ge=0, description="How many groups there are in all.")
    offset: int = Field(ge=0)
    limit: int = Field(ge=1)


PERIOD_RULE = "`to` is not before `from`."


@router.get(
    "/reports/unmet-need",
    tags=["reports"],
    summary="Report the unmet need",
    responses=rules(PERIOD_RULE),
)
def report_unmet_need(
    start_uow: StartUow,
    _operator: Annotated[Principal, Depends(require(Role.OPERATOR))],
    first: Annotated[
        Day, Query(alias="from", description="The first day, in Copenhagen's calendar.")
    ],
    last: Annotated[
        Day, Query(alias="to", description="The last day, included, in Copenhagen's calendar.")
    ],
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="How many to skip.")] = 0,
    limit: Annotated[int, Query(ge=1, le=200, description="At most this many.")] = 50,
) -> UnmetNeedReport:
    """Referrals for which no community was found in the period (nothing fit, or they were
    escalated), counted by district x target group x interest, the most-missed first: where
    new communities are needed. A referral counts once, on the day (Copenhagen time) and for
    the reason it first went unmet, under each of its target groups and interests; target
    groups are its needs among the directory's target groups. No personal data.

    Refused with 422: `to` before `from`."""
    try:
        period = reports.Period(first, last)
    except reports.InvalidPeriod as error:
        raise Problem(422, f"{error}: {PERIOD_RULE}") from error
    found, total = services.unmet_need(period, offset, limit, start_uow)
    return UnmetNeedReport(
        first=first,
        last=last,
        data=[UnmetNeedPublic.of(need) for need in found],
        total=total,
        offset=offset,
        limit=limit,
    )
