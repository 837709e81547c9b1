"""The grants HTTP API, with Kafka unreachable: requests still commit to the outbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from grants.app import create_app
from grants.config import Settings
from runtime.auth import Role
from runtime.storage import make_engine, outbox
from tests.fakes import FakeClock
from tests.grants.support import BEFORE, DURING
from tests.kit import auth_header, wait_for

POOL = {
    "name": "New communities 2026",
    "description": "For associations that start something new.",
    "budget_dkk": 500_000,
    "opens_on": "2026-03-01",
    "closes_on": "2026-04-30",
    "criteria": "Open to associations in Copenhagen that reach lonely older citizens.",
    "small_grant_limit_dkk": 25_000,
}


OPERATOR = auth_header(Role.OPERATOR, subject="operator-1")


def opening() -> dict[str, str]:
    """The operator's headers for opening a pool, with a fresh Idempotency-Key."""
    return {**OPERATOR, "Idempotency-Key": str(uuid4())}


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/grants.db"


@pytest.fixture
def clock() -> FakeClock:
    """Inside POOL's window, unless a test moves it."""
    return FakeClock(DURING)


@pytest.fixture
def client(
    offline_service_env: pytest.MonkeyPatch, database_url: str, clock: FakeClock
) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=database_url), clock=clock)) as client:
        yield client


@pytest.fixture
def engine(client: TestClient, database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def outbox_rows(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(outbox).order_by(outbox.c.seq)).all())


def event_types(engine: Engine) -> list[str]:
    """The outbox's events, in order, by the last words of their type."""
    prefix = "dk.brobygger.grants."
    return [row.headers["ce_type"].removeprefix(prefix) for row in outbox_rows(engine)]


def open_pool(client: TestClient, **changes: Any) -> dict[str, Any]:
    response = client.post("/pools", json={**POOL, **changes}, headers=opening())
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_every_pool_endpoint_but_the_public_reads_needs_a_token(client: TestClient) -> None:
    pool_id = uuid4()
    responses = [
        client.post("/pools", json=POOL),
        client.post(f"/pools/{pool_id}/close"),
    ]

    assert [r.status_code for r in responses] == [401] * 2
    assert all(r.headers["content-type"] == "application/problem+json" for r in responses)


def test_a_partner_cannot_open_a_pool(client: TestClient, engine: Engine) -> None:
    response = client.post("/pools", json=POOL, headers=auth_header(Role.PARTNER))

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert outbox_rows(engine) == []


@pytest.mark.parametrize(
    "window",
    [
        {"opens_on": "2026-05-01", "closes_on": "2026-04-30"},  # closes before it opens
        {"opens_on": "2026-03-01", "closes_on": "2026-03-09"},  # ended before today
    ],
)
def test_a_pool_closing_before_it_opens_or_before_today_is_refused_and_nothing_is_written(
    client: TestClient, engine: Engine, window: dict[str, str]
) -> None:
    response = client.post("/pools", json={**POOL, **window}, headers=opening())

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "closes_on" in response.json()["detail"]
    assert outbox_rows(engine) == []
    assert client.get("/pools", headers=OPERATOR).json() == []


@pytest.mark.parametrize(
    "changes",
    [
        {"budget_dkk": 0},
        {"budget_dkk": 10**30},  # would overflow the column: a 422, not a 500
        {"small_grant_limit_dkk": 500_001},
        {"criteria": ""},
        {"opens_on": "not a date"},
        # PostgreSQL cannot store NUL in text: refused as input, not a 500 on insert.
        {"name": "New\x00communities"},
        {"description": "For\x00associations"},
        {"criteria": "Open\x00to all"},
        {"name": "New\ncommunities"},  # one line
        {"criteria": "Open\x07to all"},  # a bell is no text
        # What the schema refuses, the server refuses: no unknown fields, no trimming,
        # no strings or booleans standing in for numbers, no numbers for dates.
        {"owner": "someone"},
        {"name": " New communities 2026"},
        {"description": "For associations that start something new. "},
        {"budget_dkk": "500000"},
        {"small_grant_limit_dkk": True},
        {"small_grant_limit_dkk": "25000"},
        {"budget_dkk": 500_000.5},
        {"opens_on": 0},
        {"opens_on": "2026-03-01T00:00:00"},
        {"report_due_on": "2026-04-30"},  # the pool's last day: reports come after
    ],
)
def test_bad_terms_are_a_problem_and_write_nothing(
    client: TestClient, engine: Engine, changes: dict[str, Any]
) -> None:
    response = client.post("/pools", json={**POOL, **changes}, headers=opening())

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert outbox_rows(engine) == []


def test_an_operator_opens_a_pool_in_its_window_and_its_announcement_and_opening_wait_in_the_outbox(
    client: TestClient, engine: Engine
) -> None:
    response = client.post("/pools", json=POOL, headers=opening())

    assert response.status_code == 201
    pool = response.json()
    assert response.headers["location"] == f"/pools/{pool['id']}"
    assert (pool["status"], pool["accepting_applications"]) == ("open", True)
    assert pool["budget_dkk"] == 500_000
    assert pool["small_grant_limit_dkk"] == 25_000
    assert pool["report_due_on"] == "2027-06-01"  # by default 1 June after it closes
    announced, opened = outbox_rows(engine)
    assert [announced.headers["ce_type"], opened.headers["ce_type"]] == [
        "dk.brobygger.grants.pool.announced.v1",
        "dk.brobygger.grants.pool.opened.v1",
    ]
    for row in (announced, opened):
        assert row.topic == "grants.pool.v1"
        assert row.key == pool["id"]
        assert row.published_at is None  # Kafka is unreachable
        assert json.loads(row.value) == {
            "pool_id": pool["id"],
            "name": POOL["name"],
            "budget_dkk": 500_000,
            "opens_on": "2026-03-01",
            "closes_on": "2026-04-30",
            "criteria": POOL["criteria"],
        }


def test_a_pool_publishes_the_eligibility_rules_with_its_own_maximum(client: TestClient) -> None:
    pool = open_pool(client, max_per_application_dkk=60_000)

    rules = {
        rule["rule"]: rule["text"]
        for rule in client.get(f"/pools/{pool['id']}").json()["eligibility_rules"]
    }
    assert list(rules) == [
        "non_profit",
        "cvr_number",
        "in_municipality",
        "unpaid_board",
        "no_overdue_report",
        "within_maximum",
        "budget_adds_up",
    ]
    assert "60000 kroner" in rules["within_maximum"]


def test_a_pool_names_the_day_its_grants_reports_are_due(client: TestClient) -> None:
    pool = open_pool(client, report_due_on="2026-12-01")

    assert pool["report_due_on"] == "2026-12-01"


def test_a_pool_created_before_its_opening_day_is_announced_only(
    client: TestClient, engine: Engine, clock: FakeClock
) -> None:
    clock.now = BEFORE

    pool = open_pool(client)

    assert (pool["status"], pool["accepting_applications"]) == ("announced", False)
    assert event_types(engine) == ["pool.announced.v1"]


def test_the_opening_day_is_copenhagens_not_utcs(
    client: TestClient, engine: Engine, clock: FakeClock
) -> None:
    clock.now = datetime(2026, 2, 28, 23, 30, tzinfo=UTC)  # 00:30 on 1 March in Copenhagen

    pool = open_pool(client)

    assert (pool["status"], pool["accepting_applications"]) == ("open", True)
    assert event_types(engine) == ["pool.announced.v1", "pool.opened.v1"]


def test_a_pool_without_an_idempotency_key_is_refused_and_nothing_is_written(
    client: TestClient, engine: Engine
) -> None:
    response = client.post("/pools", json=POOL, headers=OPERATOR)

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert "Idempotency-Key" in response.json()["detail"]
    assert outbox_rows(engine) == []


def test_a_whole_number_written_with_a_fraction_part_is_the_number_it_is(
    client: TestClient,
) -> None:
    # JSON Schema counts 500000.0 as an integer, so the server must take it too.
    pool = open_pool(client, budget_dkk=500_000.0)

    assert pool["budget_dkk"] == 500_000


def test_a_retry_with_the_same_key_returns_the_same_pool(
    client: TestClient, engine: Engine
) -> None:
    headers = {**OPERATOR, "Idempotency-Key": "pool-2026"}
    first = client.post("/pools", json=POOL, headers=headers)
    again = client.post("/pools", json=POOL, headers=headers)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert event_types(engine) == ["pool.announced.v1", "pool.opened.v1"]  # one pool's


def test_the_same_key_with_another_body_is_a_conflict(client: TestClient, engine: Engine) -> None:
    headers = {**OPERATOR, "Idempotency-Key": "pool-2026"}
    client.post("/pools", json=POOL, headers=headers)

    response = client.post("/pools", json={**POOL, "budget_dkk": 600_000}, headers=headers)

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert event_types(engine) == ["pool.announced.v1", "pool.opened.v1"]  # one pool's


def test_an_empty_idempotency_key_is_a_problem(client: TestClient, engine: Engine) -> None:
    response = client.post("/pools", json=POOL, headers={**OPERATOR, "Idempotency-Key": ""})

    assert response.status_code == 422
    assert outbox_rows(engine) == []


@pytest.mark.parametrize("role", list(Role))
def test_every_role_can_read_the_pools(client: TestClient, role: Role) -> None:
    pool = open_pool(client)

    listed = client.get("/pools", headers=auth_header(role))
    single = client.get(f"/pools/{pool['id']}", headers=auth_header(role))

    assert listed.status_code == 200
    assert [(p["id"], p["status"]) for p in listed.json()] == [(pool["id"], "open")]
    assert single.status_code == 200
    # One pool read alone also shows where the need is (`test_grants_need_api`).
    assert {k: v for k, v in single.json().items() if k != "need"} == pool


def test_a_pool_whose_window_lies_ahead_is_announced_and_not_yet_accepting_applications(
    client: TestClient, clock: FakeClock
) -> None:
    clock.now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    ahead = open_pool(client, opens_on="2027-01-01", closes_on="2027-03-31")
    running = open_pool(client, opens_on="2026-11-01", closes_on="2026-11-22")

    def seen(pool: dict[str, Any]) -> tuple[str, bool]:
        body = client.get(f"/pools/{pool['id']}", headers=OPERATOR).json()
        return body["status"], body["accepting_applications"]

    assert (ahead["status"], ahead["accepting_applications"]) == ("announced", False)
    assert seen(ahead) == ("announced", False)
    assert (running["status"], running["accepting_applications"]) == ("open", True)
    listed = client.get("/pools", headers=OPERATOR).json()
    assert {p["id"]: p["accepting_applications"] for p in listed} == {
        ahead["id"]: False,
        running["id"]: True,
    }
    closed = client.post(f"/pools/{running['id']}/close", headers=OPERATOR).json()
    assert (closed["status"], closed["accepting_applications"]) == ("closed", False)
    assert seen(running) == ("closed", False)


def test_an_unknown_pool_is_not_found(client: TestClient) -> None:
    response = client.get(f"/pools/{uuid4()}", headers=OPERATOR)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_a_malformed_pool_id_is_a_problem(client: TestClient) -> None:
    assert client.get("/pools/not-a-uuid", headers=OPERATOR).status_code == 422


def test_an_operator_closes_a_pool_early_and_pool_closed_waits_in_the_outbox(
    client: TestClient, engine: Engine
) -> None:
    pool = open_pool(client)

    response = client.post(f"/pools/{pool['id']}/close", headers=OPERATOR)

    assert response.status_code == 200
    assert response.json()["status"] == "closed"
    assert client.get(f"/pools/{pool['id']}", headers=OPERATOR).json()["status"] == "closed"
    closed = outbox_rows(engine)[-1]
    assert closed.headers["ce_type"] == "dk.brobygger.grants.pool.closed.v1"
    assert closed.key == pool["id"]
    assert json.loads(closed.value) == {
        "pool_id": pool["id"],
        "closed_on": "2026-03-10",
        "reason": "closed_early",
    }


def test_the_service_opens_and_closes_its_pools_on_their_days_by_itself(
    offline_service_env: pytest.MonkeyPatch, database_url: str
) -> None:
    # Its own service, not `client`'s: one scheduler, polling often, on this test's clock.
    clock = FakeClock(BEFORE)
    settings = Settings(database_url=database_url, timer_poll_seconds=0.02)
    with TestClient(create_app(settings, clock=clock)) as client:
        pool = open_pool(client)

        def status() -> str:
            found: str = client.get(f"/pools/{pool['id']}", headers=OPERATOR).json()["status"]
            return found

        clock.now = DURING
        wait_for(lambda: status() == "open", "the pool to open on its opening day")
        clock.now = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
        wait_for(lambda: status() == "closed", "the pool to close after its closing day")

    engine = make_engine(database_url)
    try:
        assert event_types(engine) == ["pool.announced.v1", "pool.opened.v1", "pool.closed.v1"]
        assert json.loads(outbox_rows(engine)[-1].value)["reason"] == "window_ended"
    finally:
        engine.dispose()


def test_pools_can_be_listed_by_status(client: TestClient) -> None:
    ahead = open_pool(client, name="Ahead", opens_on="2026-04-01")
    kept = open_pool(client, name="Kept open")
    closed = open_pool(client, name="Closed early")
    client.post(f"/pools/{closed['id']}/close", headers=OPERATOR)

    def ids(query: str) -> set[UUID]:
        return {UUID(p["id"]) for p in client.get(f"/pools{query}", headers=OPERATOR).json()}

    assert ids("?status=announced") == {UUID(ahead["id"])}
    assert ids("?status=open") == {UUID(kept["id"])}
    assert ids("?status=closed") == {UUID(closed["id"])}
    assert ids("") == {UUID(ahead["id"]), UUID(kept["id"]), UUID(closed["id"])}
    assert client.get("/pools?status=paused", headers=OPERATOR).status_code == 422


@pytest.mark.parametrize("role", [Role.PARTNER, Role.REVIEWER, Role.CARE_SYSTEM])
def test_only_an_operator_closes_a_pool(client: TestClient, role: Role) -> None:
    pool = open_pool(client)

    response = client.post(f"/pools/{pool['id']}/close", headers=auth_header(role))

    assert response.status_code == 403
    assert client.get(f"/pools/{pool['id']}", headers=OPERATOR).json()["status"] == "open"


def test_closing_a_closed_pool_is_a_conflict(client: TestClient) -> None:
    pool = open_pool(client)
    client.post(f"/pools/{pool['id']}/close", headers=OPERATOR)

    response = client.post(f"/pools/{pool['id']}/close", headers=OPERATOR)

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"


def test_closing_an_unknown_pool_is_not_found(client: TestClient) -> None:
    assert client.post(f"/pools/{uuid4()}/close", headers=OPERATOR).status_code == 404


def test_the_api_document_names_every_answer_a_pool_request_can_get(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    opened = paths["/pools"]["post"]
    read = paths["/pools/{pool_id}"]["get"]
    closed = paths["/pools/{pool_id}/close"]["post"]

    assert {"200", "201", "400", "409", "422"} <= set(opened["responses"])
    assert [p["name"] for p in opened["parameters"] if p["required"]] == ["Idempotency-Key"]
    # Only what compares two fields is a rule; everything else is in the schema.
    assert len(opened["responses"]["422"]["x-rules"]) == 5
    assert "404" in read["responses"]
    assert {"404", "409"} <= set(closed["responses"])


def test_the_asyncapi_document_lists_what_grants_sends_and_receives(client: TestClient) -> None:
    document = client.get("/asyncapi.json").json()

    assert document["channels"]["grants_pool_v1"]["address"] == "grants.pool.v1"
    assert document["channels"]["grants_application_v1"]["address"] == "grants.application.v1"
    assert list(document["operations"]) == [
        "send_grants_application_v1",
        "send_grants_pool_v1",
        "receive_directory_match_v1",
        "receive_referrals_referral_v1",
    ]
    assert {
        "dk.brobygger.grants.pool.announced.v1",
        "dk.brobygger.grants.pool.opened.v1",
        "dk.brobygger.grants.pool.closed.v1",
        "dk.brobygger.grants.application.submitted.v1",
        "dk.brobygger.grants.application.decided.v1",
    } <= {m["name"] for m in document["components"]["messages"].values()}


def test_the_service_is_healthy_without_any_consumer_or_kafka(client: TestClient) -> None:
    response = client.get("/health")

    assert response.status_code == 200
    # No broker: the relay does not run, so this replica does not lead (it would not publish).
    assert response.json() == {
        "status": "ok",
        "service": "grants",
        "kafka": False,
        "relay_leader": False,
    }


def test_criteria_and_a_description_may_run_over_several_lines(client: TestClient) -> None:
    text = {"description": "For associations.\nSmall and large.", "criteria": "One:\tyes\r\nTwo"}
    response = client.post("/pools", json={**POOL, **text}, headers=opening())
    assert response.status_code == 201
    assert {k: response.json()[k] for k in text} == text
