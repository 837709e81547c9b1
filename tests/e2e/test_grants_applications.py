"""An application for a grant on the running system (real Kafka and PostgreSQL): a partner
drafts and submits one, the eligibility check rejects it at once, and the partner reads why;
`grants.application.v1` tells the rest of the system without the contact person."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from runtime.auth import Role
from tests.cloudevents import validated_cloudevent
from tests.e2e.grants import open_pool_today
from tests.e2e.kafka_reader import Record, wait_for_records
from tests.e2e.matrix import APPLICATION
from tests.e2e.system import System

pytestmark = pytest.mark.infra

TOPIC = "grants.application.v1"
SUBMITTED = "dk.brobygger.grants.application.submitted.v1"
DECIDED = "dk.brobygger.grants.application.decided.v1"
CONTACT_NAME = "Birthe Kjærsgaard"
CONTACT_EMAIL = f"birthe.{uuid.uuid4().hex[:8]}@example.dk"
NOT_A_NON_PROFIT = "Only non-profit organisations can apply"


def application_of_a_company() -> dict[str, Any]:
    """Complete for the full form, in order in every respect but one: a company applies."""
    return {
        "organization": {
            "name": "Gåture ApS",
            "cvr": "29470405",
            "legal_form": "company",
            "municipality_code": 101,
            "board_unpaid": True,
        },
        "title": "Gåture for ældre",
        "description": "Guidede gåture i Nordvest hver onsdag.",
        "amount_dkk": 40_000,
        "budget_lines": [
            {"label": "Guide", "amount_dkk": 30_000},
            {"label": "Kaffe", "amount_dkk": 10_000},
        ],
        "target_groups": ["older_people"],
        "districts": ["Bispebjerg"],
        "expected_participants": 20,
        "starts_on": "2027-02-01",
        "ends_on": "2027-11-30",
        "contact_name": CONTACT_NAME,
        "contact_email": CONTACT_EMAIL,
    }


async def test_an_ineligible_application_is_rejected_at_submission_with_its_reasons_on_kafka(
    system: System,
) -> None:
    pool_id, _ = open_pool_today(system)
    organization_id = uuid.uuid4()
    with system.client("grants", Role.PARTNER, organization_id=organization_id) as partner:
        drafted = partner.post(
            f"/pools/{pool_id}/applications",
            json=application_of_a_company(),
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert drafted.status_code == 201, drafted.text
        application_id = drafted.json()["id"]
        assert drafted.json()["status"] == "draft"

        submitted = partner.post(f"/applications/{application_id}/submit")
        assert submitted.status_code == 200, submitted.text
        read = partner.get(f"/applications/{application_id}")

    assert read.status_code == 200, read.text
    application = read.json()
    assert application["status"] == "decided"
    assert application["decision"]["outcome"] == "rejected"
    assert application["decision"]["amount_dkk"] == 0
    assert NOT_A_NON_PROFIT in application["decision"]["reasons"]
    failed = [r for r in application["eligibility"] if not r["passed"]]
    assert [(r["rule"], r["reason"].startswith(NOT_A_NON_PROFIT)) for r in failed] == [
        ("non_profit", True)
    ]
    assert [s["status"] for s in application["history"]] == ["draft", "submitted", "decided"]

    def about_it(records: list[Record]) -> list[Record]:
        return [r for r in records if r.key == application_id]

    records = await wait_for_records(
        system.kafka,
        TOPIC,
        lambda found: len(about_it(found)) >= 2,
        f"application {application_id} submitted and decided",
    )
    mine = about_it(records)
    assert [r.type for r in mine] == [SUBMITTED, DECIDED]
    for record in mine:
        validated_cloudevent(record.headers, record.value)
        assert record.subject == application_id
        data = record.data()
        assert (data["application_id"], data["pool_id"], data["organization_id"]) == (
            application_id,
            pool_id,
            str(organization_id),
        )
    submitted_data, decided_data = (r.data() for r in mine)
    assert (submitted_data["eligible"], submitted_data["failed_rules"]) == (False, ["non_profit"])
    assert (decided_data["outcome"], decided_data["amount_dkk"]) == ("rejected", 0)
    assert NOT_A_NON_PROFIT in decided_data["reasons"]
    # Everything on the topic so far: this application's and those of the matrix, if run.
    contacts = (
        CONTACT_NAME,
        CONTACT_EMAIL,
        APPLICATION["contact_name"],
        APPLICATION["contact_email"],
    )
    for record in records:
        seen = record.value.decode() + json.dumps(record.headers, ensure_ascii=False)
        assert not [contact for contact in contacts if contact in seen], record.type
