"""A partner organisation reads its events on its own Kafka topic, on the real broker and
PostgreSQL with the four services running: once given access, it gets on
`partner.<organisation-id>.v1` the same CloudEvents its webhook is sent, read with
confluent-kafka as its own principal; once revoked, nothing more is written there and the
rest goes on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer
from sqlalchemy import select

from contracts.partners import partner_topic
from directory import demo
from runtime.auth import Role
from runtime.partner_access import PartnerAccess, PartnerKafkaAccess, partner_username
from runtime.storage import make_engine, outbox
from tests.e2e.kafka_reader import Record, records_on
from tests.e2e.personal_data import NAME, PERSONAL_NUMBER, found_in
from tests.e2e.referrals import inbox, submit, wait_offered
from tests.e2e.system import System
from tests.e2e.webhook_receiver import WebhookReceiver
from tests.kit import kafka_login, wait_for

pytestmark = pytest.mark.infra

ORG = demo.NORREBRO_WALKING_GROUP_ORG_ID
"""Offered every Nørrebro walking referral the tests submit."""
REFERRALS = "referrals.referral.v1"
TYPE = "dk.brobygger.referrals.referral.{}.v1"


@pytest.fixture
def webhooks(system: System) -> Iterator[WebhookReceiver]:
    """ORG's webhook endpoint for the length of the test: other tests count ORG's."""
    receiver = WebhookReceiver()
    with system.client("notifications", Role.PARTNER, organization_id=ORG) as partner:
        registered = partner.post("/webhooks", json={"url": receiver.url})
        assert registered.status_code == 201, registered.text
        try:
            yield receiver
        finally:
            removed = partner.delete(f"/webhooks/{registered.json()['id']}")
            assert removed.status_code == 204, removed.text
            receiver.close()


def feeds_listed(system: System) -> list[int]:
    """How many partners notifications found reading Kafka, each time the number changed."""
    lines = (system.log_dir / "notifications.log").read_text(errors="replace").splitlines()
    found = [json.loads(line) for line in lines if '"partner_feeds.listed"' in line]
    return [entry["partners"] for entry in found]


def grant_and_wait(system: System, access: PartnerAccess) -> PartnerKafkaAccess:
    """Give ORG its topic and login; return once notifications has seen the topic."""
    before = len(feeds_listed(system))
    granted = access.grant(ORG)
    wait_for(lambda: len(feeds_listed(system)) > before, "notifications to list ORG's topic")
    return granted


def read_as_partner(
    system: System, granted: PartnerKafkaAccess, referral_id: str, expected: int
) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """The records about the referral on ORG's topic, read as ORG with confluent-kafka."""
    consumer = Consumer(
        {
            "bootstrap.servers": system.kafka,
            **granted.login.librdkafka_config(),
            "group.id": f"{partner_username(ORG)}-e2e",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([partner_topic(ORG)])
    found: list[tuple[dict[str, str], dict[str, Any]]] = []

    def all_read() -> bool:
        message = consumer.poll(0.5)
        if message is not None:
            assert message.error() is None, message.error()
            headers = {k: v.decode() for k, v in message.headers() or []}
            if headers["ce_subject"] == referral_id:
                found.append((headers, json.loads(message.value())))
        return len(found) >= expected

    try:
        wait_for(all_read, f"{expected} records about {referral_id} on ORG's topic", 60)
    finally:
        consumer.close()
    return found


def offered_and_withdrawn(system: System) -> str:
    """A new referral offered to ORG, then cancelled by its care system: the offer is
    withdrawn. Returns its id once the partner's inbox has the withdrawal."""
    referral_id: str = submit(system)["id"]
    assert wait_offered(system, referral_id)["offered_organization_id"] == str(ORG)
    with system.client("referrals", Role.CARE_SYSTEM, subject="care-e2e") as care:
        response = care.post(f"/referrals/{referral_id}/cancel", json={"reason": "citizen_moved"})
    assert response.status_code == 200, response.text
    wait_for(
        lambda: [
            m
            for m in inbox(system, Role.PARTNER, ORG)
            if m["referral_id"] == referral_id and m["kind"] == "offer_withdrawn"
        ],
        "the withdrawal in the partner's inbox",
    )
    return referral_id


def webhooks_about(
    webhooks: WebhookReceiver, referral_id: str, expected: int
) -> list[dict[str, Any]] | None:
    found = [b for b in webhooks.bodies() if b["data"].get("referral_id") == referral_id]
    return found if len(found) >= expected else None


def partner_rows_about(system: System, referral_id: str) -> list[Any]:
    engine = make_engine(system.database_urls["notifications"])
    try:
        with engine.connect() as connection:
            query = select(outbox).where(
                outbox.c.topic == partner_topic(ORG), outbox.c.key == referral_id
            )
            return list(connection.execute(query))
    finally:
        engine.dispose()


async def test_a_partner_reads_on_its_topic_what_its_webhook_is_sent_until_it_is_revoked(
    system: System, webhooks: WebhookReceiver
) -> None:
    access = PartnerAccess(system.kafka, kafka_login())
    try:
        granted = grant_and_wait(system, access)
        referral_id = offered_and_withdrawn(system)

        on_topic = read_as_partner(system, granted, referral_id, expected=2)

        types = [TYPE.format("offered"), TYPE.format("offer_withdrawn")]
        assert [headers["ce_type"] for headers, _ in on_topic] == types
        published: dict[str, Record] = {
            r.type: r for r in await records_on(system.kafka, REFERRALS) if r.subject == referral_id
        }
        sent_by_webhook = {
            body["type"]: body["data"]
            for body in wait_for(lambda: webhooks_about(webhooks, referral_id, 2), "both webhooks")
        }
        for headers, data in on_topic:
            original = published[headers["ce_type"]].headers
            for attribute in ("ce_id", "ce_source", "ce_type", "ce_time", "ce_subject"):
                assert headers[attribute] == original[attribute], attribute
            assert data == sent_by_webhook[headers["ce_type"]]
            assert found_in(json.dumps(data)) == []
            assert PERSONAL_NUMBER not in json.dumps(data) and NAME not in json.dumps(data)
    finally:
        access.revoke(ORG)

    def listed_none() -> bool:
        return feeds_listed(system)[-1] == 0

    wait_for(listed_none, "notifications to drop ORG's topic")
    after = offered_and_withdrawn(system)
    assert partner_rows_about(system, after) == [], "nothing more is written for ORG"
    assert len(partner_rows_about(system, referral_id)) == 2
