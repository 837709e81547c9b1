"""What the end-to-end tests do with referrals, as a care system, a partner and an operator."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from runtime.auth import Role
from tests.e2e.kafka_reader import Record, records_on
from tests.e2e.system import System
from tests.kit import wait_for

CARE_SYSTEM = "care-e2e"
PERSONAL_NUMBER = "120342-1234"
IDENTITY = (PERSONAL_NUMBER, PERSONAL_NUMBER.replace("-", ""), "Inger", "Jensen")


def referral(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "citizen": {"personal_number": PERSONAL_NUMBER, "name": "Inger Jensen"},
        "district": "Nørrebro",
        "interests": ["walking"],
        "languages": ["da"],
        "consent": {"referral": True, "share_contact_details": True, "given_on": "2026-11-20"},
    }
    body.update(changes)
    return body


def submit(system: System, key: str | None = None, **changes: Any) -> dict[str, Any]:
    """POST a referral; a new one unless `key` repeats an earlier submission's."""
    headers = {"Idempotency-Key": key or str(uuid.uuid4())}
    with system.client("referrals", Role.CARE_SYSTEM, subject=CARE_SYSTEM) as care:
        response = care.post("/referrals", json=referral(**changes), headers=headers)
    assert response.status_code in (200, 201), response.text
    created: dict[str, Any] = response.json()
    return created


def status_of(system: System, referral_id: str) -> dict[str, Any]:
    with system.client("referrals", Role.CARE_SYSTEM, subject=CARE_SYSTEM) as care:
        found: dict[str, Any] = care.get(f"/referrals/{referral_id}").json()
    return found


def wait_status(
    system: System, referral_id: str, status: str, timeout: float = 30, **expected: Any
) -> dict[str, Any]:
    """The care system's view of the referral once it is `status` (and has `expected`)."""

    def reached() -> dict[str, Any] | None:
        found = status_of(system, referral_id)
        if found["status"] == status and all(found[k] == v for k, v in expected.items()):
            return found
        return None

    found: dict[str, Any] = wait_for(reached, f"referral {referral_id} to be {status}", timeout)
    return found


def wait_offered(system: System, referral_id: str, timeout: float = 30) -> dict[str, Any]:
    return wait_status(system, referral_id, "offered", timeout)


def inbox(system: System, role: Role, organization_id: UUID | None = None) -> list[dict[str, Any]]:
    claims = {"organization_id": organization_id} if organization_id else {}
    with system.client("notifications", role, **claims) as reader:
        response = reader.get("/inbox", params={"limit": 200})
    assert response.status_code == 200, response.text
    messages: list[dict[str, Any]] = response.json()["data"]
    return messages


def fast_referrals(speed: float, quiet_seconds: float = 600) -> dict[str, str]:
    """Settings for referrals (`System.restart`) under which its clock runs `speed` times as
    fast as real time, so that follow-ups weeks away fall due in seconds, and nothing else
    happens on its own for `quiet_seconds` of real time: no offer lapses, no follow-up is
    reminded or escalated. Partners' days must then come from referrals' calendar
    (`copenhagen_day` of the accepted offer's `answered_at`), not the test machine's."""
    quiet_days = quiet_seconds * speed / 86400
    return {
        "REFERRALS_CLOCK_SPEED": str(speed),
        "REFERRALS_OFFER_TTL_HOURS": str(quiet_days * 24),
        "REFERRALS_FOLLOW_UP_REMIND_AFTER_DAYS": str(quiet_days),
        "REFERRALS_FOLLOW_UP_ESCALATE_AFTER_DAYS": str(quiet_days),
        "REFERRALS_TIMER_POLL_SECONDS": "0.1",
    }


def copenhagen_day(timestamp: str) -> str:
    """The day of one of referrals' timestamps in Copenhagen's calendar, as partners report
    days (`contacted_on`, `met_on`)."""
    return (
        datetime.fromisoformat(timestamp)
        .astimezone(ZoneInfo("Europe/Copenhagen"))
        .date()
        .isoformat()
    )


async def events_about(system: System, topic: str, subject: str) -> list[Record]:
    return [r for r in await records_on(system.kafka, topic) if r.subject == subject]
