"""The referrals HTTP API, with an unreachable broker: the outbox keeps every event."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text

from contracts.referrals import STATUS_TOPIC, TOPIC
from referrals.app import create_app
from runtime.auth import Role
from runtime.storage import outbox
from tests.conftest import log_events
from tests.kit import auth_header


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/referrals.db"


@pytest.fixture
def client(offline_service_env: pytest.MonkeyPatch, db_url: str) -> Iterator[TestClient]:
    offline_service_env.setenv("REFERRALS_DATABASE_URL", db_url)
    with TestClient(create_app()) as test_client:
        yield test_client


def auth(role: Role = Role.CARE_SYSTEM, subject: str = "care-1") -> dict[str, str]:
    """A caller's headers, with a fresh Idempotency-Key as every new submission has."""
    return {**auth_header(role, subject=subject), "Idempotency-Key": str(uuid4())}


def body(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "citizen": {"personal_number": "010140-1234", "name": "Inger Jensen"},
        "district": "Nørrebro",
        "interests": ["walking"],
        "languages": ["da"],
        "consent": {"referral": True, "given_on": "2026-11-20"},
    }
    payload.update(changes)
    return payload


def outbox_rows(db_url: str) -> int:
    engine = create_engine(db_url)
    with engine.connect() as connection:
        rows = connection.execute(
            select(func.count()).select_from(outbox).where(outbox.c.topic == TOPIC)
        ).scalar_one()
        referrals = connection.execute(text("select count(*) from referral")).scalar_one()
    engine.dispose()
    assert rows == referrals
    return int(rows)


def test_a_care_system_submits_a_referral_and_reads_its_status(
    client: TestClient, db_url: str
) -> None:
    created = client.post("/referrals", json=body(), headers=auth())
    assert created.status_code == 201, created.text
    referral = created.json()
    assert created.headers["location"] == f"/referrals/{referral['id']}"
    assert referral["status"] == "submitted"
    assert "personal_number" not in created.text and "Inger" not in created.text
    read = client.get(f"/referrals/{referral['id']}", headers=auth())
    assert read.json()["status"] == "submitted"
    assert outbox_rows(db_url) == 1


def test_a_retry_with_the_same_idempotency_key_returns_the_same_referral(
    client: TestClient, db_url: str
) -> None:
    headers = {**auth(), "Idempotency-Key": "visit-2026-11-22-1"}
    first = client.post("/referrals", json=body(), headers=headers)
    retry = client.post("/referrals", json=body(), headers=headers)
    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json()["id"] == first.json()["id"]
    conflict = client.post("/referrals", json=body(district="Valby"), headers=headers)
    assert conflict.status_code == 409
    assert conflict.headers["content-type"] == "application/problem+json"
    assert outbox_rows(db_url) == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (body(citizen={"personal_number": "1234", "name": "X"}), None),
        (body(citizen={"personal_number": "320140-1234", "name": "X"}), None),
        (body(interests=[]), "body.interests"),
        (body(interests=[" "]), "body.interests.0"),
        (body(interests=["-"]), "body.interests.0"),
        (body(district="   "), "body.district"),
        (body(district="Nørre\u0000bro"), "body.district"),
        (body(citizen={"personal_number": "٠١٠١٤٠-١٢٣٤", "name": "X"}), None),
        (body(citizen={"personal_number": "010170-1234", "name": "X"}), None),
        (body(citizen={"personal_number": "010150-5000", "name": "X"}), None),
        (body(languages=["danish"]), "body.languages.0"),
        (body(consent={"referral": False, "given_on": "2026-11-20"}), "body.consent.referral"),
        ({"district": "Nørrebro"}, "body.citizen"),
        # What the schema refuses, the server refuses: no unknown fields, no trimming,
        # no strings or numbers standing in for booleans and dates.
        (body(nickname="Inge"), "body.nickname"),
        (body(citizen={"personal_number": "010140-1234", "name": " Inger"}), "body.citizen.name"),
        (
            body(citizen={"personal_number": "010140-1234", "name": "In\x04ger"}),
            "body.citizen.name",
        ),
        (body(district="Nørre\nbro"), "body.district"),
        (
            body(citizen={"personal_number": " 0101401234", "name": "X"}),
            "body.citizen.personal_number",
        ),
        (
            body(citizen={"personal_number": "010140-1234", "name": "X", "phone": "12345678 "}),
            "body.citizen.phone",
        ),
        (body(consent={"referral": 1, "given_on": "2026-11-20"}), "body.consent.referral"),
        (
            body(
                consent={"referral": True, "share_contact_details": "yes", "given_on": "2026-11-20"}
            ),
            "body.consent.share_contact_details",
        ),
        (body(consent={"referral": True, "given_on": 0}), "body.consent.given_on"),
        (
            body(consent={"referral": True, "given_on": "2026-11-20T00:00:00"}),
            "body.consent.given_on",
        ),
        (
            body(consent={"referral": True, "given_on": "2026-11-20", "how": "email"}),
            "body.consent.how",
        ),
        (
            body(consent={"referral": True, "given_on": "2026-11-20", "recorded_by": ""}),
            "body.consent.recorded_by",
        ),
        (
            body(consent={"referral": True, "given_on": "2026-11-20", "follow_up_questions": 1}),
            "body.consent.follow_up_questions",
        ),
        (body(note="x" * 1001), "body.note"),
        (body(note=" hard of hearing"), "body.note"),
        (body(note=""), "body.note"),
    ],
)
def test_bad_input_gets_a_problem_and_writes_nothing(
    client: TestClient, db_url: str, payload: dict[str, Any], field: str | None
) -> None:
    response = client.post("/referrals", json=payload, headers=auth())
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422 and problem["detail"]
    if field:
        assert field in [error["location"] for error in problem["errors"]]
    assert outbox_rows(db_url) == 0


def test_a_submission_without_an_idempotency_key_is_refused(
    client: TestClient, db_url: str
) -> None:
    headers = {k: v for k, v in auth().items() if k != "Idempotency-Key"}
    response = client.post("/referrals", json=body(), headers=headers)
    assert response.status_code == 400
    assert "Idempotency-Key" in problem_detail(response)
    assert outbox_rows(db_url) == 0


def problem_detail(response: object) -> str:
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    detail: str = response.json()["detail"]  # type: ignore[attr-defined]
    return detail


def test_an_empty_idempotency_key_is_refused(client: TestClient, db_url: str) -> None:
    response = client.post("/referrals", json=body(), headers={**auth(), "Idempotency-Key": ""})
    assert response.status_code == 422
    assert outbox_rows(db_url) == 0


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_body_over_a_megabyte_is_refused_unread(
    client: TestClient, db_url: str, declared: bool
) -> None:
    content = json.dumps(body(district="x" * (1024 * 1024))).encode()
    # A generator is sent without Content-Length (Transfer-Encoding: chunked).
    sent: bytes | Iterator[bytes] = content if declared else iter([content])
    response = client.post(
        "/referrals", content=sent, headers={**auth(), "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert outbox_rows(db_url) == 0


def test_a_body_that_is_not_json_gets_a_problem(client: TestClient) -> None:
    response = client.post(
        "/referrals", content=b"{not json", headers={**auth(), "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


def test_no_token_is_401_and_the_wrong_role_is_403(client: TestClient, db_url: str) -> None:
    missing = client.post("/referrals", json=body())
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    forged = client.post("/referrals", json=body(), headers={"Authorization": "Bearer x.y.z"})
    assert forged.status_code == 401
    wrong_role = client.post("/referrals", json=body(), headers=auth(Role.PARTNER))
    assert wrong_role.status_code == 403
    assert wrong_role.json()["title"] == "Forbidden"
    assert outbox_rows(db_url) == 0


def test_a_care_system_cannot_see_another_care_systems_referral(client: TestClient) -> None:
    referral = client.post("/referrals", json=body(), headers=auth()).json()
    other = client.get(f"/referrals/{referral['id']}", headers=auth(subject="care-2"))
    assert other.status_code == 404
    operator = client.get(f"/referrals/{referral['id']}", headers=auth(Role.OPERATOR))
    assert operator.status_code == 200


def test_health_and_api_documents_need_no_token(client: TestClient) -> None:
    assert client.get("/health").json()["service"] == "referrals"
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/asyncapi.json").json()["asyncapi"] == "3.0.0"


def test_the_api_document_names_every_answer_a_referral_request_can_get(
    client: TestClient,
) -> None:
    document = client.get("/openapi.json").json()
    submit = document["paths"]["/referrals"]["post"]["responses"]
    read = document["paths"]["/referrals/{referral_id}"]["get"]["responses"]
    assert {"200", "201", "400", "409", "422"} <= set(submit)
    # Only what JSON Schema cannot say is a rule: the birth date and today's age.
    assert len(submit["422"]["x-rules"]) == 3
    assert any("65" in rule for rule in submit["422"]["x-rules"])
    assert any("follow_up_questions" in rule for rule in submit["422"]["x-rules"])
    assert "404" in read
    consent = document["components"]["schemas"]["ConsentCreate"]["properties"]["referral"]
    assert consent["const"] is True


def test_a_callers_correlation_id_follows_the_referral_into_its_event_and_logs(
    client: TestClient, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    headers = {**auth(), "X-Correlation-ID": "care-visit-77"}
    assert client.post("/referrals", json=body(), headers=headers).status_code == 201
    engine = create_engine(db_url)
    with engine.connect() as connection:
        rows = connection.execute(select(outbox.c.topic, outbox.c.headers)).all()
    engine.dispose()
    # The submission and the care system's status change, each with the caller's id.
    assert sorted(topic for topic, _ in rows) == [TOPIC, STATUS_TOPIC]
    assert {headers["ce_correlationid"] for _, headers in rows} == {"care-visit-77"}
    lines = log_events(caplog)
    [request_line] = [line for line in lines if line["event"] == "http.request"]
    assert request_line["correlation_id"] == "care-visit-77"
    assert (request_line["service"], request_line["status"]) == ("referrals", 201)
