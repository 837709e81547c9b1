"""Where the need is, over HTTP: a pool's target groups, and on `GET /pools/{id}` the
unmet referrals of its target groups in the last 12 months by district (Kafka unreachable:
the referrals are handed to the service layer as the consumer would)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from contracts import NoMatchFound, ReferralSubmitted
from grants import services
from grants.app import create_app
from grants.config import Settings
from runtime.auth import Role
from runtime.storage import make_engine, outbox
from tests.fakes import FakeClock
from tests.kit import auth_header

POOL = {
    "name": "Nye fællesskaber 2026",
    "budget_dkk": 500_000,
    "opens_on": "2026-11-01",
    "closes_on": "2026-12-31",
    "criteria": "Associations in Copenhagen that start a new community for older citizens.",
}
OPERATOR = auth_header(Role.OPERATOR, subject="operator-1")
TODAY = date(2026, 11, 30)
NOON = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/grants.db"


@pytest.fixture
def app(offline_service_env: pytest.MonkeyPatch, database_url: str) -> FastAPI:
    # Noon in Copenhagen on TODAY: the service's clock, which a test may move.
    return create_app(Settings(database_url=database_url), clock=FakeClock(NOON))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def open_pool(client: TestClient, **changes: Any) -> dict[str, Any]:
    headers = {**OPERATOR, "Idempotency-Key": str(uuid4())}
    response = client.post("/pools", json={**POOL, **changes}, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def nothing_fitted(app: FastAPI, district: str, needs: list[str], on: date) -> None:
    """A referral submitted at noon on `on` that nothing in the directory fitted."""
    referral_id = uuid4()
    with app.state.start_uow() as uow:
        services.keep_referral(
            ReferralSubmitted(
                referral_id=referral_id,
                citizen_ref="ref_01hzzzzzzzzzzzzzzzzzzzzzzz",
                age_band="75-79",
                district=district,
                interests=["chess"],
                languages=["da"],
                needs=needs,
                submitted_at=datetime.combine(on, datetime.min.time(), UTC) + timedelta(hours=12),
            ),
            uow,
        )
    with app.state.start_uow() as uow:
        services.count_no_match(NoMatchFound(referral_id=referral_id, reason="nothing"), uow)


def read(client: TestClient, pool: dict[str, Any]) -> dict[str, Any]:
    response = client.get(f"/pools/{pool['id']}", headers=auth_header(Role.PARTNER))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_pool_shows_the_unmet_referrals_of_its_target_groups_by_district(
    app: FastAPI, client: TestClient
) -> None:
    pool = open_pool(client, target_groups=["hard_to_leave_home", "dementia"])
    nothing_fitted(app, "Valby", ["dementia", "wheelchair_access"], TODAY)
    nothing_fitted(app, "Valby", ["hard_to_leave_home", "dementia"], date(2025, 12, 1))
    nothing_fitted(app, "Bispebjerg", ["Dementia"], date(2026, 6, 15))
    nothing_fitted(app, "Nørrebro", ["older_people"], date(2026, 6, 15))  # not its groups
    nothing_fitted(app, "Amager Øst", ["dementia"], date(2025, 11, 30))  # over a year ago

    body = read(client, pool)

    assert pool["target_groups"] == ["dementia", "hard_to_leave_home"]
    assert body["target_groups"] == ["dementia", "hard_to_leave_home"]
    assert body["need"] == {
        "since": "2025-12-01",
        "until": "2026-11-30",
        "by_district": [
            {"district": "Valby", "referrals": 2},
            {"district": "Bispebjerg", "referrals": 1},
        ],
        "total": 3,
    }


def test_a_pool_without_target_groups_shows_every_unmet_referral(
    app: FastAPI, client: TestClient
) -> None:
    pool = open_pool(client)
    nothing_fitted(app, "Nørrebro", ["older_people"], TODAY)
    nothing_fitted(app, "Nørrebro", [], TODAY)

    body = read(client, pool)

    assert body["target_groups"] == []
    assert body["need"]["by_district"] == [{"district": "Nørrebro", "referrals": 2}]
    assert body["need"]["total"] == 2


def test_the_need_moves_with_the_day_and_the_window_of_a_new_pool_is_empty(
    app: FastAPI, client: TestClient
) -> None:
    pool = open_pool(client, target_groups=["dementia"])
    assert read(client, pool)["need"] == {
        "since": "2025-12-01",
        "until": "2026-11-30",
        "by_district": [],
        "total": 0,
    }
    nothing_fitted(app, "Valby", ["dementia"], TODAY)
    assert read(client, pool)["need"]["total"] == 1

    app.state.clock.advance(timedelta(days=365))  # to TODAY a year on

    assert read(client, pool)["need"] == {
        "since": "2026-12-01",
        "until": "2027-11-30",
        "by_district": [],
        "total": 0,
    }


@pytest.mark.parametrize(
    "target_groups",
    [
        ["lonely"],
        ["Dementia"],
        "dementia",
        [["dementia"]],
        ["dementia"] * 10,  # more than there are target groups
    ],
)
def test_a_target_group_outside_the_vocabulary_is_a_problem_and_writes_nothing(
    client: TestClient, database_url: str, target_groups: Any
) -> None:
    headers = {**OPERATOR, "Idempotency-Key": str(uuid4())}

    response = client.post("/pools", json={**POOL, "target_groups": target_groups}, headers=headers)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    engine = make_engine(database_url)
    with engine.connect() as connection:
        assert connection.execute(select(outbox)).all() == []
    engine.dispose()


def test_the_api_document_describes_target_groups_and_where_the_need_is(
    client: TestClient,
) -> None:
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    read = document["paths"]["/pools/{pool_id}"]["get"]["responses"]["200"]
    answer = read["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    groups = schemas["GrantPoolCreate"]["properties"]["target_groups"]

    assert schemas["TargetGroup"]["enum"] == [
        "older_people",
        "minority_background",
        "physical_disability",
        "mental_disability",
        "hard_to_leave_home",
        "dementia",
        "wheelchair_access",
        "hearing_impairment",
        "visual_impairment",
    ]
    assert groups["items"] == {"$ref": "#/components/schemas/TargetGroup"}
    assert "need" in schemas[answer]["required"]
    assert "12 months" in schemas[answer]["properties"]["need"]["description"]
    assert set(schemas["NeedPublic"]["properties"]) == {"since", "until", "by_district", "total"}


def test_the_asyncapi_document_lists_the_referral_events_grants_receives(
    client: TestClient,
) -> None:
    document = client.get("/asyncapi.json").json()
    messages = document["components"]["messages"]

    assert {
        messages[name]["name"]
        for name in ("ReferralSubmitted", "NoMatchFound", "ReferralEscalated", "ReferralErased")
    } == {
        "dk.brobygger.referrals.referral.submitted.v1",
        "dk.brobygger.directory.match.missed.v1",
        "dk.brobygger.referrals.referral.escalated.v1",
        "dk.brobygger.referrals.referral.erased.v1",
    }
    receives = [op for op in document["operations"].values() if op["action"] == "receive"]
    assert len(receives) == 2  # the referrals' topic and directory's
