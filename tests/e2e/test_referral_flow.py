"""One referral through all four services, on the real Kafka broker and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from directory import demo
from runtime.auth import Role
from tests.cloudevents import validated_cloudevent
from tests.conftest import control_test_broker
from tests.e2e.kafka_reader import Record, produce, records_on, wait_until_consumed
from tests.e2e.system import System
from tests.e2e.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.infra

PARTNER_ORG = demo.NORREBRO_WALKING_GROUP_ORG_ID
PERSONAL_NUMBER = "120342-1234"
IDENTITY = (PERSONAL_NUMBER, PERSONAL_NUMBER.replace("-", ""), "Inger", "Jensen")


@pytest.fixture(scope="module")
def webhooks() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


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


def submit(system: System, key: str | None = None) -> dict[str, Any]:
    """POST a referral; a new one unless `key` repeats an earlier submission's."""
    headers = {"Idempotency-Key": key or str(uuid.uuid4())}
    with system.client("referrals", Role.CARE_SYSTEM, subject="care-e2e") as care:
        response = care.post("/referrals", json=referral(), headers=headers)
    assert response.status_code in (200, 201), response.text
    created: dict[str, Any] = response.json()
    return created


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        outcome = check()
        if outcome:
            return outcome
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def status_of(system: System, referral_id: str) -> dict[str, Any]:
    with system.client("referrals", Role.CARE_SYSTEM, subject="care-e2e") as care:
        found: dict[str, Any] = care.get(f"/referrals/{referral_id}").json()
    return found


def wait_offered(system: System, referral_id: str, timeout: float = 30) -> dict[str, Any]:
    found: dict[str, Any] = wait_for(
        lambda: (s := status_of(system, referral_id))["status"] == "offered" and s,
        f"referral {referral_id} to be offered",
        timeout,
    )
    return found


def partner_inbox(system: System) -> list[dict[str, Any]]:
    with system.client("notifications", Role.PARTNER, organization_id=PARTNER_ORG) as partner:
        response = partner.get("/inbox")
    assert response.status_code == 200, response.text
    messages: list[dict[str, Any]] = response.json()["data"]
    return messages


async def events_about(system: System, topic: str, subject: str) -> list[Record]:
    return [r for r in await records_on(system.kafka, topic) if r.subject == subject]


def verify_standard_webhook(headers: dict[str, str], body: bytes, secret: str) -> bool:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(sig == f"v1,{expected}" for sig in headers["webhook-signature"].split())


async def test_a_referral_travels_from_submission_to_an_offer_and_the_partner_is_told(
    system: System, webhooks: WebhookReceiver
) -> None:
    with system.client("notifications", Role.PARTNER, organization_id=PARTNER_ORG) as partner:
        registered = partner.put("/webhook", json={"url": webhooks.url})
    assert registered.status_code in (200, 201), registered.text
    secret = registered.json()["secret"]

    created = submit(system)
    offered = wait_offered(system, created["id"])
    assert offered["offered_organization_id"] == str(PARTNER_ORG)

    inbox = wait_for(
        lambda: [m for m in partner_inbox(system) if m["organization_id"] == str(PARTNER_ORG)],
        "the partner's inbox message",
    )
    assert "Nørrebro" in inbox[0]["text"]

    def offered_webhook() -> tuple[dict[str, str], bytes] | None:
        for headers, body in webhooks.received:
            payload = json.loads(body)
            if payload["data"].get("referral_id") == created["id"]:
                return headers, body
        return None

    headers, body = wait_for(offered_webhook, "the signed webhook")
    assert verify_standard_webhook(headers, body, secret)
    assert json.loads(body)["type"] == "dk.brobygger.referrals.referral.offered.v1"

    on_referrals = await events_about(system, "referrals.referral.v1", created["id"])
    on_directory = await events_about(system, "directory.match.v1", created["id"])
    assert [r.type for r in on_referrals] == [
        "dk.brobygger.referrals.referral.submitted.v1",
        "dk.brobygger.referrals.referral.offered.v1",
    ]
    assert [r.type for r in on_directory] == ["dk.brobygger.directory.match.found.v1"]
    offered_event = on_referrals[1]
    assert offered_event.data()["organization_id"] == str(PARTNER_ORG)
    deliveries = [
        r
        for r in await records_on(system.kafka, "notifications.delivery.v1")
        if r.data()["source_event_id"] == offered_event.headers["ce_id"]
    ]
    assert {d.data()["channel"] for d in deliveries} >= {"inbox"}
    for record in [*on_referrals, *on_directory, *deliveries]:
        validated_cloudevent(record.headers, record.value)
        assert record.key == record.subject
        seen = record.value.decode() + json.dumps(record.headers, ensure_ascii=False)
        assert not [part for part in IDENTITY if part in seen]


def test_an_operator_opens_a_grant_pool_and_partners_find_it_announced(system: System) -> None:
    name = f"Fællesskabspuljen {uuid.uuid4().hex[:6]}"
    pool = {
        "name": name,
        "description": "Små og store foreninger kan søge.",
        "budget_dkk": 500_000,
        "opens_on": "2026-12-01",
        "closes_on": "2027-02-01",
        "criteria": "Nye fællesskaber for ensomme ældre.",
    }
    with system.client("grants", Role.OPERATOR) as operator:
        response = operator.post("/pools", json=pool)
    assert response.status_code == 201, response.text
    announcement = wait_for(
        lambda: [m for m in partner_inbox(system) if name in m["text"]],
        "the pool's announcement in the partner's inbox",
    )
    assert announcement[0]["organization_id"] is None


async def test_a_retry_with_the_same_idempotency_key_makes_one_referral_and_one_event(
    system: System,
) -> None:
    first = submit(system, key="visit-42")
    again = submit(system, key="visit-42")
    assert again["id"] == first["id"]
    wait_offered(system, first["id"])
    submitted = [
        r
        for r in await events_about(system, "referrals.referral.v1", first["id"])
        if r.type.endswith(".submitted.v1")
    ]
    assert len(submitted) == 1


async def test_a_redelivered_event_changes_nothing_downstream(system: System) -> None:
    first = submit(system)
    wait_offered(system, first["id"])
    [submitted] = [
        r
        for r in await events_about(system, "referrals.referral.v1", first["id"])
        if r.type.endswith(".submitted.v1")
    ]
    partition, offset = await produce(system.kafka, "referrals.referral.v1", submitted)
    await wait_until_consumed(
        system.kafka, "brobygger-directory", "referrals.referral.v1", partition, offset
    )
    assert len(await events_about(system, "directory.match.v1", first["id"])) == 1
    assert len(status_of(system, first["id"])["offers"]) == 1


async def test_a_malformed_message_is_dead_lettered_and_the_flow_goes_on(system: System) -> None:
    garbage = Record(
        topic="referrals.referral.v1",
        key="not-a-referral",
        headers={
            "ce_id": str(uuid.uuid4()),
            "ce_type": "dk.brobygger.referrals.referral.submitted.v1",
            "ce_subject": "not-a-referral",
            "content-type": "application/json",
        },
        value=b'{"referral_id": "nope"}',
    )
    partition, offset = await produce(system.kafka, "referrals.referral.v1", garbage)
    await wait_until_consumed(
        system.kafka, "brobygger-directory", "referrals.referral.v1", partition, offset
    )
    dead = [
        r
        for r in await records_on(system.kafka, "directory.deadletter.v1")
        if r.headers["ce_id"] == garbage.headers["ce_id"]
    ]
    assert len(dead) == 1
    assert "does not match" in dead[0].headers["dlq_reason"]
    assert dead[0].headers["dlq_original_topic"] == "referrals.referral.v1"
    after = submit(system)  # and the flow goes on
    wait_offered(system, after["id"])


def test_a_referral_committed_before_a_crash_is_published_after_the_restart(
    system: System,
) -> None:
    system.kill("referrals")
    system.start("referrals", REFERRALS_RELAY_ENABLED="false")
    created = submit(system)  # committed with its outbox row, not published
    time.sleep(1.5)
    assert status_of(system, created["id"])["status"] == "submitted"
    system.kill("referrals")  # SIGKILL between the commit and the publish
    system.start("referrals")
    assert wait_offered(system, created["id"])["offered_organization_id"] == str(PARTNER_ORG)


def test_a_referral_submitted_while_the_broker_is_down_is_offered_once_it_is_back(
    system: System, use_docker: bool
) -> None:
    if use_docker:
        pytest.skip("stops the broker through infra/kafka/kafka.sh")
    control_test_broker("stop")
    try:
        created = submit(system)  # accepted: the outbox keeps its event until Kafka is back
        time.sleep(1)
        assert status_of(system, created["id"])["status"] == "submitted"
    finally:
        control_test_broker("start")
    assert wait_offered(system, created["id"], timeout=120)["status"] == "offered"
