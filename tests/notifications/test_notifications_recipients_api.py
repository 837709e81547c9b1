"""A partner keeps its volunteers; every signed-in recipient sets how they are told. Their
contact details are personal data: refused input is never echoed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from fastapi.testclient import TestClient

from notifications.app import create_app
from notifications.config import Settings
from runtime.auth import Role
from runtime.partner_feeds import PartnerFeeds
from tests.kit import auth_header
from tests.notifications.support import ORG, OTHER_ORG

PARTNER = auth_header(Role.PARTNER, organization_id=ORG)
OTHER_PARTNER = auth_header(Role.PARTNER, organization_id=OTHER_ORG)
OPERATOR = auth_header(Role.OPERATOR, subject="operator-1")
CARE = auth_header(Role.CARE_SYSTEM, subject="care-1")

LISE = {"name": "Lise Holm", "email": "lise@example.org", "phone": "12 34 56 78", "language": "da"}


@pytest.fixture
def client(offline_service_env: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/notifications.db")
    with TestClient(create_app(settings, partner_feeds=PartnerFeeds.none())) as test_client:
        yield test_client


def register(
    client: TestClient, body: dict[str, Any], headers: dict[str, str] = PARTNER
) -> httpx.Response:
    response: httpx.Response = client.post("/partner/volunteers", json=body, headers=headers)
    return response


def refused(response: httpx.Response, status: int, *not_echoed: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    for value in not_echoed:
        assert value not in response.text


def test_a_partner_registers_a_volunteer_and_reads_them_back_with_the_phone_in_e164(
    client: TestClient,
) -> None:
    created = register(client, LISE)
    assert created.status_code == 201, created.text
    volunteer = created.json()
    assert created.headers["location"] == f"/partner/volunteers/{volunteer['id']}"
    assert volunteer == {**LISE, "id": volunteer["id"], "phone": "+4512345678", "active": True}
    read = client.get(created.headers["location"], headers=PARTNER).json()
    assert read == volunteer
    listed = client.get("/partner/volunteers", headers=PARTNER).json()
    assert (listed["data"], listed["total"]) == ([volunteer], 1)


def test_another_organisation_neither_sees_nor_changes_a_volunteer(client: TestClient) -> None:
    volunteer = register(client, LISE).json()
    path = f"/partner/volunteers/{volunteer['id']}"
    refused(client.get(path, headers=OTHER_PARTNER), 404)
    refused(client.patch(path, json={"active": False}, headers=OTHER_PARTNER), 404)
    refused(client.get(f"/partner/volunteers/{uuid4()}", headers=PARTNER), 404)
    assert client.get("/partner/volunteers", headers=OTHER_PARTNER).json()["total"] == 0
    assert client.get(path, headers=PARTNER).json()["active"] is True


def test_a_change_writes_only_the_fields_sent_and_null_clears_the_phone(client: TestClient) -> None:
    volunteer = register(client, LISE).json()
    path = f"/partner/volunteers/{volunteer['id']}"
    changed = client.patch(path, json={"active": False, "phone": None}, headers=PARTNER)
    assert changed.status_code == 200, changed.text
    assert changed.json() == {**volunteer, "active": False, "phone": None}
    assert client.patch(path, json={"language": "sv"}, headers=PARTNER).json()["language"] == "sv"
    refused(client.patch(path, json={"name": None}, headers=PARTNER), 422)


@pytest.mark.parametrize(
    "wrong",
    [
        {"email": "lise at example.org"},
        {"phone": "12 34"},
        {"phone": "4512345678"},
        {"language": "de"},
        {"name": ""},
        {"shoe_size": 42},
    ],
)
def test_a_volunteer_that_does_not_fit_is_refused_with_422_echoing_nothing(
    client: TestClient, wrong: dict[str, Any]
) -> None:
    personal = [v for k, v in wrong.items() if k in ("email", "phone")]
    refused(register(client, {**LISE, **wrong}), 422, *personal)
    assert client.get("/partner/volunteers", headers=PARTNER).json()["total"] == 0


@pytest.mark.parametrize("headers", [OPERATOR, CARE])
def test_only_a_partner_keeps_volunteers(client: TestClient, headers: dict[str, str]) -> None:
    refused(register(client, LISE, headers), 403)
    refused(client.get("/partner/volunteers", headers=headers), 403)


def test_preferences_are_the_defaults_until_set_and_each_caller_has_their_own(
    client: TestClient,
) -> None:
    assert client.get("/preferences", headers=OPERATOR).json() == {
        "email": None,
        "phone": None,
        "language": "da",
        "channels": {},
        "quiet_hours": None,
        "digest_hour": None,
        "districts": [],
    }
    wanted = {
        "email": "ops@example.org",
        "phone": "+46 70 123 45 67",
        "language": "sv",
        "channels": {"referral_escalated": ["email", "sms"], "pool_opened": []},
        "quiet_hours": {"start": "21:00", "end": "07:00"},
        "digest_hour": 8,
        "districts": ["Nørrebro", "Amager"],
    }
    saved = client.put("/preferences", json=wanted, headers=OPERATOR)
    assert saved.status_code == 200, saved.text
    expected = {**wanted, "phone": "+46701234567", "districts": ["Amager", "Nørrebro"]}
    assert saved.json() == expected
    assert client.get("/preferences", headers=OPERATOR).json() == expected
    other = auth_header(Role.OPERATOR, subject="operator-2")
    assert client.get("/preferences", headers=other).json()["email"] is None
    assert client.get("/preferences", headers=PARTNER).json()["email"] is None


@pytest.mark.parametrize(
    "wrong",
    [
        {"quiet_hours": {"start": "07:00", "end": "07:00"}},
        {"quiet_hours": {"start": "25:00", "end": "07:00"}},
        {"digest_hour": 24},
        {"channels": {"referral_offered": ["pigeon"]}},
        {"email": "nobody"},
    ],
)
def test_preferences_that_do_not_fit_are_refused_and_change_nothing(
    client: TestClient, wrong: dict[str, Any]
) -> None:
    refused(client.put("/preferences", json={"language": "en", **wrong}, headers=CARE), 422)
    assert client.get("/preferences", headers=CARE).json()["language"] == "da"
