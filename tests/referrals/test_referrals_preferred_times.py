"""The intake's preferred times of day: validated, stored once each in the day's order,
shown back, carried on `referral.submitted`, and empty for referrals from before."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, inspect, select

from contracts import ReferralSubmitted
from contracts.referrals import TOPIC
from referrals.app import MIGRATIONS, create_app
from runtime.migrations import alembic_config
from runtime.storage import outbox
from tests.referrals.test_referrals_api import auth, body
from tests.referrals.test_referrals_migration import kept_through_upgrade, old_referral


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/referrals.db"


@pytest.fixture
def client(offline_service_env: pytest.MonkeyPatch, db_url: str) -> Iterator[TestClient]:
    offline_service_env.setenv("REFERRALS_DATABASE_URL", db_url)
    with TestClient(create_app()) as test_client:
        yield test_client


def submitted_data(db_url: str) -> list[dict[str, Any]]:
    engine = create_engine(db_url)
    with engine.connect() as connection:
        values = (
            connection.execute(select(outbox.c.value).where(outbox.c.topic == TOPIC))
            .scalars()
            .all()
        )
    engine.dispose()
    return [json.loads(value) for value in values]


def test_preferred_times_are_kept_in_the_days_order_shown_and_sent_on(
    client: TestClient, db_url: str
) -> None:
    times = ["evening", "morning", "evening"]
    created = client.post("/referrals", json=body(preferred_times=times), headers=auth())
    assert created.status_code == 201, created.text
    referral = created.json()
    assert referral["preferred_times"] == ["morning", "evening"]
    read = client.get(f"/referrals/{referral['id']}", headers=auth())
    assert read.json()["preferred_times"] == ["morning", "evening"]
    [event] = submitted_data(db_url)
    assert event["preferred_times"] == ["morning", "evening"]
    assert ReferralSubmitted.model_validate(event).preferred_times == [
        "morning",
        "evening",
    ]


def test_without_preferred_times_any_time_suits(client: TestClient, db_url: str) -> None:
    created = client.post("/referrals", json=body(), headers=auth())
    assert created.json()["preferred_times"] == []
    [event] = submitted_data(db_url)
    assert event["preferred_times"] == []


@pytest.mark.parametrize("times", [["night"], ["Morning"], "morning", [None], ["morning"] * 4, [1]])
def test_a_time_of_day_that_is_not_one_of_the_three_is_refused(
    client: TestClient, db_url: str, times: object
) -> None:
    answer = client.post("/referrals", json=body(preferred_times=times), headers=auth())
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert "body.preferred_times" in answer.text
    assert submitted_data(db_url) == []


def test_an_event_from_before_the_field_reads_as_any_time() -> None:
    old = ReferralSubmitted.model_validate(
        {
            "referral_id": "0b6c2f3e-8f4a-4a53-9a43-0d2f1c1f6f10",
            "citizen_ref": "ref_01234567890123456789012345",
            "age_band": "80-84",
            "district": "Nørrebro",
            "interests": ["walking"],
            "languages": ["da"],
            "submitted_at": "2026-11-22T09:30:00Z",
        }
    )
    assert old.preferred_times == []


def test_referrals_from_before_revision_0006_have_no_preferred_times(
    engine_for: Callable[[str], Engine],
) -> None:
    engine = engine_for("referrals")
    kept = kept_through_upgrade(engine, "0005", old_referral("submitted", "Valby", 0))
    assert kept is not None and kept.preferred_times == []

    command.downgrade(alembic_config(MIGRATIONS, engine), "0005")
    columns = {c["name"] for c in inspect(engine).get_columns("referral")}
    assert "preferred_times" not in columns
