"""Public pools, public awards and the 360Giving export, read without a token from the
in-process app on SQLite and PostgreSQL; and the demo grants seeded at start."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from directory import demo as directory_demo
from grants import demo, services
from grants.app import create_app
from grants.config import Settings
from grants.domain import PoolStatus
from grants.domain.applications import ApplicationStatus, Outcome
from grants.domain.eligibility import valid_cvr
from grants.domain.funding import Budget
from grants.services import awards as awards_service
from grants.store import SqlGrantPoolRepository
from runtime.auth import Role
from runtime.storage import make_engine, outbox
from tests.fakes import FakeClock
from tests.grants.support import DURING
from tests.grants.test_grants_360giving import GRANT_SCHEMA, errors
from tests.grants.test_grants_api import OPERATOR, open_pool
from tests.grants.test_grants_application_api import DECLARATION, PARTNER_X, SHORT, X, draft
from tests.kit import auth_header

PUBLIC_URL = "https://tilskud.brobygger.example"
PROBLEM = "application/problem+json"
REVIEWER = auth_header(Role.REVIEWER, subject="reviewer-1")
REASONS = "Begrundelse-der-ikke-er-offentlig-4471"
PERSONAL = ("Karen", "karen@example.dk", REASONS, "Kaffe")
"""The contact person, the decision's reasons and a budget line of `SHORT`'s: none public."""


@pytest.fixture
def database_url(engine_for: Callable[[str], Engine]) -> str:
    """An empty grants database, on SQLite and on PostgreSQL."""
    return engine_for("grants").url.render_as_string(hide_password=False)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(DURING)


def started(database_url: str, clock: FakeClock, *, seed_demo: bool = False) -> TestClient:
    settings = Settings(database_url=database_url, public_url=PUBLIC_URL, seed_demo=seed_demo)
    return TestClient(create_app(settings, clock=clock))


@pytest.fixture
def client(
    offline_service_env: pytest.MonkeyPatch, database_url: str, clock: FakeClock
) -> Iterator[TestClient]:
    with started(database_url, clock) as client:
        yield client


def start_uow(client: TestClient) -> services.UnitOfWorkFactory:
    factory: services.UnitOfWorkFactory = client.app.state.start_uow  # type: ignore[attr-defined]
    return factory


def in_review(client: TestClient, pool_id: str, body: dict[str, Any] = SHORT) -> str:
    """A short-form application of X's to the pool, submitted and reviewed by one reviewer:
    ready to be decided."""
    application_id = str(draft(client, pool_id, body)["id"])
    submitted = client.post(f"/applications/{application_id}/submit", headers=PARTNER_X)
    assert submitted.json()["status"] == "screened", submitted.text
    reviewed(client, application_id)
    return application_id


def reviewed(client: TestClient, application_id: str) -> None:
    """The screened application reviewed by one reviewer without a conflict."""
    path = f"/applications/{application_id}"
    for url, json, headers in (
        (f"{path}/reviewers", {"subjects": ["reviewer-1"]}, OPERATOR),
        (f"{path}/conflict-declaration", {"conflict": False}, REVIEWER),
        (
            f"{path}/reviews",
            {"scores": [{"criterion": "fit", "score": 4, "comment": "Passer."}]},
            REVIEWER,
        ),
    ):
        response = client.post(url, json=json, headers=headers)
        assert response.status_code == 200, response.text


@dataclass(frozen=True)
class Awarded:
    pool: dict[str, Any]
    application_id: str


def award(
    client: TestClient,
    clock: FakeClock,
    *,
    outcome: Outcome = Outcome.PARTLY_APPROVED,
    granted: int = 12_000,
    paid: int = 0,
    pool: dict[str, Any] | None = None,
) -> Awarded:
    """A grant decided (and paid `paid` of) now, by the clock, on an application of X's.
    The decision and the money go through the service layer: their routes are not this
    test's subject."""
    pool = pool or open_pool(client)
    application_id = in_review(client, pool["id"])
    uow = start_uow(client)
    decision = services.DecideApplication(UUID(application_id), outcome, granted, REASONS)
    services.decide_applications(UUID(pool["id"]), [decision], "operator-1", uow, clock)
    if paid:
        services.accept_agreement(UUID(application_id), X, uow, clock)
        payment = services.RecordTransfer("operator-1", paid, clock().date(), "BILAG-1")
        services.record_payment(UUID(application_id), payment, uow, clock)
    return Awarded(pool, application_id)


def assert_problem(response: Any, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM


# Pools are public


def test_anyone_reads_the_pools_and_one_pool_without_a_token_and_sees_who_opened_none(
    client: TestClient,
) -> None:
    pool = open_pool(client)

    listed = client.get("/pools")
    single = client.get(f"/pools/{pool['id']}")

    assert (listed.status_code, single.status_code) == (200, 200)
    assert listed.json() == client.get("/pools", headers=OPERATOR).json() == [pool]
    assert single.json() == client.get(f"/pools/{pool['id']}", headers=OPERATOR).json()
    assert {k: v for k, v in single.json().items() if k != "need"} == pool
    # The operator's token subject ("operator-1") opened it: no public answer names it.
    assert "created_by" not in single.json()
    assert "operator-1" not in listed.text + single.text


def test_an_unknown_pool_is_404_problem_json_to_anyone(client: TestClient) -> None:
    assert_problem(client.get("/pools/9b1c53a4-3f6e-4c1a-9d0e-5b2f7a8c6d41"), 404)
    assert_problem(client.get("/pools/not-a-uuid"), 422)


def test_still_only_an_operator_opens_and_closes_a_pool(client: TestClient) -> None:
    pool = open_pool(client)

    assert_problem(client.post("/pools", json={}), 401)
    assert_problem(client.post(f"/pools/{pool['id']}/close"), 401)


# GET /awards


def test_an_award_is_listed_with_recipient_amounts_pool_day_and_purpose_and_nothing_private(
    client: TestClient, clock: FakeClock
) -> None:
    awarded = award(client, clock, granted=12_000, paid=5_000)

    response = client.get("/awards")

    assert response.status_code == 200, response.text
    assert response.json() == {
        "data": [
            {
                "id": awarded.application_id,
                "recipient": {"organization_id": str(X), "name": "Ældre Sagen Nørrebro"},
                "amount_dkk": 12_000,
                "paid_dkk": 5_000,
                "pool": {
                    "id": awarded.pool["id"],
                    "name": awarded.pool["name"],
                    "description": awarded.pool["description"],
                },
                "decided_on": "2026-03-10",
                "purpose": "Gågruppe",
            }
        ],
        "total": 1,
        "offset": 0,
        "limit": 50,
    }
    for private in PERSONAL:
        assert private not in response.text


def test_the_day_of_an_award_is_copenhagens_not_utcs(client: TestClient, clock: FakeClock) -> None:
    clock.now = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)  # 00:30 on 11 March in Copenhagen
    award(client, clock)

    assert client.get("/awards").json()["data"][0]["decided_on"] == "2026-03-11"


def test_rejected_undecided_and_ineligible_applications_are_no_awards(
    client: TestClient, clock: FakeClock
) -> None:
    pool = open_pool(client)
    award(client, clock, outcome=Outcome.REJECTED, granted=0, pool=pool)
    in_review(client, pool["id"])
    company = {**SHORT, "organization": {**DECLARATION, "legal_form": "company"}}
    ineligible = draft(client, pool["id"], company)
    client.post(f"/applications/{ineligible['id']}/submit", headers=PARTNER_X)
    granted = award(client, clock, outcome=Outcome.APPROVED, granted=15_000, pool=pool)

    listed = client.get("/awards").json()

    assert [a["id"] for a in listed["data"]] == [granted.application_id]
    assert listed["total"] == 1


def test_awards_come_newest_decision_first_in_pages_with_the_total(
    client: TestClient, clock: FakeClock
) -> None:
    decided = []
    for day in (10, 12, 11):
        clock.now = DURING.replace(day=day)
        decided.append(award(client, clock).application_id)

    first = client.get("/awards", params={"limit": 2}).json()
    second = client.get("/awards", params={"offset": 2, "limit": 2}).json()

    assert [a["id"] for a in first["data"] + second["data"]] == [
        decided[1],
        decided[2],
        decided[0],
    ]
    assert [a["decided_on"] for a in first["data"]] == ["2026-03-12", "2026-03-11"]
    assert (first["total"], first["limit"], second["offset"]) == (3, 2, 2)


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 201}, {"offset": -1}, {"limit": "many"}]
)
def test_paging_outside_its_bounds_is_422_problem_json(
    client: TestClient, params: dict[str, Any]
) -> None:
    assert_problem(client.get("/awards", params=params), 422)


# GET /awards/360giving.json


def test_the_360giving_export_is_404_problem_json_while_nothing_is_awarded(
    client: TestClient, clock: FakeClock
) -> None:
    pool = open_pool(client)
    award(client, clock, outcome=Outcome.REJECTED, granted=0, pool=pool)

    response = client.get("/awards/360giving.json")

    assert_problem(response, 404)
    assert "at least one" in response.json()["detail"]


def test_the_360giving_export_validates_against_the_official_package_and_grant_schemas(
    client: TestClient, clock: FakeClock
) -> None:
    first = award(client, clock, granted=12_000, paid=12_000)
    clock.now += timedelta(days=2)
    second = award(client, clock, outcome=Outcome.APPROVED, granted=15_000)

    response = client.get("/awards/360giving.json")

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    package = response.json()
    assert errors(package) == []
    for grant in package["grants"]:
        assert errors(grant, GRANT_SCHEMA) == []
    assert [g["id"] for g in package["grants"]] == [
        f"360G-brobygger-kk-{first.application_id}",
        f"360G-brobygger-kk-{second.application_id}",
    ]
    assert [g["awardDate"] for g in package["grants"]] == ["2026-03-10", "2026-03-12"]
    assert [g["amountAwarded"] for g in package["grants"]] == [12_000, 15_000]
    grant = package["grants"][0]
    assert grant["recipientOrganization"] == [
        {"id": "DK-CVR-29470405", "name": "Ældre Sagen Nørrebro"}
    ]
    assert grant["fundingOrganization"] == [{"id": "DK-CVR-64942212", "name": "Københavns Kommune"}]
    assert grant["grantProgramme"][0]["url"] == f"{PUBLIC_URL}/pools/{first.pool['id']}"
    assert package["publisher"] == {"name": "Københavns Kommune", "identifier": "DK-CVR-64942212"}
    assert package["issued"] == "2026-03-12"
    assert package["downloadURL"] == f"{PUBLIC_URL}/awards/360giving.json"
    for private in PERSONAL:
        assert private not in response.text


def test_the_export_holds_every_award_however_many_pages_it_reads_them_in(
    client: TestClient, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = {award(client, clock).application_id for _ in range(3)}
    monkeypatch.setattr(awards_service, "PAGE", 2)

    package = client.get("/awards/360giving.json").json()

    assert {g["id"].removeprefix("360G-brobygger-kk-") for g in package["grants"]} == made


def test_an_overridden_application_with_a_cvr_number_that_fails_the_check_is_still_published(
    client: TestClient, clock: FakeClock
) -> None:
    pool = open_pool(client)
    body = {**SHORT, "organization": {**DECLARATION, "cvr": "12345678"}}
    rejected = draft(client, pool["id"], body)["id"]
    client.post(f"/applications/{rejected}/submit", headers=PARTNER_X)
    overridden = client.post(
        f"/applications/{rejected}/eligibility-override",
        json={"note": "Nummeret er skrevet forkert; foreningen er kendt."},
        headers=OPERATOR,
    )
    assert overridden.json()["status"] == "screened", overridden.text
    reviewed(client, rejected)
    decision = services.DecideApplication(UUID(rejected), Outcome.APPROVED, 15_000, REASONS)
    services.decide_applications(
        UUID(pool["id"]), [decision], "operator-1", start_uow(client), clock
    )

    package = client.get("/awards/360giving.json").json()

    assert errors(package) == []
    # Not a number of the register: named by the publisher's prefix and the organisation's id.
    assert package["grants"][0]["recipientOrganization"][0]["id"] == f"360G-brobygger-kk-{X}"


def test_the_api_document_names_the_awards_routes_public_with_every_answer(
    client: TestClient,
) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    listed, export = paths["/awards"]["get"], paths["/awards/360giving.json"]["get"]

    for operation in (listed, export, paths["/pools"]["get"], paths["/pools/{pool_id}"]["get"]):
        assert "x-roles" not in operation
        assert "security" not in operation
    assert set(listed["responses"]) == {"200", "422", "503"}
    assert set(export["responses"]) == {"200", "404", "503"}
    assert list(export["responses"]["404"]["content"]) == [PROBLEM]
    assert list(export["responses"]["200"]["content"]) == ["application/json"]
    assert export["responses"]["503"]["headers"]["Retry-After"]["required"] is True
    assert listed["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/AwardPage"
    }


# The demo


def awards_and_pools(client: TestClient) -> tuple[int, int]:
    return client.get("/awards").json()["total"], len(client.get("/pools").json())


def outbox_count(database_url: str) -> int:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(outbox)).scalar_one())
    finally:
        engine.dispose()


def test_the_demo_is_seeded_once_fills_awards_and_export_and_publishes_nothing(
    offline_service_env: pytest.MonkeyPatch, database_url: str, clock: FakeClock
) -> None:
    with started(database_url, clock, seed_demo=True) as client:
        assert awards_and_pools(client) == (3, 1)
        listed = client.get("/awards").json()["data"]
        package = client.get("/awards/360giving.json").json()
    with started(database_url, clock, seed_demo=True) as client:
        assert awards_and_pools(client) == (3, 1)

    assert {a["recipient"]["name"] for a in listed} == {
        "Sundby Sangkor",
        "Madfællesskabet Vesterbro",
        "Skakklubben Østerbro",
    }
    assert all(a["paid_dkk"] == a["amount_dkk"] > 0 for a in listed)
    assert {a["pool"]["name"] for a in listed} == {"Fællesskaber mod ensomhed 2026"}
    assert errors(package) == []
    for grant in package["grants"]:
        assert errors(grant, GRANT_SCHEMA) == []
    assert len(package["grants"]) == 3
    assert outbox_count(database_url) == 0  # no partner hears of a demo pool


def test_the_demo_is_not_seeded_where_grants_has_a_pool_already(
    offline_service_env: pytest.MonkeyPatch, database_url: str, clock: FakeClock
) -> None:
    with started(database_url, clock) as client:
        open_pool(client)
    with started(database_url, clock, seed_demo=True) as client:
        assert awards_and_pools(client) == (0, 1)
        assert_problem(client.get("/awards/360giving.json"), 404)


def test_without_the_setting_no_demo_is_seeded(client: TestClient) -> None:
    assert awards_and_pools(client) == (0, 0)


def test_a_replica_that_seeds_after_another_writes_nothing_twice(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert services.seed_demo(start_uow(client)) is True
    # As to a replica that looked for pools before the other one committed its seed.
    monkeypatch.setattr(SqlGrantPoolRepository, "all", lambda self, status=None: [])

    assert services.seed_demo(start_uow(client)) is False
    monkeypatch.undo()
    assert awards_and_pools(client) == (3, 1)


def test_the_demo_grants_obey_the_rules_and_name_directorys_demo_organisations() -> None:
    made = demo.grants()

    assert made.pool.status is PoolStatus.CLOSED
    assert made.pool.changes == []
    directory = {o.id: o.name for o in directory_demo.ORGANIZATIONS}
    for application in made.applications:
        assert directory[application.applicant.organization_id] == application.applicant.name
        assert valid_cvr(application.applicant.cvr)
        assert application.eligibility is not None and application.eligibility.eligible
        # Closed with its report in: never overdue, never reminded, blocking nothing.
        assert application.status is ApplicationStatus.CLOSED
        assert not application.report_overdue(date(2030, 1, 1))
        assert application.paid_dkk == application.granted_dkk > 0
        assert application.changes == []
    budget = Budget.of(made.pool, made.applications)
    assert 0 < budget.committed_dkk <= budget.budget_dkk
    assert {a.short_form for a in made.applications} == {True, False}
    for reviews in made.reviews:
        [application] = [a for a in made.applications if a.id == reviews.application_id]
        assert reviews.summary(made.pool.rubric, application.short_form).complete
    # The same ids on every machine and every run.
    again = demo.grants()
    assert again.pool.id == made.pool.id
    assert [a.id for a in again.applications] == [a.id for a in made.applications]
