"""The applications API: a partner drafts, changes, submits and withdraws its own
organisation's applications; operators read them all and override; every refusal is
problem+json and echoes nothing of the request."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from runtime.auth import Role
from tests.fakes import FakeClock
from tests.grants import test_grants_api as pools_api
from tests.grants.support import DURING
from tests.grants.test_grants_api import OPERATOR, event_types, open_pool, outbox_rows
from tests.kit import auth_header

# The pools API's fixtures: the app on SQLite with Kafka unreachable, its clock, its engine.
database_url, clock, client, engine = (
    pools_api.database_url,
    pools_api.clock,
    pools_api.client,
    pools_api.engine,
)
X, Y = uuid4(), uuid4()
PARTNER_X = auth_header(Role.PARTNER, subject="partner-x", organization_id=X)
PARTNER_Y = auth_header(Role.PARTNER, subject="partner-y", organization_id=Y)
PROBLEM = "application/problem+json"
DECLARATION = {
    "name": "Ældre Sagen Nørrebro",
    "cvr": "29470405",
    "legal_form": "association",
    "municipality_code": 101,
    "board_unpaid": True,
}
SHORT = {
    "organization": DECLARATION,
    "title": "Gågruppe",
    "description": "En ugentlig gåtur.",
    "amount_dkk": 15_000,
    "budget_lines": [{"label": "Kaffe", "amount_dkk": 15_000}],
    "contact_name": "Karen Ølgaard",
    "contact_email": "karen@example.dk",
}


def drafting(headers: dict[str, str] = PARTNER_X, key: str | None = None) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key or str(uuid4())}


def draft(client: TestClient, pool_id: str, body: dict[str, Any] = SHORT) -> dict[str, Any]:
    response = client.post(f"/pools/{pool_id}/applications", json=body, headers=drafting())
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/applications/{response.json()['id']}"
    answer: dict[str, Any] = response.json()
    return answer


def assert_problem(response: Any, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    for secret in ("Karen", "karen@example.dk", "29470405", "Ældre Sagen"):
        assert secret not in response.text


def test_a_partner_drafts_submits_an_ineligible_application_and_reads_why(
    client: TestClient, engine: Engine
) -> None:
    pool = open_pool(client)
    body = {**SHORT, "organization": {**DECLARATION, "legal_form": "company"}}
    application = draft(client, pool["id"], body)
    assert application["status"] == "draft"
    assert application["organization_id"] == str(X)

    submitted = client.post(f"/applications/{application['id']}/submit", headers=PARTNER_X)

    assert submitted.status_code == 200, submitted.text
    answer = submitted.json()
    assert answer["status"] == "decided"
    assert answer["decision"]["outcome"] == "rejected"
    assert "non-profit" in answer["decision"]["reasons"]
    failed = [r["rule"] for r in answer["eligibility"] if not r["passed"]]
    assert failed == ["non_profit"]
    assert client.get(f"/applications/{application['id']}", headers=PARTNER_X).json() == answer
    assert event_types(engine)[-2:] == ["application.submitted.v1", "application.decided.v1"]
    for row in outbox_rows(engine)[-2:]:
        assert b"Karen" not in row.value and b"karen@" not in row.value


def test_a_retried_draft_answers_200_with_the_first_and_another_body_is_409(
    client: TestClient,
) -> None:
    pool_id = open_pool(client)["id"]
    headers = drafting(key="same")
    first = client.post(f"/pools/{pool_id}/applications", json=SHORT, headers=headers)
    again = client.post(f"/pools/{pool_id}/applications", json=SHORT, headers=headers)
    other = client.post(
        f"/pools/{pool_id}/applications", json={**SHORT, "title": "Andet"}, headers=headers
    )

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert_problem(other, 409)


def test_a_draft_without_an_idempotency_key_is_400(client: TestClient) -> None:
    response = client.post(
        f"/pools/{open_pool(client)['id']}/applications", json=SHORT, headers=PARTNER_X
    )
    assert_problem(response, 400)


@pytest.mark.parametrize(
    "changes",
    [
        {"budget_lines": [{"label": "Kaffe", "amount_dkk": 0}]},
        {"organization": {**DECLARATION, "board_unpaid": "yes"}},
        {"contact_email": "Karen Ølgaard"},
        {"unknown": "Karen"},
    ],
)
def test_a_draft_that_breaks_the_schema_is_422_without_echoing_it(
    client: TestClient, changes: dict[str, Any]
) -> None:
    response = client.post(
        f"/pools/{open_pool(client)['id']}/applications",
        json={**SHORT, **changes},
        headers=drafting(),
    )
    assert_problem(response, 422)


def test_a_draft_to_an_unknown_pool_is_404_and_only_partners_draft(client: TestClient) -> None:
    assert_problem(
        client.post(f"/pools/{uuid4()}/applications", json=SHORT, headers=drafting()), 404
    )
    pool_id = open_pool(client)["id"]
    as_operator = {**OPERATOR, "Idempotency-Key": "k"}
    assert_problem(
        client.post(f"/pools/{pool_id}/applications", json=SHORT, headers=as_operator), 403
    )
    assert_problem(client.post(f"/pools/{pool_id}/applications", json=SHORT), 401)


def test_a_merge_patch_changes_the_named_fields_and_null_empties_one(client: TestClient) -> None:
    application = draft(client, open_pool(client)["id"])

    response = client.patch(
        f"/applications/{application['id']}",
        json={"title": "Kaffeklub", "description": None, "organization": {"name": "ÆS"}},
        headers=PARTNER_X,
    )

    assert response.status_code == 200, response.text
    changed = response.json()
    assert (changed["title"], changed["description"]) == ("Kaffeklub", "")
    assert changed["organization"] == {**DECLARATION, "name": "ÆS"}
    assert changed["budget_lines"] == application["budget_lines"]


def test_removing_a_declared_field_is_422_and_a_submitted_application_is_not_changed(
    client: TestClient,
) -> None:
    application = draft(client, open_pool(client)["id"])
    path = f"/applications/{application['id']}"

    assert_problem(client.patch(path, json={"organization": {"cvr": None}}, headers=PARTNER_X), 422)
    client.post(f"{path}/submit", headers=PARTNER_X)
    assert_problem(client.patch(path, json={"title": "Sent"}, headers=PARTNER_X), 409)


def test_a_submission_missing_a_field_is_422_and_outside_the_window_409(
    client: TestClient, clock: FakeClock
) -> None:
    pool_id = open_pool(client)["id"]
    incomplete = draft(client, pool_id, {**SHORT, "contact_name": ""})
    assert_problem(client.post(f"/applications/{incomplete['id']}/submit", headers=PARTNER_X), 422)

    complete = draft(client, pool_id)
    clock.now = DURING.replace(month=6)
    assert_problem(client.post(f"/applications/{complete['id']}/submit", headers=PARTNER_X), 409)


def test_another_organisations_application_is_404_to_a_partner_but_operators_see_all(
    client: TestClient,
) -> None:
    application = draft(client, open_pool(client)["id"])
    path = f"/applications/{application['id']}"

    for response in (
        client.get(path, headers=PARTNER_Y),
        client.patch(path, json={"title": "Mine"}, headers=PARTNER_Y),
        client.post(f"{path}/submit", headers=PARTNER_Y),
        client.post(f"{path}/withdraw", headers=PARTNER_Y),
    ):
        assert_problem(response, 404)
    assert client.get("/applications", headers=PARTNER_Y).json()["total"] == 0
    assert client.get(path, headers=OPERATOR).json()["id"] == application["id"]
    # A reviewer not assigned to it is told no more than another organisation.
    assert_problem(client.get(path, headers=auth_header(Role.REVIEWER)), 404)


def test_lists_are_paged_and_operators_filter_by_pool_and_status(client: TestClient) -> None:
    pool_id, other_pool_id = open_pool(client)["id"], open_pool(client)["id"]
    first = draft(client, pool_id)
    draft(client, other_pool_id)
    client.post(f"/applications/{first['id']}/withdraw", headers=PARTNER_X)

    own = client.get("/applications", params={"limit": 1}, headers=PARTNER_X).json()
    assert (len(own["data"]), own["total"]) == (1, 2)
    filtered = client.get(
        "/applications", params={"pool_id": pool_id, "status": "withdrawn"}, headers=OPERATOR
    ).json()
    assert [a["id"] for a in filtered["data"]] == [first["id"]]
    assert_problem(client.get("/applications", params={"status": "lost"}, headers=OPERATOR), 422)


def test_an_operator_overrides_a_rejection_with_a_note_and_only_a_rejection(
    client: TestClient,
) -> None:
    pool_id = open_pool(client)["id"]
    body = {**SHORT, "organization": {**DECLARATION, "board_unpaid": False}}
    rejected, withdrawn = draft(client, pool_id, body), draft(client, pool_id)
    client.post(f"/applications/{rejected['id']}/submit", headers=PARTNER_X)
    client.post(f"/applications/{withdrawn['id']}/withdraw", headers=PARTNER_X)
    note = {"note": "Board fees are symbolic."}

    response = client.post(
        f"/applications/{rejected['id']}/eligibility-override", json=note, headers=OPERATOR
    )

    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["override_note"]) == (
        "screened",
        note["note"],
    )
    assert_problem(
        client.post(
            f"/applications/{withdrawn['id']}/eligibility-override", json=note, headers=OPERATOR
        ),
        409,
    )
    assert_problem(
        client.post(
            f"/applications/{rejected['id']}/eligibility-override", json=note, headers=PARTNER_X
        ),
        403,
    )
    assert_problem(
        client.post(f"/applications/{uuid4()}/eligibility-override", json=note, headers=OPERATOR),
        404,
    )
    assert_problem(
        client.post(
            f"/applications/{rejected['id']}/eligibility-override",
            json={"note": ""},
            headers=OPERATOR,
        ),
        422,
    )


def test_a_decided_application_cannot_be_withdrawn(client: TestClient) -> None:
    body = {**SHORT, "organization": {**DECLARATION, "municipality_code": 147}}
    application = draft(client, open_pool(client)["id"], body)
    client.post(f"/applications/{application['id']}/submit", headers=PARTNER_X)

    assert_problem(
        client.post(f"/applications/{application['id']}/withdraw", headers=PARTNER_X), 409
    )
