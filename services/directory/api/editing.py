"""Keeping the directory: operators add organisations and may change anything; partners
change their own organisation's locations and services. Bodies are HSDS 3.0 documents; every
change goes to the HSDS change log and is announced."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Depends, status
from fastapi.responses import JSONResponse

from directory import services
from directory.api.common import StartUow, json, missing, not_found, rejected
from directory.hsds import openapi as hsds
from directory.hsds import validation
from runtime.auth import Principal, Role, require
from runtime.openapi import rules
from runtime.problems import Problem

router = APIRouter()

Editor = Annotated[Principal, Depends(require(Role.OPERATOR, Role.PARTNER))]
Document = Annotated[dict[str, Any], Body()]

MERGE_PATCH = "application/merge-patch+json"
FORBIDDEN: dict[int | str, dict[str, Any]] = {
    403: {
        "description": "The token's role may not do this, or it is a partner's token and the "
        "record, or one it would change, is another organisation's or the directory's own."
    }
}
ALREADY_THERE: dict[int | str, dict[str, Any]] = {
    409: {"description": "A record with the id in the body is there already."}
}
WRITE_RULES = (
    *validation.PROFILE_RULES,
    "Each foreign key names a record that is there, in the body or in the directory.",
    "A record nested in another names no other parent than the one it is nested in, and one "
    "id stands for one record wherever it appears.",
)
PUT_RULE = "The body's `id`, if given, is the path's."
PATCH_RULE = "`id`, if given, is the path's; the record as patched keeps to the write rules."
PLURAL = {"organization": "organizations", "location": "locations", "service": "services"}
ANSWER = {
    "organization": "HSDSOrganizationWithServices",
    "location": "HSDSLocation",
    "service": "HSDSService",
}
"""The component of each kind's nested form, as written back."""


def _body(kind: str, what: str) -> dict[str, Any]:
    write = hsds.schema_ref(hsds.component_name(kind) + "Write")
    return {
        "requestBody": {
            "required": True,
            "description": what,
            "content": {"application/json": {"schema": write}},
        }
    }


def _patch_body(kind: str) -> dict[str, Any]:
    patch = {"schema": hsds.schema_ref(hsds.component_name(kind) + "Patch")}
    return {
        "requestBody": {
            "required": True,
            "description": f"A JSON Merge Patch (RFC 7396) of the {kind}'s nested form: the "
            "members given replace the current ones (an array as a whole), null removes one, "
            "the rest stays as it is at this moment.",
            "content": {MERGE_PATCH: patch, "application/json": patch},
        }
    }


def _answer(kind: str, description: str, code: int = 200) -> dict[int | str, dict[str, Any]]:
    answer = hsds.responses_for(ANSWER[kind], description)
    return {code: answer[200]} if code != 200 else answer


def _editor(principal: Principal) -> services.Editor:
    by = f"{principal.role.value}:{principal.subject}"
    if principal.role is Role.PARTNER:
        return services.Editor(by, principal.organization_id)
    return services.Editor(by)


def _write(kind: str, record_id: UUID | None, call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return call()
    except services.Rejected as error:
        raise rejected(error) from error
    except services.Forbidden as error:
        raise Problem(403, f"{error}.") from error
    except services.NotFound as error:
        assert record_id is not None, "only a change names a record that may be missing"
        raise not_found(kind, record_id) from error
    except services.AlreadyThere as error:
        raise Problem(409, f"{error}: change it with PUT or PATCH.") from error


def _routes(kind: str, *creators: Role) -> None:
    """POST, PUT and PATCH of one kind of record."""
    plural = PLURAL[kind]

    @router.post(
        f"/{plural}",
        tags=[plural],
        status_code=status.HTTP_201_CREATED,
        summary=f"Add a {kind}",
        operation_id=f"create_{kind}",
        response_class=JSONResponse,
        responses=_answer(kind, f"The {kind} was added; its nested form.", 201)
        | FORBIDDEN
        | ALREADY_THERE
        | rules(*WRITE_RULES),
        openapi_extra=_body(kind, f"The {kind} as HSDS 3.0 has it; `id` is assigned if left out."),
    )
    def create(
        document: Document,
        start_uow: StartUow,
        principal: Principal = Depends(require(*creators)),  # noqa: B008 - FastAPI's way
    ) -> Any:
        created = _write(
            kind,
            None,
            lambda: services.create(kind, document, _editor(principal), start_uow),
        )
        return json(created, 201, Location=f"/{plural}/{created['id']}")

    @router.put(
        f"/{plural}/{{id}}",
        tags=[plural],
        summary=f"Replace a {kind}",
        operation_id=f"replace_{kind}",
        response_class=JSONResponse,
        responses=_answer(kind, f"The {kind} as it is now.")
        | FORBIDDEN
        | missing(kind)
        | rules(*WRITE_RULES, PUT_RULE),
        openapi_extra=_body(
            kind, f"The whole {kind} with what it is made of; what it leaves out is removed."
        ),
    )
    def replace(id: UUID, document: Document, start_uow: StartUow, principal: Editor) -> Any:
        return json(
            _write(
                kind,
                id,
                lambda: services.replace(kind, str(id), document, _editor(principal), start_uow),
            )
        )

    @router.patch(
        f"/{plural}/{{id}}",
        tags=[plural],
        summary=f"Change some fields of a {kind}",
        operation_id=f"change_{kind}",
        response_class=JSONResponse,
        responses=_answer(kind, f"The {kind} as it is now.")
        | FORBIDDEN
        | missing(kind)
        | rules(*WRITE_RULES, PATCH_RULE),
        openapi_extra=_patch_body(kind),
    )
    def change(id: UUID, patch: Document, start_uow: StartUow, principal: Editor) -> Any:
        return json(
            _write(
                kind,
                id,
                lambda: services.change(kind, str(id), patch, _editor(principal), start_uow),
            )
        )


_routes("organization", Role.OPERATOR)
_routes("location", Role.OPERATOR, Role.PARTNER)
_routes("service", Role.OPERATOR, Role.PARTNER)


@router.get(
    "/locations/{id}",
    tags=["locations"],
    summary="Retrieve a fully nested location",
    operation_id="retrieveLocationById",
    response_class=JSONResponse,
    responses=hsds.responses_for("HSDSLocation", "The location, fully nested.")
    | missing("location"),
)
def get_location(id: UUID, start_uow: StartUow) -> Any:
    try:
        return json(services.one("location", id, start_uow))
    except services.NotFound as error:
        raise not_found("location", id) from error
