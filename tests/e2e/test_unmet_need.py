"""The unmet-need report on the running system: a referral nothing fits shows in the report
of the day it was submitted, and leaves it when its citizen is erased."""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta
from typing import Any

import pytest

from runtime.auth import Role
from tests.e2e.matrix import copenhagen_today
from tests.e2e.referrals import PERSONAL_NUMBER, submit, wait_status
from tests.e2e.system import System
from tests.kit import wait_for

pytestmark = pytest.mark.infra


def report(system: System, first: str, last: str) -> list[dict[str, Any]]:
    with system.client("directory", Role.OPERATOR) as operator:
        response = operator.get(
            "/reports/unmet-need", params={"from": first, "to": last, "limit": 200}
        )
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def about(needs: list[dict[str, Any]], interest: str) -> list[dict[str, Any]]:
    return [need for need in needs if need["interest"] == interest]


def test_a_referral_nothing_fits_appears_in_the_unmet_need_of_its_day_until_erased(
    system: System,
) -> None:
    # An interest of this test's own, which no community offers and no other test uses.
    interest = f"knitting-{uuid.uuid4().hex[:8]}"
    personal_number = PERSONAL_NUMBER
    while personal_number == PERSONAL_NUMBER:
        personal_number = f"2412{random.randint(30, 55)}-{random.randint(0, 3999):04d}"
    today = copenhagen_today()
    created = submit(
        system,
        citizen={"personal_number": personal_number, "name": "Grete Hansen"},
        district="Valby",
        interests=[interest],
        needs=["dementia", "wheelchair_access"],
    )
    wait_status(system, created["id"], "escalated")

    found = wait_for(
        lambda: about(report(system, today, today), interest),
        "the referral in today's unmet need",
    )
    assert found == [
        {
            "district": "Valby",
            "target_group": "dementia",
            "interest": interest,
            "referrals": 1,
            "reasons": {
                "no_match": 1,
                "all_declined": 0,
                "all_expired": 0,
                "declined_or_expired": 0,
                "none_available": 0,
            },
        }
    ]
    yesterday = (date.fromisoformat(today) - timedelta(days=1)).isoformat()
    assert about(report(system, yesterday, yesterday), interest) == []

    with system.client("referrals", Role.OPERATOR) as operator:
        erased = operator.post(
            "/citizens/erasure",
            json={"personal_number": personal_number, "legal_basis": "gdpr_art17_request"},
        )
    assert erased.status_code == 200, erased.text
    wait_for(
        lambda: about(report(system, today, today), interest) == [],
        "the erased referral to leave the unmet need",
    )
