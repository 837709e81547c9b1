"""The HSDS 3.0 API (public, no token): the directory as Open Referral's API reference
serves it, its query parameters combining as AND."""

from __future__ import annotations

import json as jsonlib
from collections.abc import Iterator
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, BeforeValidator, Field

from directory import services
from directory.api.common import (
    DEFAULT_PER_PAGE,
    PageNumber,
    PerPage,
    StartUow,
    json,
    missing,
    not_found,
    page_body,
)
from directory.hsds import openapi as hsds
from directory.store import Near, ServiceQuery
from runtime.audit import Moment
from runtime.openapi import rules
from runtime.problems import Problem

router = APIRouter(tags=["hsds"])

HSDS_PROFILE = "urn:brobygger:hsds-profile"
"""Names Brobygger's HSDS profile (contracts/hsds/: HSDS 3.0 plus HSDS 3.1's `capacities`
on a service)."""
NDJSON = "application/x-ndjson"


def _true_or_false(value: object) -> object:
    # A query string carries text: only the two words JSON Schema's boolean has.
    if value in ("true", "false", True, False):
        return value in ("true", True)
    raise ValueError("Input should be true or false")


Flag = Annotated[bool, BeforeValidator(_true_or_false)]
Search = Annotated[
    str | None,
    Query(
        max_length=200,
        description="Full text search: words in any case, with or without Danish and Swedish "
        "letters ('norrebro' finds 'Nørrebro', 'gaatur' finds 'gåtur'); each word finds the "
        "words it begins; the best hits first.",
    ),
]
TermId = Annotated[
    UUID | None,
    Query(
        description="Services with an attribute of this taxonomy term (a term of Brobygger's "
        "vocabularies finds its wording in every language)."
    ),
]
TaxonomyId = Annotated[UUID | None, Query(description="Services with any term of this taxonomy.")]
OrganizationId = Annotated[UUID | None, Query(description="Services this organisation provides.")]
ModifiedAfter = Annotated[
    Moment | None, Query(description="Only those modified at or after this date-time (RFC 3339).")
]
Full = Annotated[
    Flag, Query(description="true: fully nested records; false: the one-to-one fields only.")
]
Postcode = Annotated[
    str | None,
    Query(
        pattern=r"^[0-9]{4}$",
        description="A Danish postcode: services at locations there, or with `proximity` "
        "within that distance of its centre.",
    ),
]
Proximity = Annotated[
    int | None,
    Query(ge=1, le=100_000, description="Metres from the centre of `postcode`."),
]
PROXIMITY_RULE = "`proximity` comes with a `postcode` whose centre the directory knows."


def _filters(
    search: Search = None,
    taxonomy_term_id: TermId = None,
    taxonomy_id: TaxonomyId = None,
    organization_id: OrganizationId = None,
    modified_after: ModifiedAfter = None,
) -> ServiceQuery:
    """The HSDS API's filters of services, as query parameters."""
    return ServiceQuery(
        search=search,
        taxonomy_term_ids=None if taxonomy_term_id is None else [taxonomy_term_id],
        taxonomy_id=taxonomy_id,
        organization_id=organization_id,
        modified_after=modified_after,
    )


Filters = Annotated[ServiceQuery, Depends(_filters)]


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
    summary="Retrieve information about this API and its relationship with HSDS.",
    operation_id="getAPIMetaInformation",
)
def api_root(request: Request) -> ApiRoot:
    """The HSDS API root (public)."""
    return ApiRoot(version="3.0", profile=HSDS_PROFILE, openapi_url=str(request.url_for("openapi")))


@router.get(
    "/services",
    summary="Retrieve a paginated list of services",
    operation_id="getPaginatedListOfServices",
    response_class=JSONResponse,
    responses=hsds.responses_for("HSDSServicePage", "A page of services.", ndjson=True),
)
def list_services(
    start_uow: StartUow,
    query: Filters,
    minimal: Annotated[
        Flag, Query(description="true: each service's id, name, status and last_modified only.")
    ] = False,
    full: Full = False,
    page: PageNumber = 1,
    per_page: PerPage = DEFAULT_PER_PAGE,
    format: Annotated[
        Literal["json", "ndjson"],
        Query(description="`ndjson`: every match, one service per line, without pages."),
    ] = "json",
) -> Any:
    if format == "ndjson":
        return _ndjson(services.all_services(query, start_uow, full=full))
    paging = services.Paging(page, per_page)
    return json(page_body(services.services(query, paging, start_uow, full=full, minimal=minimal)))


@router.get(
    "/services/{id}",
    summary="Retrieve a fully nested service",
    operation_id="retrieveServiceById",
    response_class=JSONResponse,
    responses=hsds.responses_for("HSDSService", "The service, fully nested.") | missing("service"),
)
def get_service(id: UUID, start_uow: StartUow) -> Any:
    return json(_one("service", id, start_uow))


@router.get(
    "/organizations",
    summary="Retrieve a paginated list of organizations",
    operation_id="getPaginatedListOfOrganizations",
    response_class=JSONResponse,
    responses=hsds.responses_for("HSDSOrganizationPage", "A page of organisations."),
)
def list_organizations(
    start_uow: StartUow,
    search: Search = None,
    full_service: Annotated[
        Flag, Query(description="true: each organisation with its services, fully nested.")
    ] = False,
    full: Full = False,
    page: PageNumber = 1,
    per_page: PerPage = DEFAULT_PER_PAGE,
) -> Any:
    paging = services.Paging(page, per_page)
    found = services.organizations(search, paging, start_uow, full=full, full_service=full_service)
    return json(page_body(found))


@router.get(
    "/organizations/{id}",
    summary="Retrieve a fully nested organization",
    operation_id="retrieveOrganizationById",
    response_class=JSONResponse,
    responses=hsds.responses_for("HSDSOrganizationWithServices", "The organisation, fully nested.")
    | missing("organization"),
)
def get_organization(
    id: UUID,
    start_uow: StartUow,
    full_service: Annotated[
        Flag, Query(description="true: with its services, fully nested.")
    ] = False,
) -> Any:
    return json(_one("organization", id, start_uow, full_service=full_service))


@router.get(
    "/service_at_locations",
    summary="Retrieve a paginated list of services at locations",
    operation_id="getPaginatedListOfServiceAtLocation",
    response_class=JSONResponse,
    responses=hsds.responses_for("HSDSServiceAtLocationPage", "A page of services at locations.")
    | rules(PROXIMITY_RULE),
)
def list_services_at_locations(
    start_uow: StartUow,
    query: Filters,
    full: Full = False,
    page: PageNumber = 1,
    per_page: PerPage = DEFAULT_PER_PAGE,
    postcode: Postcode = None,
    proximity: Proximity = None,
) -> Any:
    if proximity is not None and postcode is None:
        raise Problem(422, f"proximity without a postcode: {PROXIMITY_RULE}")
    near = Near(postal_code=postcode, metres=proximity)
    paging = services.Paging(page, per_page)
    try:
        found = services.services_at_locations(query, near, paging, start_uow, full=full)
    except services.NotFound as error:
        raise Problem(422, f"{error}: {PROXIMITY_RULE}") from error
    return json(page_body(found))


@router.get(
    "/service_at_locations/{id}",
    summary="Retrieve a fully nested service at location",
    operation_id="retrieveServiceAtLocationById",
    response_class=JSONResponse,
    responses=hsds.responses_for(
        "HSDSServiceAtLocationWithService", "The service at location, fully nested."
    )
    | missing("service at location"),
)
def get_service_at_location(id: UUID, start_uow: StartUow) -> Any:
    return json(_one("service_at_location", id, start_uow))


@router.get(
    "/taxonomies",
    summary="Retrieve a paginated list of taxonomies",
    operation_id="getPaginatedListOfTaxonomies",
    response_class=JSONResponse,
    responses=hsds.responses_for("HSDSTaxonomyPage", "A page of taxonomies."),
)
def list_taxonomies(
    start_uow: StartUow, page: PageNumber = 1, per_page: PerPage = DEFAULT_PER_PAGE
) -> Any:
    return json(page_body(services.taxonomies(services.Paging(page, per_page), start_uow)))


@router.get(
    "/taxonomies/{id}",
    summary="Retrieve a taxonomy",
    operation_id="retrieveTaxonomyById",
    response_class=JSONResponse,
    responses=hsds.responses_for("HSDSTaxonomy", "The taxonomy.") | missing("taxonomy"),
)
def get_taxonomy(id: UUID, start_uow: StartUow) -> Any:
    return json(_one("taxonomy", id, start_uow))


@router.get(
    "/taxonomy_terms",
    summary="Retrieve a paginated list of taxonomy terms",
    operation_id="getPaginatedListOfTaxonomyTerms",
    response_class=JSONResponse,
    responses=hsds.responses_for("HSDSTaxonomyTermPage", "A page of taxonomy terms."),
)
def list_taxonomy_terms(
    start_uow: StartUow,
    taxonomy_id: Annotated[UUID | None, Query(description="Terms of this taxonomy.")] = None,
    top_only: Annotated[Flag, Query(description="true: only terms without a parent.")] = False,
    parent_id: Annotated[UUID | None, Query(description="Terms under this term.")] = None,
    page: PageNumber = 1,
    per_page: PerPage = DEFAULT_PER_PAGE,
) -> Any:
    paging = services.Paging(page, per_page)
    found = services.taxonomy_terms(taxonomy_id, parent_id, top_only, paging, start_uow)
    return json(page_body(found))


@router.get(
    "/taxonomy_terms/{id}",
    summary="Retrieve a taxonomy term",
    operation_id="retrieveTaxonomyTermById",
    response_class=JSONResponse,
    responses=hsds.responses_for("HSDSTaxonomyTerm", "The taxonomy term.")
    | missing("taxonomy term"),
)
def get_taxonomy_term(id: UUID, start_uow: StartUow) -> Any:
    return json(_one("taxonomy_term", id, start_uow))


def _one(kind: str, record_id: UUID, start_uow: StartUow, **form: bool) -> dict[str, Any]:
    try:
        return services.one(kind, record_id, start_uow, **form)
    except services.NotFound as error:
        raise not_found(kind.replace("_", " "), record_id) from error


def _ndjson(documents: Iterator[dict[str, Any]]) -> StreamingResponse:
    lines = (jsonlib.dumps(document, ensure_ascii=False) + "\n" for document in documents)
    return StreamingResponse(lines, media_type=NDJSON)
