"""The committed contract files: current, valid, and guarded against breaking changes."""

import importlib
import json
from copy import deepcopy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient

from contracts import MatchesFound, ReferralSubmitted
from contracts.partners import PARTNER_EVENTS
from tools import SERVICES
from tools.contracts import (
    PARTNER_TOPIC_DOCUMENT,
    ROOT,
    STANDARDS,
    breaking_changes,
    generated_files,
)

ASYNCAPI_SCHEMA = json.loads((STANDARDS / "asyncapi" / "asyncapi-3.0.0.json").read_text())


def test_the_committed_schemas_and_asyncapi_documents_are_the_generated_ones() -> None:
    stale = [
        str(path.relative_to(ROOT))
        for path, text in generated_files().items()
        if not path.exists() or path.read_text() != text
    ]
    assert stale == [], "run `python -m tools.contracts generate` and commit"


@pytest.mark.parametrize("service", SERVICES)
def test_each_services_asyncapi_document_is_valid_asyncapi_3(service: str) -> None:
    document = json.loads((ROOT / "services" / service / "asyncapi.json").read_text())
    jsonschema.Draft7Validator(ASYNCAPI_SCHEMA).validate(document)
    assert document["asyncapi"] == "3.0.0"


def test_the_partner_topics_asyncapi_document_is_valid_and_names_every_event_a_partner_gets() -> (
    None
):
    document = json.loads(PARTNER_TOPIC_DOCUMENT.read_text())
    jsonschema.Draft7Validator(ASYNCAPI_SCHEMA).validate(document)
    [channel] = document["channels"].values()
    assert channel["address"] == "partner.{organizationId}.v1"
    names = {message["name"] for message in document["components"]["messages"].values()}
    assert names == {event.event_type for event in PARTNER_EVENTS}
    [operation] = document["operations"].values()
    assert (operation["action"], len(operation["messages"])) == ("receive", len(PARTNER_EVENTS))


def test_notifications_document_says_it_writes_every_partner_event_on_partners_topics() -> None:
    document = json.loads((ROOT / "services" / "notifications" / "asyncapi.json").read_text())
    operation = document["operations"]["send_partner"]
    assert operation["channel"] == {"$ref": "#/channels/partner"}
    assert document["channels"]["partner"]["address"] == "partner.{organizationId}.v1"
    sent = {ref["$ref"].rsplit("/", 1)[1] for ref in operation["messages"]}
    assert sent == {event.__name__ for event in PARTNER_EVENTS}


@pytest.mark.parametrize("service", SERVICES)
def test_a_running_service_serves_the_committed_asyncapi_document(
    service: str, offline_service_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    offline_service_env.setenv(f"{service.upper()}_DATABASE_URL", f"sqlite:///{tmp_path}/db")
    app = importlib.import_module(f"{service}.app").create_app()
    with TestClient(app) as client:
        served = client.get("/asyncapi.json").json()
    committed = json.loads((ROOT / "services" / service / "asyncapi.json").read_text())
    for part in ("channels", "operations", "components"):
        assert served[part] == committed[part], f"{service}: {part} differ"


def schema_of(model: Any) -> dict[str, Any]:
    schema: dict[str, Any] = model.model_json_schema()
    return schema


def changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return list(breaking_changes(old, new, old, new))


def test_adding_an_optional_field_breaks_no_consumer() -> None:
    old = schema_of(ReferralSubmitted)
    new = deepcopy(old)
    new["properties"]["mobility"] = {"type": "string"}
    assert changes(old, new) == []


def test_removing_or_unrequiring_a_field_breaks_consumers() -> None:
    old = schema_of(ReferralSubmitted)
    new = deepcopy(old)
    del new["properties"]["district"]
    new["required"].remove("district")
    assert any("district" in reason for reason in changes(old, new))


def test_changing_a_fields_type_breaks_consumers() -> None:
    old = schema_of(ReferralSubmitted)
    new = deepcopy(old)
    new["properties"]["district"] = {"type": "integer"}
    assert any("type" in reason for reason in changes(old, new))


def test_a_new_enum_value_breaks_consumers_but_a_narrower_one_does_not() -> None:
    old = schema_of(ReferralSubmitted)
    wider, narrower = deepcopy(old), deepcopy(old)
    wider["properties"]["age_band"]["enum"].append("100+")
    narrower["properties"]["age_band"]["enum"].remove("90+")
    assert any("enum" in reason for reason in changes(old, wider))
    assert changes(old, narrower) == []


def test_loosening_a_nested_constraint_breaks_consumers() -> None:
    old = schema_of(MatchesFound)
    new = deepcopy(old)
    del new["$defs"]["Match"]["properties"]["score"]["minimum"]
    assert any("score" in reason and "minimum" in reason for reason in changes(old, new))
