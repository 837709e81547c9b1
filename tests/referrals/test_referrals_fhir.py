"""The FHIR API of referrals over HTTP: a care system submits a ServiceRequest and follows
the referral as a Task. SQLite, an unreachable broker, and a clock the tests set."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from referrals import services
from referrals.app import create_app
from referrals.config import Settings
from referrals.domain import Actor, Party
from referrals.fhir import codes
from runtime.auth import Role
from tests.events import matches_found
from tests.fakes import FakeClock
from tests.kit import auth_header
from tests.referrals.support import NOW, PERSONAL_DATA
from tests.referrals.test_referrals_fhir_task import valid

FHIR_JSON = "application/fhir+json"
CARE = auth_header(Role.CARE_SYSTEM, subject="care-1")
OTHER_CARE = auth_header(Role.CARE_SYSTEM, subject="care-2")
OPERATOR = auth_header(Role.OPERATOR, subject="operator-anna")


@pytest.fixture
def client(
    offline_service_env: pytest.MonkeyPatch, tmp_path: Path, clock: FakeClock
) -> Iterator[TestClient]:
    offline_service_env.setenv("REFERRALS_DATABASE_URL", f"sqlite:///{tmp_path}/referrals.db")
    with TestClient(create_app(Settings(), clock=clock)) as test_client:
        yield test_client


def service_request(record: str = "visit-2026-11-22-0930") -> dict[str, Any]:
    """A care system's referral of Inger Jensen, 86, to a walking group or a chess club."""
    return {
        "resourceType": "ServiceRequest",
        "identifier": [{"system": "urn:oid:1.2.208.176.1.9.99", "value": record}],
        "status": "active",
        "intent": "order",
        "category": [{"coding": [{"system": codes.SDOH_CATEGORIES, "code": "social-connection"}]}],
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "422650009"}]},
        "orderDetail": [
            {"coding": [{"system": codes.DIRECTORY_INTERESTS, "code": "walking"}]},
            {"text": "Chess"},
        ],
        "subject": {"reference": "#citizen"},
        "supportingInfo": [{"reference": "#consent"}],
        "contained": [
            {
                "resourceType": "Patient",
                "id": "citizen",
                "identifier": [{"system": "urn:oid:1.2.208.176.1.2", "value": "010140-1234"}],
                "name": [{"family": "Jensen", "given": ["Inger"]}],
                "address": [
                    {
                        "line": ["Jagtvej 1"],
                        "postalCode": "2200",
                        "city": "København N",
                        "district": "Nørrebro",
                    }
                ],
                "communication": [
                    {
                        "language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "da-DK"}]},
                        "preferred": True,
                    }
                ],
            },
            {
                "resourceType": "Consent",
                "id": "consent",
                "status": "active",
                "scope": {"coding": [{"system": codes.CONSENT_SCOPES, "code": "patient-privacy"}]},
                "category": [
                    {"coding": [{"system": codes.ACT_CODES, "code": "IDSCL"}]},
                    {"coding": [{"system": codes.CONSENT_METHOD, "code": "verbal"}]},
                ],
                "patient": {"reference": "#citizen"},
                "dateTime": "2026-11-20",
                "performer": [{"identifier": {"value": "cw-4711"}}],
                "provision": {
                    "provision": [
                        {
                            "type": "permit",
                            "purpose": [{"system": codes.CONSENT_PURPOSE, "code": "referral"}],
                        },
                        {
                            "type": "permit",
                            "purpose": [
                                {"system": codes.CONSENT_PURPOSE, "code": "share_contact_details"}
                            ],
                        },
                        {
                            "type": "deny",
                            "purpose": [
                                {"system": codes.CONSENT_PURPOSE, "code": "follow_up_questions"}
                            ],
                        },
                    ]
                },
            },
        ],
    }


def post(
    client: TestClient,
    body: object,
    headers: dict[str, str] = CARE,
    content_type: str = FHIR_JSON,
) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response: httpx.Response = client.post(
        "/fhir/ServiceRequest", content=content, headers={**headers, "Content-Type": content_type}
    )
    return response


def outcome(response: httpx.Response, status: int) -> dict[str, Any]:
    """The OperationOutcome `response` must be, with `status`; it repeats nothing personal."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == FHIR_JSON
    assert not any(value in response.text for value in PERSONAL_DATA)
    found = valid(response.json())
    assert found["resourceType"] == "OperationOutcome"
    assert all(issue["severity"] == "error" for issue in found["issue"])
    return found


def expressions(found: dict[str, Any]) -> list[str]:
    return [e for issue in found["issue"] for e in issue.get("expression", [])]


def tasks(client: TestClient, query: str = "", headers: dict[str, str] = OPERATOR) -> list[str]:
    """The ids of the Tasks a search finds."""
    response = client.get(f"/fhir/Task{query}", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == FHIR_JSON
    bundle = valid(response.json())
    assert bundle["type"] == "searchset"
    return [entry["resource"]["id"] for entry in bundle["entry"]]


def test_a_service_request_creates_a_referral_with_what_the_care_system_sent(
    client: TestClient, clock: FakeClock
) -> None:
    response = post(client, service_request())
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == FHIR_JSON
    kept = valid(response.json())
    assert response.headers["location"] == f"/fhir/ServiceRequest/{kept['id']}"
    assert not any(value in response.text for value in PERSONAL_DATA)
    assert not any(r["resourceType"] == "Patient" for r in kept["contained"])
    assert kept["identifier"] == [{"value": "visit-2026-11-22-0930"}]
    view = client.get(f"/referrals/{kept['id']}", headers=CARE).json()
    assert (view["district"], view["interests"], view["languages"]) == (
        "Nørrebro",
        ["chess", "walking"],
        ["da"],
    )
    assert kept["subject"]["identifier"]["value"] == view["citizen_ref"]
    assert view["consent"] | {"withdrawal": None} == {
        "referral": True,
        "share_contact_details": True,
        "follow_up_questions": False,
        "share_outcome_with_care_system": False,
        "given_on": "2026-11-20",
        "recorded_by": "cw-4711",
        "how": "verbal",
        "withdrawal": None,
    }
    lifecycle: services.Lifecycle = client.app.state.lifecycle  # type: ignore[attr-defined]
    stored = services.get_referral(
        UUID(kept["id"]), Actor(Party.OPERATOR, "op"), lifecycle.start_uow
    )
    assert stored.care_record_reference == "visit-2026-11-22-0930"
    assert stored.age_band == "85-89"


def test_the_same_service_request_again_is_the_same_referral(client: TestClient) -> None:
    first = post(client, service_request())
    again = post(client, service_request(), content_type="application/json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["location"] == first.headers["location"]
    assert tasks(client) == [first.json()["id"]]


def test_the_same_identifier_with_other_content_is_a_conflict(client: TestClient) -> None:
    first = post(client, service_request())
    changed = service_request()
    changed["orderDetail"] = [{"text": "singing"}]
    found = outcome(post(client, changed), 409)
    assert found["issue"][0]["code"] == "conflict"
    assert expressions(found) == ["ServiceRequest.identifier"]
    assert tasks(client) == [first.json()["id"]]


def test_another_care_system_may_use_the_same_identifier_for_its_own_referral(
    client: TestClient,
) -> None:
    first = post(client, service_request())
    other = post(client, service_request(), headers=OTHER_CARE)
    assert (first.status_code, other.status_code) == (201, 201)
    assert first.json()["id"] != other.json()["id"]


JSON_NULL = object()
"""Stands for JSON's null in `changed`."""


def changed(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change to a ServiceRequest: `path` (`a.0.b`) set to `value` (JSON_NULL: null), or
    removed if None."""

    def change(body: dict[str, Any]) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        node: Any = body
        for part in parents:
            node = node[part]
        if value is None:
            del node[last]
        else:
            node[last] = _nulled(value)

    return change


def _nulled(value: Any) -> Any:
    if value is JSON_NULL:
        return None
    if isinstance(value, dict):
        return {k: _nulled(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nulled(v) for v in value]
    return value


PATIENT, CONSENT = "contained.0", "contained.1"


@pytest.mark.parametrize(
    ("change", "status", "expression"),
    [
        (changed("identifier", None), 422, "ServiceRequest.identifier"),
        (changed("identifier.0.system", None), 422, "ServiceRequest.identifier"),
        (changed("contained", [{"resourceType": "Basic", "id": "x"}]), 422, None),
        (changed(PATIENT, {"resourceType": "Basic", "id": "x", "code": {}}), 422, None),
        (changed("subject.reference", "Patient/123"), 422, "ServiceRequest.subject"),
        (changed("subject.reference", "#someone-else"), 422, "ServiceRequest.contained"),
        (changed(f"{PATIENT}.identifier", None), 422, "Patient.identifier"),
        (changed(f"{PATIENT}.identifier.0.system", "urn:oid:1.2.3"), 422, "Patient.identifier"),
        (changed(f"{PATIENT}.identifier.0.value", "010140-123"), 422, "Patient.identifier"),
        (changed(f"{PATIENT}.identifier.0.value", "320140-1234"), 422, "Patient.identifier"),
        (changed(f"{PATIENT}.name", None), 422, "Patient.name"),
        (changed(f"{PATIENT}.address.0.district", None), 422, "Patient.address.district"),
        (changed(f"{PATIENT}.communication", None), 422, "Patient.communication"),
        (
            changed(f"{PATIENT}.communication.0.language.coding.0.code", "dan"),
            422,
            "Patient.communication[0].language",
        ),
        (changed("category.0.coding.0.code", "food-insecurity"), 422, "ServiceRequest.category"),
        (changed("category", None), 422, "ServiceRequest.category"),
        (changed("code.coding.0.code", "73595000"), 422, "ServiceRequest.code"),
        (changed("status", "draft"), 422, "ServiceRequest.status"),
        (changed("intent", "proposal"), 422, "ServiceRequest.intent"),
        (changed("orderDetail", None), 422, "ServiceRequest.orderDetail"),
        (changed("orderDetail.1.text", "chess club"), 422, "ServiceRequest.orderDetail[1]"),
        (changed("supportingInfo", None), 422, "ServiceRequest.supportingInfo"),
        (changed("supportingInfo", JSON_NULL), 422, "ServiceRequest.supportingInfo"),
        (changed(f"{PATIENT}.name.0", {"given": [JSON_NULL]}), 422, "Patient.name"),
        (changed(f"{CONSENT}.status", "proposed"), 422, "Consent.status"),
        (changed(f"{CONSENT}.dateTime", "2026"), 422, "Consent.dateTime"),
        (changed(f"{CONSENT}.provision.provision.0.type", "deny"), 422, "Consent.provision"),
        (changed(f"{CONSENT}.category.1.coding.0.code", "email"), 422, "Consent.category"),
        # Not valid FHIR: the element is named as fhir.resources reads the body.
        (changed("subject", "#citizen"), 422, "ServiceRequest.subject"),
        (
            changed(f"{PATIENT}.birthDate", "1940-01-01x"),
            422,
            "ServiceRequest.contained[0].birthDate",
        ),
        (changed("nickname", "Inge"), 422, "ServiceRequest.nickname"),
        (changed("resourceType", "Patient"), 400, "ServiceRequest.resourceType"),
        (changed("resourceType", None), 400, "ServiceRequest.resourceType"),
    ],
)
def test_each_element_missing_or_wrong_is_named_and_nothing_is_created(
    client: TestClient,
    change: Callable[[dict[str, Any]], None],
    status: int,
    expression: str | None,
) -> None:
    body = service_request()
    change(body)
    found = outcome(post(client, body), status)
    if expression is not None:
        assert expression in expressions(found)
    else:
        assert found["issue"]
    assert tasks(client) == []


@pytest.mark.parametrize(
    "content", [b"{not json", b"[1, 2]", b'"ServiceRequest"', "{}".encode("utf-16")]
)
def test_a_body_that_is_no_json_object_is_a_bad_request(client: TestClient, content: bytes) -> None:
    outcome(post(client, content), 400)
    assert tasks(client) == []


def test_a_body_of_another_media_type_is_unsupported(client: TestClient) -> None:
    outcome(post(client, service_request(), content_type="application/xml"), 415)
    assert tasks(client) == []


def test_a_citizen_under_65_is_refused_naming_the_cpr_number(client: TestClient) -> None:
    body = service_request()
    body["contained"][0]["identifier"][0]["value"] = "010170-1234"
    found = outcome(post(client, body), 422)
    assert found["issue"][0]["code"] == "business-rule"
    assert expressions(found) == ["Patient.identifier"]
    assert "010170" not in json.dumps(found)
    assert tasks(client) == []


def test_only_a_care_system_may_submit_and_only_with_a_token(client: TestClient) -> None:
    partner = auth_header(Role.PARTNER, organization_id=uuid4())
    forbidden = outcome(post(client, service_request(), headers=partner), 403)
    assert forbidden["issue"][0]["code"] == "forbidden"
    outcome(post(client, service_request(), headers=OPERATOR), 403)
    missing = outcome(post(client, service_request(), headers={}), 401)
    assert missing["issue"][0]["code"] == "login"
    assert tasks(client) == []


def test_a_partner_reads_nothing_and_no_token_is_a_login_issue(client: TestClient) -> None:
    created = post(client, service_request()).json()
    partner = auth_header(Role.PARTNER, organization_id=uuid4())
    for path in ("/fhir/Task", f"/fhir/Task/{created['id']}", "/fhir/metadata"):
        outcome(client.get(path, headers=partner), 403)
        response = client.get(path)
        outcome(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"


def test_the_task_of_a_referral_follows_it_and_never_names_who_declined(
    client: TestClient,
) -> None:
    created = post(client, service_request()).json()
    referral_id = UUID(created["id"])
    walkers, visitors = uuid4(), uuid4()
    lifecycle: services.Lifecycle = client.app.state.lifecycle  # type: ignore[attr-defined]
    with lifecycle.start_uow() as uow:
        found = matches_found(referral_id, walkers, visitors)
        services.offer_to_candidates(found, uow, lifecycle.offer_ttl, lifecycle.clock)
    read = client.get(f"/fhir/Task/{referral_id}", headers=CARE)
    assert read.headers["content-type"] == FHIR_JSON
    offered = valid(read.json())
    assert (offered["status"], offered["businessStatus"]["coding"][0]["code"]) == (
        "requested",
        "offered",
    )
    assert "owner" not in offered
    for org, step, body in (
        (walkers, "decline", {"reason": "no_capacity"}),
        (visitors, "accept", {}),
    ):
        partner = auth_header(Role.PARTNER, subject=f"coordinator-{org}", organization_id=org)
        answered = client.post(
            f"/partner/referrals/{referral_id}/{step}", json=body, headers=partner
        )
        assert answered.status_code == 200, answered.text
    accepted = valid(client.get(f"/fhir/Task/{referral_id}", headers=CARE).json())
    assert accepted["status"] == "accepted"
    assert accepted["owner"]["identifier"]["value"] == str(visitors)
    assert str(walkers) not in json.dumps(accepted)
    assert accepted["focus"]["reference"] == f"ServiceRequest/{referral_id}"
    again = client.get(f"/fhir/ServiceRequest/{referral_id}", headers=CARE)
    assert valid(again.json())["id"] == str(referral_id)


@pytest.mark.parametrize("kind", ["Task", "ServiceRequest"])
def test_a_referral_the_token_may_not_see_is_not_found(client: TestClient, kind: str) -> None:
    created = post(client, service_request()).json()
    assert client.get(f"/fhir/{kind}/{created['id']}", headers=OPERATOR).status_code == 200
    for path, headers in (
        (f"/fhir/{kind}/{created['id']}", OTHER_CARE),
        (f"/fhir/{kind}/{uuid4()}", CARE),
        (f"/fhir/{kind}/not-a-uuid", CARE),
    ):
        found = outcome(client.get(path, headers=headers), 404)
        assert found["issue"][0]["code"] == "not-found"


def test_an_erased_referral_is_gone_to_its_care_system_and_leaves_every_search(
    client: TestClient,
) -> None:
    created = post(client, service_request()).json()["id"]
    erasure = {"personal_number": "010140-1234", "legal_basis": "gdpr_art17_request"}
    assert client.post("/citizens/erasure", json=erasure, headers=OPERATOR).status_code == 200
    for kind in ("Task", "ServiceRequest"):
        gone = outcome(client.get(f"/fhir/{kind}/{created}", headers=CARE), 410)
        assert gone["issue"][0]["code"] == "deleted"
        outcome(client.get(f"/fhir/{kind}/{created}", headers=OTHER_CARE), 404)
    assert tasks(client, f"?focus=ServiceRequest/{created}", CARE) == []
    assert tasks(client, "", CARE) == []


def test_an_unknown_resource_type_and_a_malformed_id_answer_as_operation_outcomes(
    client: TestClient,
) -> None:
    outcome(client.get("/fhir/Patient/1", headers=CARE), 404)
    outcome(client.get("/fhir/Task/a%20b", headers=CARE), 422)
    not_allowed = outcome(client.delete("/fhir/Task", headers=CARE), 405)
    assert not_allowed["issue"][0]["code"] == "not-supported"


def test_a_search_finds_only_the_care_systems_own_referrals(
    client: TestClient, clock: FakeClock
) -> None:
    early = post(client, service_request("record-1")).json()["id"]
    clock.advance(timedelta(hours=1))
    late = post(client, service_request("record-2")).json()["id"]
    clock.advance(timedelta(minutes=1))
    others = post(client, service_request("record-3"), headers=OTHER_CARE).json()["id"]
    half_past = (NOW + timedelta(minutes=30)).isoformat().replace("+00:00", "Z")
    assert tasks(client, f"?_lastUpdated=gt{half_past}", CARE) == [late]
    assert tasks(client, "?_lastUpdated=gt2026-11-21T00:00:00%2B01:00", CARE) == [early, late]
    assert tasks(client, "", CARE) == [early, late]
    assert tasks(client, "?_count=1", CARE) == [early]
    assert tasks(client, f"?_lastUpdated=gt{half_past}", OPERATOR) == [late, others]
    assert tasks(client, f"?focus=ServiceRequest/{early}", CARE) == [early]
    assert tasks(client, f"?focus=ServiceRequest/{others}", CARE) == []
    assert tasks(client, f"?focus=ServiceRequest/{others}", OTHER_CARE) == [others]
    assert tasks(client, f"?focus=ServiceRequest/{early}&_lastUpdated=gt{half_past}", CARE) == []
    assert tasks(client, "?focus=ServiceRequest/not-one", CARE) == []


def test_a_search_links_itself_and_gives_each_tasks_full_url(client: TestClient) -> None:
    created = post(client, service_request()).json()
    bundle = client.get("/fhir/Task?_count=5", headers=CARE).json()
    assert bundle["link"] == [{"relation": "self", "url": "http://testserver/fhir/Task?_count=5"}]
    assert bundle["entry"][0]["fullUrl"] == f"http://testserver/fhir/Task/{created['id']}"
    assert bundle["entry"][0]["search"] == {"mode": "match"}


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("?patient=Patient/1", 400),
        ("?_lastUpdated=gt2026-11-22T09:00:00Z&_sort=-_lastUpdated", 400),
        ("?_lastUpdated=lt2026-11-22T09:00:00Z", 422),
        ("?_lastUpdated=gt2026-11-22", 422),
        ("?_lastUpdated=gt2026-02-30T09:00:00Z", 422),
        ("?_count=0", 422),
        ("?focus=Task/1", 422),
    ],
)
def test_a_search_the_server_does_not_support_is_refused(
    client: TestClient, query: str, status: int
) -> None:
    outcome(client.get(f"/fhir/Task{query}", headers=CARE), status)


def interactions_of(statement: dict[str, Any]) -> set[tuple[str, str]]:
    """(method, path) of every interaction a CapabilityStatement declares, and metadata's."""
    paths = {
        "create": ("POST", "/fhir/{type}"),
        "read": ("GET", "/fhir/{type}/{id}"),
        "search-type": ("GET", "/fhir/{type}"),
    }
    declared = {("GET", "/fhir/metadata")}
    for resource in statement["rest"][0]["resource"]:
        for interaction in resource["interaction"]:
            method, path = paths[interaction["code"]]
            declared.add((method, path.replace("{type}", resource["type"])))
    return declared


def test_the_capability_statement_declares_exactly_the_routes_under_fhir(
    client: TestClient,
) -> None:
    response = client.get("/fhir/metadata", headers=CARE)
    assert response.headers["content-type"] == FHIR_JSON
    statement = valid(response.json())
    paths = {
        (route.path_format or "", method)
        for route in iter_route_contexts(client.app.routes)  # type: ignore[attr-defined]
        for method in route.methods or ()
    }
    routes = {
        (method, re.sub(r"\{[^}]+\}", "{id}", path))
        for path, method in paths
        if path.startswith("/fhir/")
    }
    assert interactions_of(statement) == routes
    [task_resource] = [r for r in statement["rest"][0]["resource"] if r["type"] == "Task"]
    assert {p["name"] for p in task_resource["searchParam"]} == {"focus", "_lastUpdated", "_count"}


def test_the_api_document_describes_fhir_bodies_and_errors_as_fhir(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    fhir_paths = {p: ops for p, ops in document["paths"].items() if p.startswith("/fhir/")}
    assert set(fhir_paths) == {
        "/fhir/ServiceRequest",
        "/fhir/ServiceRequest/{resource_id}",
        "/fhir/Task",
        "/fhir/Task/{resource_id}",
        "/fhir/metadata",
    }
    for operations in fhir_paths.values():
        for operation in operations.values():
            assert {"401", "403"} <= set(operation["responses"])
            for status, response in operation["responses"].items():
                schema = "OperationOutcome" if int(status) >= 400 else None
                [(media_type, content)] = response["content"].items()
                assert media_type == FHIR_JSON
                if schema:
                    assert content["schema"] == {"$ref": f"#/components/schemas/{schema}"}
    submit = fhir_paths["/fhir/ServiceRequest"]["post"]
    assert {"200", "201", "400", "409", "415", "422"} <= set(submit["responses"])
    assert len(submit["responses"]["422"]["x-rules"]) == 4
    assert set(submit["requestBody"]["content"]) == {FHIR_JSON, "application/json"}
    assert {"404", "410"} <= set(fhir_paths["/fhir/Task/{resource_id}"]["get"]["responses"])
    schemas = document["components"]["schemas"]
    assert schemas["Task"]["properties"]["resourceType"] == {"const": "Task"}
    # Every other route keeps answering with problem details.
    referrals = document["paths"]["/referrals"]["post"]["responses"]["409"]["content"]
    assert set(referrals) == {"application/problem+json"}


def test_errors_elsewhere_stay_problem_details(client: TestClient) -> None:
    response = client.get("/referrals/not-a-uuid", headers=CARE)
    assert response.headers["content-type"] == "application/problem+json"


def test_every_resource_a_care_system_reads_is_valid_fhir_without_personal_data(
    client: TestClient,
) -> None:
    created = post(client, service_request()).json()
    for path in (
        f"/fhir/ServiceRequest/{created['id']}",
        f"/fhir/Task/{created['id']}",
        "/fhir/Task",
        "/fhir/metadata",
    ):
        response = client.get(path, headers=CARE)
        assert response.status_code == 200, response.text
        valid(response.json())
        assert not any(value in response.text for value in PERSONAL_DATA)


def test_the_readmes_example_service_request_creates_a_referral(client: TestClient) -> None:
    example = Path(__file__).parents[2] / "docs" / "examples" / "fhir-service-request.json"
    created = post(client, json.loads(example.read_text()))
    assert created.status_code == 201, created.text
    referral = client.get(f"/referrals/{created.json()['id']}", headers=CARE).json()
    assert referral["care_record_reference"] == "EOJ-2026-004713"
    consent = referral["consent"]
    assert consent["follow_up_questions"] and consent["share_outcome_with_care_system"]
