"""FHIR R4 for care systems (HL7 Gravity's SDOH referral workflow, the parts that fit):
`POST /fhir/ServiceRequest` submits a referral, `GET /fhir/Task/{id}` and `GET /fhir/Task`
follow it, `GET /fhir/metadata` says what is supported.

Bodies are `application/fhir+json` (`application/json` is taken too) and every answer is
`application/fhir+json`; every error under `/fhir/`, whoever raises it (the token check, an
unknown path, a refusal), answers as an OperationOutcome with the HTTP status: `install`
turns the problem details the rest of the service answers with into OperationOutcomes there.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from referrals import services
from referrals.api.models import Lifecycle, StartUow, actor_of, refusals
from referrals.domain import Actor, InvalidAnswer, InvalidPersonalNumber, NotEligible, Referral
from referrals.fhir.capability import capability_statement
from referrals.fhir.intake import submit_command
from referrals.fhir.outcome import (
    FhirError,
    Issue,
    IssueType,
    issues_of_problem,
    operation_outcome,
)
from referrals.fhir.service_request import last_updated, service_request
from referrals.fhir.task import searchset, task
from runtime.auth import Principal, Role, require
from runtime.idempotency import IdempotencyConflict
from runtime.openapi import LOCATION, RETRY_AFTER, UNAVAILABLE, rules
from runtime.problems import PROBLEM_JSON

FHIR_JSON = "application/fhir+json"
PREFIX = "/fhir"


class FhirResponse(JSONResponse):
    media_type = FHIR_JSON


router = APIRouter(prefix=PREFIX, tags=["fhir"], default_response_class=FhirResponse)

CareOrOperator = Annotated[Principal, Depends(require(Role.CARE_SYSTEM, Role.OPERATOR))]
CareSystem = Annotated[Principal, Depends(require(Role.CARE_SYSTEM))]

ID = r"^[A-Za-z0-9\-.]{1,64}$"
"""FHIR's `id`: what a read may ask for (an id Brobygger never gave out is simply not found)."""
FhirId = Annotated[str, Path(pattern=ID, description="The referral's id.")]
LAST_UPDATED = (
    r"^gt[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:"
    r"[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00))$"
)
SEARCH_PARAMETERS = frozenset({"focus", "_lastUpdated", "_count"})
EARLIEST = datetime.min.replace(tzinfo=UTC)

FHIR_RULE = (
    "The body is a valid FHIR R4 ServiceRequest: every element as FHIR defines it, every "
    "contained resource of a known type."
)
REFERRAL_RULE = (
    "It is a referral: an identifier (system and value), status `active`, intent `order`, "
    "category SDOH `social-connection`, code SNOMED CT 422650009, the interests as "
    "orderDetail, the subject a contained Patient with the CPR number, name, district and "
    "languages, and supportingInfo a contained active Consent that permits `referral`."
)
BIRTH_DATE_RULE = "The CPR number holds a real birth date, not in the future."
AGE_RULE = "The citizen is 65 or older today."
CALENDAR_RULE = "`_lastUpdated` names a date-time the calendar has (not 30 February, say)."


def _schema(name: str) -> dict[str, Any]:
    return {"schema": {"$ref": f"#/components/schemas/{name}"}}


def _answer(name: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {FHIR_JSON: _schema(name)}, **extra}


def _fhir(resource: dict[str, Any], status: int = 200, **headers: str) -> FhirResponse:
    return FhirResponse(resource, status_code=status, headers=headers or None)


async def _body(request: Request) -> object:
    """The request's JSON; read here, not by FastAPI, so that whatever is wrong with it
    answers as an OperationOutcome naming the element."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in (FHIR_JSON, "application/json"):
        raise FhirError(
            415,
            Issue(
                IssueType.NOT_SUPPORTED,
                f"Send the ServiceRequest as {FHIR_JSON} (or application/json).",
            ),
        )
    try:
        body: object = json.loads(await request.body())
    except (ValueError, RecursionError) as error:  # not JSON, not UTF-8, nested beyond reason
        raise FhirError(
            400, Issue(IssueType.STRUCTURE, "The body is not JSON: send a ServiceRequest.")
        ) from error
    return body


@router.post(
    "/ServiceRequest",
    status_code=201,
    summary="Submit a referral as a FHIR ServiceRequest",
    response_model=None,
    responses={
        201: _answer(
            "ServiceRequest",
            "The referral was created: the ServiceRequest as Brobygger keeps it, without the "
            "citizen's personal data.",
            headers=LOCATION,
        ),
        200: _answer(
            "ServiceRequest",
            "This ServiceRequest (its identifier and content) was sent before: the referral "
            "as it is now.",
            headers=LOCATION,
        ),
        400: {"description": "The body is not JSON, not a JSON object, or not a ServiceRequest."},
        409: {
            "description": "A ServiceRequest with this identifier was sent before with other "
            "content; nothing changed."
        },
        415: {"description": f"The body is neither {FHIR_JSON} nor application/json."},
        **rules(FHIR_RULE, REFERRAL_RULE, BIRTH_DATE_RULE, AGE_RULE),
        503: {"description": UNAVAILABLE, "headers": RETRY_AFTER},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                FHIR_JSON: _schema("ServiceRequestSubmitted"),
                "application/json": _schema("ServiceRequestSubmitted"),
            },
        }
    },
)
def submit_service_request(
    request: Request,
    principal: CareSystem,
    lifecycle: Lifecycle,
    body: Annotated[object, Depends(_body)],
) -> Response:
    """A care system refers a citizen. The ServiceRequest's identifier (the care record's
    reference) makes it idempotent: sent again unchanged it answers 200 with the same
    referral; the same identifier with other content answers 409. Every element missing or
    wrong is named in the OperationOutcome's `expression`."""
    command = submit_command(body, principal.subject)
    try:
        referral, created = services.submit_referral(
            command, lifecycle.start_uow, request.app.state.vault, lifecycle.clock
        )
    except InvalidPersonalNumber as error:
        raise FhirError(
            422,
            Issue(
                IssueType.VALUE,
                "The CPR number is ten digits (DDMMYY-SSSS) holding a real birth date, not in "
                "the future.",
                "Patient.identifier",
            ),
        ) from error
    except NotEligible as error:
        raise FhirError(
            422,
            Issue(
                IssueType.BUSINESS_RULE,
                "Brobygger is for citizens aged 65 and over; by the CPR number, this citizen "
                "is younger.",
                "Patient.identifier",
            ),
        ) from error
    except InvalidAnswer as error:
        raise FhirError(422, Issue(IssueType.BUSINESS_RULE, f"{error}.")) from error
    except IdempotencyConflict as error:
        raise FhirError(
            409,
            Issue(
                IssueType.CONFLICT,
                "A ServiceRequest with this identifier was sent before with other content: "
                "a new referral needs an identifier of its own.",
                "ServiceRequest.identifier",
            ),
        ) from error
    location = f"{PREFIX}/ServiceRequest/{referral.id}"
    return _fhir(service_request(referral), 201 if created else 200, Location=location)


def _referral(resource_id: str, actor: Actor, start_uow: services.UnitOfWorkFactory) -> Referral:
    try:
        referral_id = UUID(resource_id)
    except ValueError as error:
        raise FhirError(404, Issue(IssueType.NOT_FOUND, "There is no such referral.")) from error
    with refusals(referral_id):
        return services.get_referral(referral_id, actor, start_uow)


READ_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "There is no referral with this id that the token may see."},
    410: {"description": "The referral was erased with its citizen's data."},
}


@router.get(
    "/ServiceRequest/{resource_id}",
    summary="Read a referral as a FHIR ServiceRequest",
    response_model=None,
    responses={200: _answer("ServiceRequest", "The ServiceRequest."), **READ_RESPONSES},
)
def read_service_request(
    resource_id: FhirId, start_uow: StartUow, principal: CareOrOperator
) -> Response:
    """The referral as Brobygger keeps it, without the citizen's personal data: the subject
    is the referral's pseudonymous reference. A care system reads the ones it submitted."""
    return _fhir(service_request(_referral(resource_id, actor_of(principal), start_uow)))


@router.get(
    "/Task/{resource_id}",
    summary="Follow a referral as a FHIR Task",
    response_model=None,
    responses={200: _answer("Task", "The Task."), **READ_RESPONSES},
)
def read_task(resource_id: FhirId, start_uow: StartUow, principal: CareOrOperator) -> Response:
    """How the referral is going: its status (and Brobygger's own in `businessStatus`),
    why where the status needs a reason, the organisation that accepted it as `owner`, and
    the follow-up scores as contained Observations. The Task has the referral's id."""
    return _fhir(task(_referral(resource_id, actor_of(principal), start_uow)))


@router.get(
    "/Task",
    summary="Search the referrals' Tasks",
    response_model=None,
    responses={
        200: _answer("Bundle", "A searchset Bundle of the Tasks found."),
        400: {"description": "A search parameter this server does not support."},
        **rules(CALENDAR_RULE),
    },
)
def search_tasks(
    request: Request,
    start_uow: StartUow,
    principal: CareOrOperator,
    focus: Annotated[
        str | None,
        Query(
            pattern=r"^ServiceRequest/[A-Za-z0-9\-.]{1,64}$",
            description="`ServiceRequest/{id}`: the Task of that referral.",
        ),
    ] = None,
    changed_after: Annotated[
        str | None,
        Query(
            alias="_lastUpdated",
            pattern=LAST_UPDATED,
            description="`gt` and a date-time with its time zone: the Tasks changed since.",
            examples=["gt2026-11-22T09:00:00Z"],
        ),
    ] = None,
    count: Annotated[
        int, Query(alias="_count", ge=1, le=200, description="At most this many.")
    ] = 50,
) -> Response:
    """A care system finds its own referrals' Tasks, an operator everyone's: the one of a
    ServiceRequest (`focus`), or those changed since a time (`_lastUpdated=gt...`), the least
    recently changed first. Other parameters answer 400."""
    if set(request.query_params) - SEARCH_PARAMETERS:
        raise FhirError(
            400,
            Issue(
                IssueType.NOT_SUPPORTED,
                f"Only these search parameters are supported: "
                f"{', '.join(sorted(SEARCH_PARAMETERS))}.",
            ),
        )
    after = _after(changed_after)
    actor = actor_of(principal)
    if focus is not None:
        found = _focused(focus.removeprefix("ServiceRequest/"), actor, start_uow)
        referrals = [r for r in found if after is None or last_updated(r) > after]
    else:
        referrals = services.updated_after(actor, after or EARLIEST, count, start_uow)
    return _fhir(searchset([task(r) for r in referrals], _base(request), str(request.url)))


def _after(changed_after: str | None) -> datetime | None:
    if changed_after is None:
        return None
    try:
        return datetime.fromisoformat(changed_after.removeprefix("gt")).astimezone(UTC)
    except (ValueError, OverflowError) as error:
        raise FhirError(422, Issue(IssueType.VALUE, f"_lastUpdated: {CALENDAR_RULE}")) from error


def _focused(
    resource_id: str, actor: Actor, start_uow: services.UnitOfWorkFactory
) -> list[Referral]:
    try:
        referral_id = UUID(resource_id)
    except ValueError:
        return []  # an id Brobygger never gave out
    try:
        return [services.get_referral(referral_id, actor, start_uow)]
    except (services.ReferralNotFound, services.ReferralErased):
        return []


def _base(request: Request) -> str:
    return f"{str(request.base_url).rstrip('/')}{PREFIX}"


@router.get(
    "/metadata",
    summary="What this FHIR API supports",
    response_model=None,
    responses={200: _answer("CapabilityStatement", "The CapabilityStatement.")},
    dependencies=[Depends(require(Role.CARE_SYSTEM, Role.OPERATOR))],
)
def metadata(request: Request) -> Response:
    """The CapabilityStatement: the resources, interactions and search parameters this
    server supports, and nothing else."""
    return _fhir(capability_statement(_base(request)))


# --- errors as OperationOutcomes, and the API document ----------------------------------


def install(app: FastAPI) -> None:
    """Answer every error under `/fhir/` as an OperationOutcome, and describe the FHIR
    routes' bodies and errors in the app's OpenAPI document. Call once, after the routers
    are included."""
    for kind, handler in list(app.exception_handlers.items()):
        app.exception_handlers[kind] = _as_outcome(handler)
    app.add_exception_handler(FhirError, _fhir_error)
    _document(app)


def _under_fhir(request: Request) -> bool:
    path = request.url.path
    return path == PREFIX or path.startswith(f"{PREFIX}/")


def _as_outcome(handler: Callable[..., Any]) -> Callable[..., Any]:
    async def handle(request: Request, error: Exception) -> Response:
        response = handler(request, error)
        if inspect.isawaitable(response):
            response = await response
        if not _under_fhir(request) or response.media_type != PROBLEM_JSON:
            return response  # type: ignore[no-any-return]
        headers = {
            name: value
            for name, value in response.headers.items()
            if name not in ("content-length", "content-type")
        }
        issues = issues_of_problem(response.status_code, json.loads(bytes(response.body)))
        return FhirResponse(
            operation_outcome(issues), status_code=response.status_code, headers=headers
        )

    return handle


async def _fhir_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, FhirError)
    return _fhir(operation_outcome(error.issues), error.status)


def _document(app: FastAPI) -> None:
    describe = app.openapi

    def openapi() -> dict[str, Any]:
        document = describe()
        document["components"]["schemas"].update(SCHEMAS)
        for path, operations in document["paths"].items():
            if path == PREFIX or path.startswith(f"{PREFIX}/"):
                for operation in operations.values():
                    for status, response in operation["responses"].items():
                        if int(status) >= 400:
                            response["content"] = {FHIR_JSON: _schema("OperationOutcome")}
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _resource(name: str, required: list[str], **properties: Any) -> dict[str, Any]:
    """The schema of a FHIR resource as far as this API promises it: its type and the
    members it always has (the FHIR specification says the rest)."""
    return {
        "type": "object",
        "description": f"A FHIR R4 {name}; see the FHIR specification for every element.",
        "required": ["resourceType", *required],
        "properties": {"resourceType": {"const": name}, **properties},
    }


_OBJECT = {"type": "object"}
_OBJECTS = {"type": "array", "minItems": 1, "items": _OBJECT}
_STRING = {"type": "string"}

SCHEMAS: dict[str, Any] = {
    "ServiceRequestSubmitted": _resource(
        "ServiceRequest",
        [
            "identifier",
            "status",
            "intent",
            "category",
            "code",
            "orderDetail",
            "subject",
            "contained",
            "supportingInfo",
        ],
        identifier=_OBJECTS,
        status={"const": "active"},
        intent={"const": "order"},
        category=_OBJECTS,
        code=_OBJECT,
        orderDetail=_OBJECTS,
        subject={
            "type": "object",
            "required": ["reference"],
            "properties": {"reference": {"type": "string", "pattern": "^#"}},
        },
        contained=_OBJECTS,
        supportingInfo=_OBJECTS,
    ),
    "ServiceRequest": _resource(
        "ServiceRequest",
        ["id", "status", "intent", "subject"],
        id=_STRING,
        status=_STRING,
        intent={"const": "order"},
        subject=_OBJECT,
    ),
    "Task": _resource(
        "Task",
        ["id", "status", "businessStatus", "intent", "focus", "for"],
        id=_STRING,
        status=_STRING,
        businessStatus=_OBJECT,
        intent={"const": "order"},
        focus=_OBJECT,
        owner=_OBJECT,
        output={"type": "array", "items": _OBJECT},
        **{"for": _OBJECT},
    ),
    "Bundle": _resource(
        "Bundle",
        ["type", "entry"],
        type={"const": "searchset"},
        entry={
            "type": "array",
            "items": {
                "type": "object",
                "required": ["fullUrl", "resource"],
                "properties": {
                    "fullUrl": _STRING,
                    "resource": {"$ref": "#/components/schemas/Task"},
                },
            },
        },
    ),
    "CapabilityStatement": _resource(
        "CapabilityStatement",
        ["status", "date", "kind", "fhirVersion", "format", "rest"],
        kind={"const": "instance"},
        rest={"type": "array", "items": _OBJECT},
    ),
    "OperationOutcome": _resource(
        "OperationOutcome",
        ["issue"],
        issue={
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["severity", "code"],
                "properties": {
                    "severity": {"enum": ["fatal", "error", "warning", "information"]},
                    "code": _STRING,
                    "diagnostics": _STRING,
                    "expression": {"type": "array", "items": _STRING},
                },
            },
        },
    ),
}
