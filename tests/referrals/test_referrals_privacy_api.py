"""Consent withdrawn, a citizen's identity read by an operator, a citizen erased and the audit
log, over HTTP: SQLite, an unreachable broker, and a clock the tests set."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from referrals.app import create_app
from referrals.config import Settings
from runtime.auth import Role
from tests.fakes import FakeClock
from tests.kit import auth_header
from tests.referrals.test_referrals_lifecycle_api import (
    CARE,
    OPERATOR,
    offered,
    partner,
    problem,
    step,
    submit,
)

OTHER_CARE = auth_header(Role.CARE_SYSTEM, subject="care-2")
REVIEWER = auth_header(Role.REVIEWER)
IDENTITY = ("0101401234", "010140-1234", "Inger", "Jensen", "Jagtvej", "12 34 56 78")
ERASURE = {"personal_number": "010140-1234", "legal_basis": "gdpr_art17_request"}


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "referrals.db"


@pytest.fixture
def client(
    offline_service_env: pytest.MonkeyPatch, database: Path, clock: FakeClock
) -> Iterator[TestClient]:
    offline_service_env.setenv("REFERRALS_DATABASE_URL", f"sqlite:///{database}")
    with TestClient(create_app(Settings(), clock=clock)) as test_client:
        yield test_client


def accepted(client: TestClient, org: UUID, **changes: Any) -> UUID:
    referral_id = offered(client, org, **changes)
    assert step(client, referral_id, org, "accept").status_code == 200
    return referral_id


def audit(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/audit", params=params, headers=OPERATOR)
    assert response.status_code == 200, response.text
    assert not [part for part in IDENTITY if part in response.text]
    entries: list[dict[str, Any]] = response.json()["data"]
    return entries


# --- consent withdrawn ---------------------------------------------------------------------


def test_once_consent_is_withdrawn_the_partner_holding_the_referral_reads_nothing_more(
    client: TestClient, clock: FakeClock
) -> None:
    org = uuid4()
    referral_id = accepted(client, org, note="Hard of hearing, loves singing")
    contact, note = (f"/partner/referrals/{referral_id}/{what}" for what in ("contact", "note"))
    assert client.get(contact, headers=partner(org)).status_code == 200

    withdrawn = client.post(
        f"/referrals/{referral_id}/consent/withdraw",
        json={"recorded_by": "cw-0815", "how": "written"},
        headers=CARE,
    )

    assert withdrawn.status_code == 200, withdrawn.text
    shown = withdrawn.json()
    assert shown["status"] == "cancelled"
    assert shown["history"][-1]["reason"] == "consent_withdrawn"
    assert shown["consent"]["withdrawal"] == {
        "withdrawn_at": clock.now.isoformat().replace("+00:00", "Z"),
        "by": "care_system",
        "subject": "care-1",
        "recorded_by": "cw-0815",
        "how": "written",
    }
    for path in (contact, note):
        refused = problem(client.get(path, headers=partner(org)), 403)
        assert "withdrew consent" in refused["detail"]
    again = client.post(f"/referrals/{referral_id}/consent/withdraw", headers=OPERATOR)
    assert "withdrawn already" in problem(again, 409)["detail"]
    assert [e["action"] for e in audit(client, referral_id=str(referral_id))] == [
        "consent.withdrawn",
        "contact_details.read",
    ]


def test_only_the_submitting_care_system_or_an_operator_withdraws_consent(
    client: TestClient,
) -> None:
    referral_id = offered(client, uuid4())
    path = f"/referrals/{referral_id}/consent/withdraw"
    problem(client.post(path), 401)
    problem(client.post(path, headers=OTHER_CARE), 404)
    problem(client.post(path, headers=partner(uuid4())), 403)
    problem(client.post(path, headers=REVIEWER), 403)
    problem(client.post(f"/referrals/{uuid4()}/consent/withdraw", headers=CARE), 404)
    problem(client.post(path, json={"how": "by pigeon"}, headers=CARE), 422)
    assert client.get(f"/referrals/{referral_id}", headers=CARE).json()["status"] == "offered"
    assert client.post(path, headers=OPERATOR).status_code == 200


# --- an operator reads who a referral is for --------------------------------------------------


def test_an_operator_reads_the_citizens_identity_only_saying_why_and_the_read_is_audited(
    client: TestClient,
) -> None:
    referral_id = submit(client)
    path = f"/referrals/{referral_id}/citizen"

    read = client.get(path, params={"purpose": "citizen_request"}, headers=OPERATOR)

    assert read.status_code == 200, read.text
    assert read.json() == {
        "personal_number": "0101401234",
        "name": "Inger Jensen",
        "address": "Jagtvej 1, 2200 København N",
        "phone": "+45 12 34 56 78",
    }
    [entry] = audit(client, referral_id=str(referral_id))
    assert {k: entry[k] for k in ("action", "purpose", "subject", "role", "fields")} == {
        "action": "citizen_identity.read",
        "purpose": "citizen_request",
        "subject": "operator-anna",
        "role": "operator",
        "fields": ["personal_number", "name", "address", "phone"],
    }
    problem(client.get(path, headers=OPERATOR), 422)
    problem(client.get(path, params={"purpose": "curiosity"}, headers=OPERATOR), 422)
    for caller in (CARE, partner(uuid4()), REVIEWER):
        problem(client.get(path, params={"purpose": "incident"}, headers=caller), 403)
    problem(client.get(f"/referrals/{uuid4()}/citizen?purpose=incident", headers=OPERATOR), 404)
    assert len(audit(client)) == 1, "refused reads are not audited: nothing was read"


# --- erasure ---------------------------------------------------------------------------------


def test_an_erased_citizens_referrals_answer_gone_to_those_who_knew_them_and_nothing_remains(
    client: TestClient, database: Path
) -> None:
    org, elsewhere = uuid4(), uuid4()
    held = accepted(client, org, note="Hard of hearing, loves singing")
    client.get(f"/partner/referrals/{held}/contact", headers=partner(org))
    pending = offered(client, org)
    karl = {"personal_number": "020341-1234", "name": "Karl Hansen"}
    other = submit(client, citizen=karl)

    erased = client.post(
        "/citizens/erasure",
        json={**ERASURE, "text": "Ringede selv og bad om sletning."},
        headers=OPERATOR,
    )

    assert erased.status_code == 200, erased.text
    assert set(erased.json()["referral_ids"]) == {str(held), str(pending)}
    for referral_id in (held, pending):
        for caller in (CARE, OPERATOR):
            gone = problem(client.get(f"/referrals/{referral_id}", headers=caller), 410)
            assert "erased" in gone["detail"]
        base = f"/partner/referrals/{referral_id}"
        problem(client.get(base, headers=partner(org)), 410)
        problem(client.get(f"{base}/contact", headers=partner(org)), 410)
        problem(client.get(f"{base}/note", headers=partner(org)), 410)
        problem(step(client, referral_id, org, "accept"), 410)
        problem(
            client.post(
                f"/referrals/{referral_id}/cancel", json={"reason": "duplicate"}, headers=CARE
            ),
            410,
        )
        problem(
            client.get(f"/referrals/{referral_id}/citizen?purpose=incident", headers=OPERATOR), 410
        )
        # Those who never knew of it learn nothing, not even that it was erased.
        problem(client.get(f"/referrals/{referral_id}", headers=OTHER_CARE), 404)
        problem(client.get(base, headers=partner(elsewhere)), 404)
    listed = client.get("/partner/referrals", headers=partner(org)).json()
    assert listed["total"] == 0
    assert client.get(f"/referrals/{other}", headers=CARE).json()["status"] == "submitted"
    problem(client.post("/citizens/erasure", json=ERASURE, headers=OPERATOR), 404)

    entries = audit(client, subject="operator-anna")
    assert {(e["action"], e["referral_id"], e["purpose"]) for e in entries} == {
        ("citizen.erased", str(held), "gdpr_art17_request"),
        ("citizen.erased", str(pending), "gdpr_art17_request"),
    }
    stored = b"".join(
        f.read_bytes() for f in (database, database.with_name(database.name + "-wal")) if f.exists()
    )
    assert b"Ringede selv" not in stored, "free text about an erasure is kept nowhere"


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({**ERASURE, "personal_number": "290241-1234"}, None),  # 1941: no 29 February
        ({**ERASURE, "personal_number": "1234"}, "body.personal_number"),
        ({**ERASURE, "legal_basis": "curiosity"}, "body.legal_basis"),
        ({"personal_number": "010140-1234"}, "body.legal_basis"),
        ({**ERASURE, "cpr": "010140-1234"}, "body.cpr"),
    ],
)
def test_an_erasure_request_that_names_no_personal_number_and_basis_is_refused(
    client: TestClient, body: dict[str, Any], where: str | None
) -> None:
    submit(client)
    refused = problem(client.post("/citizens/erasure", json=body, headers=OPERATOR), 422)
    if where is not None:
        assert [e["location"] for e in refused["errors"]] == [where]
    assert client.get("/audit", headers=OPERATOR).json()["total"] == 0


def test_only_an_operator_erases_a_citizen(client: TestClient) -> None:
    referral_id = submit(client)
    problem(client.post("/citizens/erasure", json=ERASURE), 401)
    for caller in (CARE, partner(uuid4()), REVIEWER):
        problem(client.post("/citizens/erasure", json=ERASURE, headers=caller), 403)
    assert client.get(f"/referrals/{referral_id}", headers=CARE).status_code == 200


# --- the document ----------------------------------------------------------------------------


def test_the_document_lists_gone_wherever_a_referral_is_named_and_the_erasure_rules(
    client: TestClient,
) -> None:
    document = client.get("/openapi.json").json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            # FHIR's reads name the referral as the resource's id.
            names_a_referral = "{referral_id}" in path or (
                path.startswith("/fhir/") and "{resource_id}" in path
            )
            assert ("410" in operation["responses"]) == names_a_referral, f"{method} {path}"
    erasure = document["paths"]["/citizens/erasure"]["post"]
    assert erasure["x-roles"] == ["operator"]
    assert set(erasure["responses"]) >= {"200", "401", "403", "404", "422"}
    assert "29 February" in erasure["responses"]["422"]["x-rules"][0]
    withdraw = document["paths"]["/referrals/{referral_id}/consent/withdraw"]["post"]
    assert withdraw["x-roles"] == ["care_system", "operator"]
    assert set(withdraw["responses"]) >= {"200", "403", "404", "409", "410"}
    citizen = document["paths"]["/referrals/{referral_id}/citizen"]["get"]
    [purpose] = [p for p in citizen["parameters"] if p["name"] == "purpose"]
    assert purpose["required"] is True
    assert document["paths"]["/audit"]["get"]["x-roles"] == ["operator"]


@pytest.mark.parametrize("moment", ["0.5", "1764000000", "2026-11-22", "2026-11-22T09:30+01:00"])
def test_the_audit_log_is_filtered_by_date_times_as_written_in_rfc_3339_only(
    client: TestClient, moment: str
) -> None:
    problem(client.get("/audit", params={"until": moment}, headers=OPERATOR), 422)
    problem(client.get("/audit", params={"since": moment}, headers=OPERATOR), 422)
    written = client.get("/audit", params={"since": "2026-11-22T09:30:00+01:00"}, headers=OPERATOR)
    assert written.status_code == 200, written.text
