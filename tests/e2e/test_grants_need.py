"""Where the need is, on the running system: a referral nothing fits is counted, once, on a
grant pool for its target group, in its district, and no more once its citizen is erased."""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

import pytest

from runtime.auth import Role
from tests.e2e.referrals import PERSONAL_NUMBER, submit, wait_status
from tests.e2e.system import System
from tests.kit import wait_for

pytestmark = pytest.mark.infra

# A target group no other end-to-end test gives a referral, so the count is this test's.
TARGET_GROUP = "visual_impairment"
DISTRICT = "Brønshøj-Husum"
ESCALATED = "dk.brobygger.referrals.referral.escalated.v1"


def open_pool(system: System) -> dict[str, Any]:
    with system.client("grants", Role.OPERATOR) as operator:
        response = operator.post(
            "/pools",
            json={
                "name": "Fællesskaber for blinde og svagsynede",
                "budget_dkk": 300_000,
                "opens_on": "2026-01-01",
                "closes_on": "2026-12-31",
                "criteria": "New communities for older citizens with impaired sight.",
                "target_groups": [TARGET_GROUP],
            },
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
    assert response.status_code == 201, response.text
    pool: dict[str, Any] = response.json()
    return pool


def need_in_district(system: System, pool_id: str) -> int:
    with system.client("grants", Role.PARTNER, organization_id=uuid.uuid4()) as partner:
        response = partner.get(f"/pools/{pool_id}")
    assert response.status_code == 200, response.text
    need = response.json()["need"]
    assert need["total"] == sum(d["referrals"] for d in need["by_district"])
    return sum(d["referrals"] for d in need["by_district"] if d["district"] == DISTRICT)


def grants_handled(system: System, event_type: str, referral_id: str) -> bool:
    """Whether grants' log tells it processed the referral's event of `event_type`."""
    for line in (system.log_dir / "grants.log").read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if (
            record.get("event") == "consumer.processed"
            and record.get("event_type") == event_type
            and record.get("aggregate_id") == referral_id
        ):
            return True
    return False


def test_a_referral_nothing_fits_is_counted_once_on_a_pool_for_its_target_group(
    system: System,
) -> None:
    pool = open_pool(system)
    before = need_in_district(system, pool["id"])
    personal_number = PERSONAL_NUMBER
    while personal_number == PERSONAL_NUMBER:
        personal_number = f"0101{random.randint(30, 55)}-{random.randint(0, 3999):04d}"

    created = submit(
        system,
        citizen={"personal_number": personal_number, "name": "Karen Holm"},
        district=DISTRICT,
        interests=[f"braille-{uuid.uuid4().hex[:8]}"],  # no community offers it
        needs=[TARGET_GROUP],
    )

    wait_for(
        lambda: need_in_district(system, pool["id"]) == before + 1,
        "the referral nothing fits to count on the pool",
    )
    # Its escalation (for the no-match) reaches grants too, and changes nothing.
    wait_status(system, created["id"], "escalated")
    wait_for(
        lambda: grants_handled(system, ESCALATED, created["id"]),
        "grants to handle the escalation",
    )
    assert need_in_district(system, pool["id"]) == before + 1

    with system.client("referrals", Role.OPERATOR) as operator:
        erased = operator.post(
            "/citizens/erasure",
            json={"personal_number": personal_number, "legal_basis": "gdpr_art17_request"},
        )
    assert erased.status_code == 200, erased.text
    wait_for(
        lambda: need_in_district(system, pool["id"]) == before,
        "the erased referral to leave the pool's need",
    )
