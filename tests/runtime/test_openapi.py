"""The runtime completes each route's entry in the OpenAPI document with what it shares."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel

from runtime.auth import Principal, Role, require
from runtime.http import IdempotencyKey, InputModel, unit_of_work_factory
from runtime.openapi import document_api, rules

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


class ThingCreate(InputModel):
    name: str


class ThingPublic(BaseModel):
    name: str


def document() -> dict[str, Any]:
    router = APIRouter()

    @router.post("/things", status_code=201, responses={409: {"description": "Taken."}})
    def create(
        body: ThingCreate,
        _who: Annotated[Principal, Depends(require(Role.OPERATOR, Role.PARTNER))],
        _uow: Annotated[object, Depends(unit_of_work_factory)],
        idempotency_key: IdempotencyKey = None,
    ) -> ThingPublic:
        raise NotImplementedError

    @router.get("/things/{name}", responses=rules("The name is not on the blocklist."))
    def read(name: str) -> ThingPublic:
        raise NotImplementedError

    @router.get("/ping")
    def ping() -> dict[str, str]:
        raise NotImplementedError

    app = FastAPI()
    app.include_router(router)
    document_api(app)
    return app.openapi()


def test_a_protected_create_lists_every_status_the_runtime_can_answer() -> None:
    operation = document()["paths"]["/things"]["post"]
    assert list(operation["responses"]) == ["201", "400", "401", "403", "409", "413", "422", "503"]
    for status in ("400", "401", "403", "409", "413", "422", "503"):
        assert operation["responses"][status]["content"] == PROBLEM, status
    assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]
    assert "Retry-After" in operation["responses"]["503"]["headers"]
    assert operation["responses"]["409"]["description"] == "Taken."
    assert operation["x-roles"] == ["operator", "partner"]
    assert operation["description"].endswith("Roles: `operator`, `partner`.")


def test_the_idempotency_key_is_a_required_header_and_its_absence_a_400() -> None:
    operation = document()["paths"]["/things"]["post"]
    [header] = operation["parameters"]
    assert (header["name"], header["in"], header["required"]) == ("Idempotency-Key", "header", True)
    assert header["schema"]["type"] == "string"
    assert "Idempotency-Key" in operation["responses"]["400"]["description"]


def test_a_public_read_has_no_auth_statuses_and_keeps_its_own_rules() -> None:
    operation = document()["paths"]["/things/{name}"]["get"]
    assert list(operation["responses"]) == ["200", "422"]
    assert operation["responses"]["422"]["x-rules"] == ["The name is not on the blocklist."]
    assert "x-roles" not in operation
    assert list(document()["paths"]["/ping"]["get"]["responses"]) == ["200"]


def test_errors_share_one_problem_schema_and_fastapis_own_422_model_is_gone() -> None:
    schemas = document()["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    assert set(schemas["Problem"]["required"]) == {"type", "title", "status", "detail", "instance"}
    assert schemas["Problem"]["properties"]["errors"]["anyOf"][0]["items"] == {
        "$ref": "#/components/schemas/FieldError"
    }
