"""What the end-to-end tests do with grant pools, as an operator."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from runtime.auth import Role
from tests.e2e.matrix import copenhagen_today
from tests.e2e.system import System


def open_pool_today(
    system: System, name: str | None = None, budget_dkk: int = 500_000
) -> tuple[str, str]:
    """An operator opens a pool whose window begins today (Copenhagen's date), so that it
    opens at once and every partner is told: its id and name."""
    name = name or f"Fællesskabspuljen {uuid.uuid4().hex[:6]}"
    today = date.fromisoformat(copenhagen_today())
    pool = {
        "name": name,
        "description": "Små og store foreninger kan søge.",
        "budget_dkk": budget_dkk,
        "opens_on": today.isoformat(),
        "closes_on": (today + timedelta(days=62)).isoformat(),
        "criteria": "Nye fællesskaber for ensomme ældre.",
    }
    key = f"pool-{uuid.uuid4().hex}"
    with system.client("grants", Role.OPERATOR) as operator:
        response = operator.post("/pools", json=pool, headers={"Idempotency-Key": key})
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "open"
    return response.json()["id"], name
