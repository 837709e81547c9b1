"""A grant pool's whole life on the running system (real Kafka and PostgreSQL), its days
brought about by starting grants' clock where the test needs it: announced, opened on its
day, applications from a small and a larger association and an ineligible company, reviews
with a declared conflict of interest, a batch decision within the budget, the letters in the
applicants' inboxes in their languages, payments, reports, a reminder of an overdue report,
a repayment, and a public 360Giving export that validates against the official schemas."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from runtime.auth import Role
from tests.e2e.kafka_reader import Record, wait_for_records
from tests.e2e.referrals import inbox
from tests.e2e.system import System
from tests.grants.test_grants_360giving import GRANT_SCHEMA, PACKAGE_SCHEMA, validator
from tests.kit import wait_for

pytestmark = pytest.mark.infra

CITY = ZoneInfo("Europe/Copenhagen")
OPENS_ON, CLOSES_ON = date(2027, 3, 1), date(2027, 3, 31)
EVE = datetime(2027, 2, 28, 9, 0, tzinfo=CITY)
OPENING_DAY = datetime(2027, 3, 1, 9, 0, tzinfo=CITY)
AFTER_CLOSING = datetime(2027, 4, 2, 9, 0, tzinfo=CITY)
AFTER_REPORT_DUE = datetime(2028, 6, 2, 9, 0, tzinfo=CITY)
"""Reports are due on 1 June of the year after the pool closes."""
PREFIX = "dk.brobygger.grants."


@pytest.fixture
def grants_on_its_days(system: System) -> Iterator[Any]:
    """`move(moment)`: restart grants with its clock starting at `moment`; afterwards grants
    runs on real time again, for the tests that follow."""

    def move(moment: datetime) -> None:
        system.restart(
            "grants",
            GRANTS_CLOCK_STARTS_AT=moment.isoformat(),
            GRANTS_TIMER_POLL_SECONDS="0.2",
        )

    try:
        yield move
    finally:
        system.restart("grants")


def association(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "cvr": "29470405",
        "legal_form": "association",
        "municipality_code": 101,
        "board_unpaid": True,
    }


SMALL = {
    "organization": association("Strikkeklubben Amager"),
    "title": "Strik og snak",
    "description": "En ugentlig strikkeeftermiddag med kaffe.",
    "amount_dkk": 15_000,
    "budget_lines": [{"label": "Garn og kaffe", "amount_dkk": 15_000}],
    "contact_name": "Lena Holm",
    "contact_email": "lena.holm@example.dk",
    "language": "sv",
}
LARGE = {
    "organization": association("Ældre Sagen Nørrebro"),
    "title": "Gågrupper i hele Nørrebro",
    "description": "Fire gågrupper om ugen med frivillige guider.",
    "amount_dkk": 80_000,
    "budget_lines": [
        {"label": "Guider", "amount_dkk": 50_000},
        {"label": "Kaffe", "amount_dkk": 30_000},
    ],
    "target_groups": ["older_people"],
    "districts": ["Nørrebro"],
    "expected_participants": 60,
    "starts_on": "2027-05-01",
    "ends_on": "2027-12-31",
    "contact_name": "Per Madsen",
    "contact_email": "per.madsen@example.dk",
}
COMPANY = {**LARGE, "organization": {**association("Gåture ApS"), "legal_form": "company"}}


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def call(
    system: System, role: Role | None, method: str, path: str, body: Any = None, **claims: Any
) -> Any:
    """One request with a client of its own: grants restarts between the steps."""
    with system.client("grants", role, **claims) as client:
        return client.request(method, path, json=body)


def operator(system: System, method: str, path: str, body: Any = None) -> Any:
    return call(system, Role.OPERATOR, method, path, body)


def apply(system: System, pool_id: str, organization_id: uuid.UUID, form: dict[str, Any]) -> str:
    with system.client("grants", Role.PARTNER, organization_id=organization_id) as partner:
        drafted = ok(
            partner.post(
                f"/pools/{pool_id}/applications",
                json=form,
                headers={"Idempotency-Key": str(uuid.uuid4())},
            ),
            201,
        )
        ok(partner.post(f"/applications/{drafted['id']}/submit"))
    return str(drafted["id"])


def review(system: System, application_id: str, reviewer: str, conflict: bool = False) -> int:
    """The reviewer declares and, without a conflict, scores; the status of the score."""
    with system.client("grants", Role.REVIEWER, subject=reviewer) as client:
        declared = f"/applications/{application_id}/conflict-declaration"
        ok(client.post(declared, json={"conflict": conflict}))
        scores = {"scores": [{"criterion": "fit", "score": 4, "comment": "Passer til puljen."}]}
        return client.post(f"/applications/{application_id}/reviews", json=scores).status_code


def pool_changes(records: list[Record], pool_id: str) -> list[str]:
    return [r.type.removeprefix(PREFIX) for r in records if r.key == pool_id]


def letter(
    system: System, organization_id: uuid.UUID, kind: str, timeout: float = 60
) -> dict[str, Any]:
    def arrived() -> dict[str, Any] | None:
        found = [m for m in inbox(system, Role.PARTNER, organization_id) if m["kind"] == kind]
        return found[0] if found else None

    message: dict[str, Any] = wait_for(arrived, f"a {kind} letter", timeout)
    return message


async def test_a_pool_runs_from_announcement_to_closed_grants_and_a_valid_360giving_export(
    system: System, grants_on_its_days: Any
) -> None:
    small_org, large_org, company_org = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    # Announced the day before it opens; opened by the scheduler on its day.
    grants_on_its_days(EVE)
    terms = {
        "name": f"Fællesskaber mod ensomhed {uuid.uuid4().hex[:6]}",
        "description": "Små og store foreninger kan søge.",
        "budget_dkk": 90_000,
        "opens_on": OPENS_ON.isoformat(),
        "closes_on": CLOSES_ON.isoformat(),
        "criteria": "Nye fællesskaber for ensomme ældre.",
        "small_grant_limit_dkk": 20_000,
    }
    with system.client("grants", Role.OPERATOR) as client:
        created = client.post("/pools", json=terms, headers={"Idempotency-Key": str(uuid.uuid4())})
    pool = ok(created, 201)
    pool_id = pool["id"]
    assert pool["status"] == "announced"
    grants_on_its_days(OPENING_DAY)
    wait_for(
        lambda: ok(operator(system, "GET", f"/pools/{pool_id}"))["status"] == "open",
        "the pool to open",
        30,
    )

    # Three apply: the company is rejected at once, with its reasons.
    small = apply(system, pool_id, small_org, SMALL)
    large = apply(system, pool_id, large_org, LARGE)
    company = apply(system, pool_id, company_org, COMPANY)
    rejected = ok(operator(system, "GET", f"/applications/{company}"))
    assert (rejected["status"], rejected["decision"]["outcome"]) == ("decided", "rejected")
    assert "non-profit" in rejected["decision"]["reasons"]
    assert [r["rule"] for r in rejected["eligibility"] if not r["passed"]] == ["non_profit"]

    # Reviews: the short form needs one, the full form two; a conflicted reviewer cannot score.
    ok(operator(system, "POST", f"/applications/{small}/reviewers", {"subjects": ["r-anna"]}))
    ok(
        operator(
            system, "POST", f"/applications/{large}/reviewers", {"subjects": ["r-anna", "r-bo"]}
        )
    )
    assert review(system, small, "r-anna") == 200
    assert review(system, large, "r-anna") == 200
    assert review(system, large, "r-bo", conflict=True) == 403
    ok(operator(system, "POST", f"/applications/{large}/reviewers", {"subjects": ["r-cai"]}))
    assert review(system, large, "r-cai") == 200
    summary = ok(operator(system, "GET", f"/applications/{large}"))["reviews"]
    assert (summary["reviews"], summary["needed"], summary["mean"]) == (2, 2, 4.0)

    # After the window: the batch decision within the budget, from the ranked list.
    grants_on_its_days(AFTER_CLOSING)
    wait_for(
        lambda: ok(operator(system, "GET", f"/pools/{pool_id}"))["status"] == "closed",
        "the pool to close",
        30,
    )
    ranked = operator(system, "GET", f"/pools/{pool_id}/ranking").json()
    assert {r["application_id"] for r in ranked} == {small, large}
    over = operator(
        system,
        "POST",
        f"/pools/{pool_id}/decisions",
        {
            "decisions": [
                {
                    "application_id": large,
                    "outcome": "approved",
                    "amount_dkk": 80_000,
                    "reasons": "Når mange.",
                },
                {
                    "application_id": small,
                    "outcome": "approved",
                    "amount_dkk": 15_000,
                    "reasons": "Enkel og god.",
                },
            ]
        },
    )
    assert over.status_code == 409 and "budget" in over.json()["detail"]
    decided = ok(
        operator(
            system,
            "POST",
            f"/pools/{pool_id}/decisions",
            {
                "decisions": [
                    {
                        "application_id": large,
                        "outcome": "partly_approved",
                        "amount_dkk": 60_000,
                        "reasons": "Tre gågrupper i stedet for fire.",
                    },
                    {
                        "application_id": small,
                        "outcome": "approved",
                        "amount_dkk": 15_000,
                        "reasons": "Enkel og god.",
                    },
                ]
            },
        )
    )
    assert decided["budget"] == {
        "budget_dkk": 90_000,
        "committed_dkk": 75_000,
        "paid_dkk": 0,
        "repaid_dkk": 0,
        "remaining_dkk": 15_000,
    }

    # The letters, in the applicants' languages.
    swedish = letter(system, small_org, "grant_decided")
    danish = letter(system, large_org, "grant_decided")
    assert (swedish["language"], danish["language"]) == ("sv", "da")
    assert terms["name"] in swedish["text"] and terms["name"] in danish["text"]

    # Agreements, payments, and the small one's report: everything spent, so it closes.
    organizations = {small: small_org, large: large_org}

    def partner(application: str, what: str, body: Any = None) -> Any:
        path = f"/applications/{application}/{what}"
        return call(
            system, Role.PARTNER, "POST", path, body, organization_id=organizations[application]
        )

    for application, amount in ((small, 15_000), (large, 60_000)):
        ok(partner(application, "agreement"))
        payment = {"amount_dkk": amount, "paid_on": "2027-04-15", "reference": f"BILAG-{amount}"}
        ok(operator(system, "POST", f"/applications/{application}/payments", payment))
    report = {"participants": 14, "activities": 30, "spent_dkk": 15_000, "summary": "Tak."}
    closed = ok(partner(small, "report", report))
    assert closed["status"] == "closed"

    # The large one's report is late: reminded on Kafka and in its inbox, then received,
    # and its unspent money repaid.
    grants_on_its_days(AFTER_REPORT_DUE)
    overdue = await wait_for_records(
        system.kafka,
        "grants.application.v1",
        lambda records: any(
            r.key == large and r.type == f"{PREFIX}application.report_overdue.v1" for r in records
        ),
        "the overdue report's reminder",
    )
    reminder = next(r for r in overdue if r.type.endswith("report_overdue.v1"))
    assert json.loads(reminder.value)["report_due_on"] == "2028-06-01"
    assert "per.madsen" not in reminder.value.decode()
    assert letter(system, large_org, "grant_report_overdue")["language"] == "da"
    late = {"participants": 52, "activities": 140, "spent_dkk": 55_000, "summary": ""}
    claimed = ok(partner(large, "report", late))
    assert (claimed["status"], claimed["grant"]["repayment_claim_dkk"]) == (
        "report_received",
        5_000,
    )
    repayment = {"amount_dkk": 5_000, "repaid_on": "2028-06-20", "reference": "RETUR-1"}
    assert ok(operator(system, "POST", f"/applications/{large}/repayments", repayment))[
        "status"
    ] == ("closed")
    assert ok(operator(system, "GET", f"/pools/{pool_id}/budget")) == {
        "budget_dkk": 90_000,
        "committed_dkk": 75_000,
        "paid_dkk": 75_000,
        "repaid_dkk": 5_000,
        "remaining_dkk": 20_000,
    }

    # The pool's days on Kafka, and the public export of what was awarded.
    changes = await wait_for_records(
        system.kafka,
        "grants.pool.v1",
        lambda records: len(pool_changes(records, pool_id)) >= 3,
        "the pool's announcement, opening and closing",
    )
    assert pool_changes(changes, pool_id) == [
        "pool.announced.v1",
        "pool.opened.v1",
        "pool.closed.v1",
    ]
    with system.client("grants") as public:
        exported = ok(public.get("/awards/360giving.json"))
    validator(PACKAGE_SCHEMA).validate(exported)
    ours = [g for g in exported["grants"] if g["id"].endswith((small, large))]
    for grant in ours:
        validator(GRANT_SCHEMA).validate(grant)
    assert sorted(g["amountAwarded"] for g in ours) == [15_000, 60_000]
