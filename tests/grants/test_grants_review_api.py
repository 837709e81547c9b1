"""The reviews API: an operator assigns reviewers; a reviewer declares a conflict of
interest once, reads the application only without one, and scores the pool's rubric once;
the operator reads the summary; every refusal is problem+json and echoes nothing."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from runtime.auth import Role
from tests.grants import test_grants_api as pools_api
from tests.grants.test_grants_api import OPERATOR, open_pool
from tests.grants.test_grants_application_api import PARTNER_X, PARTNER_Y, assert_problem, draft
from tests.kit import auth_header

database_url, clock, client, engine = (
    pools_api.database_url,
    pools_api.clock,
    pools_api.client,
    pools_api.engine,
)
R1 = auth_header(Role.REVIEWER, subject="reviewer-1")
R2 = auth_header(Role.REVIEWER, subject="reviewer-2")
R9 = auth_header(Role.REVIEWER, subject="reviewer-9")
RUBRIC = [{"name": "reach", "weight": 3}, {"name": "feasibility", "weight": 1}]
SECRET = "Hemmelig-kommentar-7731"


def scores(reach: int = 4, comment: str = "Når mange.") -> dict[str, Any]:
    return {
        "scores": [
            {"criterion": "reach", "score": reach, "comment": comment},
            {"criterion": "feasibility", "score": 2, "comment": "Usikker."},
        ]
    }


def screened(client: TestClient) -> str:
    pool = open_pool(client, rubric=RUBRIC)
    application_id: str = draft(client, pool["id"])["id"]
    submitted = client.post(f"/applications/{application_id}/submit", headers=PARTNER_X)
    assert submitted.json()["status"] == "screened", submitted.text
    return application_id


def assigned(client: TestClient) -> str:
    application_id = screened(client)
    response = client.post(
        f"/applications/{application_id}/reviewers",
        json={"subjects": ["reviewer-1", "reviewer-2"]},
        headers=OPERATOR,
    )
    assert response.status_code == 200, response.text
    return application_id


def declare(
    client: TestClient, application_id: str, headers: dict[str, str], conflict: bool
) -> Any:
    return client.post(
        f"/applications/{application_id}/conflict-declaration",
        json={"conflict": conflict},
        headers=headers,
    )


def test_a_pool_publishes_its_rubric_and_one_without_gets_the_default(client: TestClient) -> None:
    assert open_pool(client, rubric=RUBRIC, max_per_application_dkk=60_000)["rubric"] == RUBRIC
    plain = open_pool(client)
    assert plain["rubric"] == [{"name": "fit", "weight": 1}]
    assert plain["max_per_application_dkk"] is None
    read = client.get(f"/pools/{plain['id']}", headers=OPERATOR).json()
    assert read["rubric"] == [{"name": "fit", "weight": 1}]


def test_a_pool_with_a_bad_rubric_or_maximum_is_422(client: TestClient) -> None:
    changes: dict[str, Any]
    for changes in (
        {"rubric": [{"name": "reach", "weight": 1}, {"name": "reach", "weight": 2}]},
        {"rubric": [{"name": "reach", "weight": 11}]},
        {"rubric": []},
        {"max_per_application_dkk": 500_001},
    ):
        response = client.post(
            "/pools", json={**pools_api.POOL, **changes}, headers=pools_api.opening()
        )
        assert_problem(response, 422)


def test_reviewers_declare_score_and_the_operator_reads_the_summary(client: TestClient) -> None:
    application_id = assigned(client)
    path = f"/applications/{application_id}"
    assert client.get(path, headers=OPERATOR).json()["status"] == "in_review"

    declared = declare(client, application_id, R1, False)
    assert declared.status_code == 200, declared.text
    assert declared.json()["conflict"] is False
    assert client.get(path, headers=R1).json()["id"] == application_id
    declare(client, application_id, R2, False)
    assert client.post(f"{path}/reviews", json=scores(4), headers=R1).status_code == 200
    assert client.post(f"{path}/reviews", json=scores(2), headers=R2).status_code == 200

    reviews = client.get(path, headers=OPERATOR).json()["reviews"]
    # (3*4 + 2) / 4 = 3.5 and (3*2 + 2) / 4 = 2.0.
    assert reviews == {
        "needed": 1,
        "reviews": 2,
        "mean": 2.75,
        "spread": 1.5,
        "reviewers": [
            {"subject": "reviewer-1", "conflict": False, "reviewed": True},
            {"subject": "reviewer-2", "conflict": False, "reviewed": True},
        ],
    }
    # A reviewer (and the applicant) never sees the reviews, others' scores among them.
    for headers in (R1, PARTNER_X):
        answer = client.get(path, headers=headers)
        assert answer.json()["reviews"] is None
        assert "Usikker" not in answer.text


def test_a_reviewer_must_declare_first_and_one_with_a_conflict_sees_nothing(
    client: TestClient,
) -> None:
    application_id = assigned(client)
    path = f"/applications/{application_id}"

    before = client.get(path, headers=R1)
    assert_problem(before, 403)
    assert "Declare first" in before.json()["detail"]
    assert_problem(client.post(f"{path}/reviews", json=scores(), headers=R1), 409)

    assert declare(client, application_id, R2, True).status_code == 200
    assert_problem(client.get(path, headers=R2), 403)
    assert_problem(client.post(f"{path}/reviews", json=scores(), headers=R2), 403)
    assert_problem(declare(client, application_id, R2, False), 409)


def test_a_review_is_given_once_and_must_cover_the_rubric_with_comments(
    client: TestClient,
) -> None:
    application_id = assigned(client)
    path = f"/applications/{application_id}/reviews"
    declare(client, application_id, R1, False)

    missing = client.post(path, json={"scores": scores(comment=SECRET)["scores"][:1]}, headers=R1)
    assert_problem(missing, 422)
    assert "reach, feasibility" in missing.json()["detail"] and SECRET not in missing.text
    empty = client.post(path, json=scores(comment=""), headers=R1)
    assert_problem(empty, 422)
    assert "scores.reach" in empty.json()["detail"]
    unknown = {"scores": [{"criterion": SECRET, "score": 1, "comment": "x"}] * 2}
    refused = client.post(path, json=unknown, headers=R1)
    assert_problem(refused, 422)
    assert SECRET not in refused.text
    assert_problem(client.post(path, json=scores(reach=6, comment=SECRET), headers=R1), 422)

    assert client.post(path, json=scores(), headers=R1).status_code == 200
    assert_problem(client.post(path, json=scores(), headers=R1), 409)


def test_only_an_operator_assigns_only_to_a_screened_application_and_only_assigned_reviewers_act(
    client: TestClient,
) -> None:
    application_id = screened(client)
    path = f"/applications/{application_id}"
    body = {"subjects": ["reviewer-1"]}

    for headers in (R1, PARTNER_X, PARTNER_Y):
        assert_problem(client.post(f"{path}/reviewers", json=body, headers=headers), 403)
    assert_problem(client.post(f"{path}/reviewers", json={"subjects": []}, headers=OPERATOR), 422)
    draft_id = draft(client, open_pool(client)["id"])["id"]
    assert_problem(
        client.post(f"/applications/{draft_id}/reviewers", json=body, headers=OPERATOR), 409
    )
    missing = "/applications/00000000-0000-4000-8000-000000000000"
    assert_problem(client.post(f"{missing}/reviewers", json=body, headers=OPERATOR), 404)

    assert client.post(f"{path}/reviewers", json=body, headers=OPERATOR).status_code == 200
    assert_problem(declare(client, application_id, R9, False), 404)
    assert_problem(client.get(path, headers=R9), 404)
    assert_problem(client.post(f"{path}/reviews", json=scores(), headers=R9), 404)
    assert_problem(declare(client, application_id, OPERATOR, False), 403)
    assert_problem(
        client.post(f"{path}/conflict-declaration", json={"conflict": "yes"}, headers=R1), 422
    )
