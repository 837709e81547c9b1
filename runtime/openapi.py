"""The OpenAPI document each service serves: what the routes declare, plus what every
route shares, so that no service repeats it and no status goes undocumented.

From each route's dependencies the document learns which statuses the runtime can answer
for it: 401/403 and the roles where a token is required, 413 where there is a body, 422
where anything is validated, 503 where the database is used, 400 where an
`Idempotency-Key` is required. Every error answer is RFC 9457 problem+json with one schema.
Routes declare only what is theirs (404, 409, business rules) as `responses={404: {...}}`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, Field

from runtime.http import IDEMPOTENCY_KEY_HEADER, MAX_BODY_BYTES, unit_of_work_factory
from runtime.problems import PROBLEM_JSON

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


class FieldError(BaseModel):
    location: str = Field(
        description="Where the error is: `body.citizen.name`, `query.limit`, `path.id`.",
        examples=["body.district"],
    )
    message: str = Field(description="What is wrong there.", examples=["Field required"])


class Problem(BaseModel):
    """RFC 9457 problem details: every error this API answers has this shape."""

    type: str = Field(
        description="A URI reference naming the kind of problem; `about:blank` when the "
        "status says it all.",
        json_schema_extra={"format": "uri-reference"},
    )
    title: str = Field(description="The status's short name, e.g. `Not Found`.")
    status: int = Field(ge=400, le=599, description="The HTTP status, repeated.")
    detail: str = Field(description="What went wrong with this request, and what to do.")
    instance: str = Field(
        description="The path of the request.", json_schema_extra={"format": "uri-reference"}
    )
    errors: list[FieldError] | None = Field(
        default=None,
        description="Only on 422 from validation: each field that does not match the schema.",
    )


RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}
WWW_AUTHENTICATE = {
    "WWW-Authenticate": {
        "description": "`Bearer`: the scheme this API expects.",
        "required": True,
        "schema": {"type": "string"},
    }
}

MISSING_IDEMPOTENCY_KEY = (
    f"The `{IDEMPOTENCY_KEY_HEADER}` header is missing: send a key unique to what is created, "
    "and the same key when retrying."
)
UNREADABLE_BODY = (
    "The body cannot be read (it is not UTF-8), or its `Content-Length` header is not a number."
)
UNAUTHORIZED = (
    "No bearer token, or one that is not valid (signature, expiry, issuer, audience, claims)."
)
FORBIDDEN = "The token's role may not do this."
TOO_LARGE = f"The request body is over {MAX_BODY_BYTES} bytes."
INVALID = "The request does not match this document; `errors` says where."
UNAVAILABLE = (
    "The service's database is not answering or is too busy; nothing was changed. "
    "Try again after `Retry-After` seconds."
)
SHARED_HEADERS = {"401": WWW_AUTHENTICATE, "503": RETRY_AFTER}


LOCATION = {
    "Location": {
        "description": "The path of the resource.",
        "required": True,
        "schema": {"type": "string", "format": "uri-reference"},
    }
}


def created_responses(model: type[BaseModel], what: str) -> dict[int | str, dict[str, Any]]:
    """201 for a create; 200 for a retry that found the first one (see `answer_created`)."""
    return {
        201: {"description": f"The {what} was created.", "headers": LOCATION},
        200: {
            "model": model,
            "description": f"A retry with the same Idempotency-Key: the {what} as it is now.",
            "headers": LOCATION,
        },
    }


def rules(*statements: str) -> dict[int | str, dict[str, Any]]:
    """422 for a route's rules that JSON Schema cannot state (they compare fields or look at
    stored data): the document lists them, and `x-rules` marks them for tools."""
    listed = " ".join(statements)
    return {
        422: {
            "description": f"The request does not match this document (`errors` says where), "
            f"or it breaks a rule: {listed}",
            "x-rules": list(statements),
        }
    }


def document_api(app: FastAPI) -> None:
    """Make `app.openapi()` describe everything the service answers."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = complete(document, app.routes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(document: dict[str, Any], routes: list[Any]) -> dict[str, Any]:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    # FastAPI's own 422 models describe a body this API never sends.
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schemas["Problem"].pop("$defs", {}))
    for scheme in document["components"].get("securitySchemes", {}).values():
        scheme["bearerFormat"] = "JWT"
        scheme["description"] = (
            "A JWT with the claim `role` (care_system, partner, operator or reviewer); "
            "a partner's also names its organisation in `org`."
        )
    # Routes of included routers come as contexts carrying their effective path.
    for route in iter_route_contexts(routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        for method in route.methods or ():
            operation = document["paths"][route.path_format].get(method.lower())
            if operation is not None:
                _complete_operation(operation, route.dependant)
    return document


def _complete_operation(operation: dict[str, Any], dependant: Dependant) -> None:
    calls = [dep.call for dep in _dependencies(dependant)]
    roles = [role for call in calls for role in getattr(call, "roles", ())]
    responses: dict[str, dict[str, Any]] = operation["responses"]
    shared: dict[str, list[str]] = defaultdict(list)
    if roles:
        names = ", ".join(f"`{role}`" for role in roles)
        operation["x-roles"] = [str(role) for role in roles]
        description = operation.get("description", "")
        operation["description"] = f"{description}\n\nRoles: {names}.".strip()
        shared["401"].append(UNAUTHORIZED)
        shared["403"].append(FORBIDDEN)
    parameters = operation.get("parameters", [])
    for parameter in parameters:
        if parameter["in"] == "header" and parameter["name"].lower() == "idempotency-key":
            _require_idempotency_key(parameter)
            shared["400"].append(MISSING_IDEMPOTENCY_KEY)
    if "requestBody" in operation:
        shared["400"].append(UNREADABLE_BODY)
        shared["413"].append(TOO_LARGE)
    if parameters or "requestBody" in operation:
        shared["422"].append(INVALID)
    if any(call is unit_of_work_factory for call in calls):
        shared["503"].append(UNAVAILABLE)
    for status, reasons in shared.items():
        response = responses.setdefault(status, {})
        # A route's own description of the status (e.g. its rules) stays; FastAPI's goes.
        if response.get("description", "Validation Error") == "Validation Error":
            response["description"] = " Or: ".join(reasons)
        if status in SHARED_HEADERS:
            response.setdefault("headers", SHARED_HEADERS[status])
    for status, response in responses.items():
        if status.isdigit() and int(status) >= 400:
            response["content"] = {PROBLEM_JSON: {"schema": PROBLEM_REF}}
    operation["responses"] = dict(sorted(responses.items()))


def _require_idempotency_key(parameter: dict[str, Any]) -> None:
    """The route takes the header as optional so that its absence is a clear 400 rather
    than a validation error; the document states it as what it is: required."""
    schema = parameter["schema"]
    string = next(s for s in schema.pop("anyOf", [schema]) if s.get("type") == "string")
    parameter["name"] = IDEMPOTENCY_KEY_HEADER
    parameter["required"] = True
    parameter["schema"] = {**string, "title": schema.get("title", "Idempotency-Key")}


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for dependency in dependant.dependencies:
        yield dependency
        yield from _dependencies(dependency)
