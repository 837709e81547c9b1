"""`GET /reports/unmet-need`: operators only, a period that holds a day, paged."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from directory import services
from directory.app import create_app
from directory.reports import REASONS
from runtime.auth import Role
from tests.events import referral_escalated
from tests.kit import auth_header

PATH = "/reports/unmet-need"
MARCH = {"from": "2027-03-01", "to": "2027-03-31"}


@pytest.fixture
def client(offline_service_env: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[TestClient]:
    offline_service_env.setenv("DIRECTORY_DATABASE_URL", f"sqlite:///{tmp_path}/directory.db")
    with TestClient(create_app()) as test_client:
        start_uow = test_client.app.state.start_uow  # type: ignore[attr-defined]
        for district in ("Nørrebro", "Nørrebro", "Amager"):
            with start_uow() as uow:
                services.count_escalation(
                    referral_escalated(
                        district=district,
                        needs=["older_people"],
                        escalated_at=datetime(2027, 3, 10, tzinfo=UTC),
                    ),
                    uow,
                )
        yield test_client


def operator() -> dict[str, str]:
    return auth_header(Role.OPERATOR)


def test_an_operator_reads_the_unmet_need_of_a_period_most_missed_first(client: TestClient) -> None:
    response = client.get(PATH, params=MARCH, headers=operator())
    assert response.status_code == 200, response.text
    no_reason = dict.fromkeys(
        ["no_match", "all_declined", "all_expired", "declined_or_expired", "none_available"], 0
    )
    assert response.json() == {
        "from": "2027-03-01",
        "to": "2027-03-31",
        "data": [
            {
                "district": "Nørrebro",
                "target_group": "older_people",
                "interest": "walking",
                "referrals": 2,
                "reasons": no_reason | {"all_declined": 2},
            },
            {
                "district": "Amager",
                "target_group": "older_people",
                "interest": "walking",
                "referrals": 1,
                "reasons": no_reason | {"all_declined": 1},
            },
        ],
        "total": 2,
        "offset": 0,
        "limit": 50,
    }


def test_the_report_is_paged_with_offset_and_limit(client: TestClient) -> None:
    page = client.get(PATH, params=MARCH | {"offset": 1, "limit": 1}, headers=operator()).json()
    assert [need["district"] for need in page["data"]] == ["Amager"]
    assert (page["total"], page["offset"], page["limit"]) == (2, 1, 1)


@pytest.mark.parametrize(
    ("role", "status"),
    [(None, 401), (Role.CARE_SYSTEM, 403), (Role.PARTNER, 403), (Role.REVIEWER, 403)],
)
def test_only_an_operator_may_read_the_report(
    client: TestClient, role: Role | None, status: int
) -> None:
    headers = {} if role is None else auth_header(role)
    response = client.get(PATH, params=MARCH, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "Nørrebro" not in response.text


def test_a_period_that_ends_before_it_begins_is_a_422_naming_the_rule(client: TestClient) -> None:
    response = client.get(
        PATH, params={"from": "2027-03-02", "to": "2027-03-01"}, headers=operator()
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "`to` is not before `from`" in response.json()["detail"]


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2027-03-01"},
        {"to": "2027-03-01"},
        {"from": "2027-03-01", "to": "31.03.2027"},
        {"from": "2027-02-30", "to": "2027-03-01"},
        MARCH | {"limit": 0},
        MARCH | {"limit": 201},
        MARCH | {"offset": -1},
    ],
)
def test_bad_report_parameters_get_a_422_problem_naming_them(
    client: TestClient, params: dict[str, Any]
) -> None:
    response = client.get(PATH, params=params, headers=operator())
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["location"].startswith("query.")


def test_the_document_states_the_report_for_operators_with_its_period_rule(
    client: TestClient,
) -> None:
    operation = client.get("/openapi.json").json()["paths"][PATH]["get"]
    assert operation["x-roles"] == ["operator"]
    assert {"401", "403", "422", "503"} <= operation["responses"].keys()
    assert operation["responses"]["422"]["x-rules"] == ["`to` is not before `from`."]
    assert [(p["name"], p["required"]) for p in operation["parameters"]] == [
        ("from", True),
        ("to", True),
        ("offset", False),
        ("limit", False),
    ]
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert set(schemas["UnmetNeedReport"]["required"]) == {
        "from",
        "to",
        "data",
        "total",
        "offset",
        "limit",
    }
    # Every reason the contract knows, so that a new one cannot go missing from the report.
    assert schemas["UnmetNeedReasons"]["required"] == list(REASONS)
