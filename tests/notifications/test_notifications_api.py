"""The notifications HTTP API, with Kafka unreachable: consumed events still reach the outbox."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from contracts import DeliveryRecorded, IntegrationEvent
from runtime.auth import Role
from runtime.storage import make_engine, outbox
from tests.events import (
    offer_expired,
    offer_withdrawn,
    pool_opened,
    referral_escalated,
    referral_offered,
)
from tests.kit import auth_header, record_of, wait_for
from tests.notifications.receiver import webhook_receiver
from tests.notifications.support import (
    ORG,
    OTHER_ORG,
    consent_withdrawn,
    consume,
    referral_erased,
)

PARTNER = auth_header(Role.PARTNER, organization_id=ORG)
OTHER_PARTNER = auth_header(Role.PARTNER, organization_id=OTHER_ORG)
OPERATOR = auth_header(Role.OPERATOR, subject="someone")
OTHER_OPERATOR = auth_header(Role.OPERATOR, subject="someone else")


@pytest.fixture
def engine(client: TestClient, database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def deliver(client: TestClient, *events: IntegrationEvent) -> None:
    """Consume events in the running service, through the runtime's consumer."""
    records = [record_of(event, offset) for offset, event in enumerate(events)]
    portal = client.portal
    assert portal is not None  # there is one while the client is entered
    start_uow = client.app.state.start_uow  # type: ignore[attr-defined]
    dead_letters = portal.call(partial(consume, start_uow, *records))
    assert dead_letters == []


def inbox(client: TestClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = client.get("/inbox", headers=headers, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(body["data"])
    items: list[dict[str, Any]] = body["data"]
    return items


def test_the_inbox_needs_a_partner_or_operator_token(client: TestClient) -> None:
    missing = client.get("/inbox")
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    for role in (Role.CARE_SYSTEM, Role.REVIEWER):
        refused = client.get("/inbox", headers=auth_header(role))
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        assert client.post(f"/inbox/{uuid4()}/read", headers=auth_header(role)).status_code == 403
    assert client.get("/inbox", headers=OPERATOR).status_code == 200


def test_a_partner_sees_its_own_messages_and_broadcasts_but_not_another_organisations(
    client: TestClient,
) -> None:
    deliver(
        client, referral_offered(organization_id=ORG), referral_offered(organization_id=OTHER_ORG)
    )
    deliver(client, pool_opened())
    mine = inbox(client, PARTNER)
    assert [m["organization_id"] for m in mine] == [None, str(ORG)]  # newest first
    assert mine[1]["text"].startswith("Ny henvisning: en borger (80-84 år, Nørrebro)")
    assert mine[1]["language"] == "da"
    assert "cit_" not in mine[1]["text"]
    assert [m["organization_id"] for m in inbox(client, OTHER_PARTNER)] == [None, str(OTHER_ORG)]


def test_unread_only_leaves_out_what_the_partner_marked_read(client: TestClient) -> None:
    deliver(client, referral_offered(organization_id=ORG), pool_opened())
    broadcast = next(m for m in inbox(client, PARTNER) if m["organization_id"] is None)
    response = client.post(f"/inbox/{broadcast['id']}/read", headers=PARTNER)
    assert response.status_code == 200
    assert response.json()["read_at"] is not None
    unread = inbox(client, PARTNER, unread_only=True)
    assert [m["organization_id"] for m in unread] == [str(ORG)]
    assert len(inbox(client, OTHER_PARTNER, unread_only=True)) == 1  # read marks are per partner


def test_a_partner_cannot_mark_another_organisations_message_read(client: TestClient) -> None:
    deliver(client, referral_offered(organization_id=OTHER_ORG))
    [theirs] = inbox(client, OTHER_PARTNER)
    response = client.post(f"/inbox/{theirs['id']}/read", headers=PARTNER)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert inbox(client, OTHER_PARTNER, unread_only=True) == [theirs]
    assert client.post(f"/inbox/{uuid4()}/read", headers=PARTNER).status_code == 404
    assert client.post("/inbox/not-a-uuid/read", headers=PARTNER).status_code == 422


def test_a_partner_is_told_when_its_offer_is_withdrawn_or_expires_and_of_which_referral(
    client: TestClient,
) -> None:
    first, second = referral_offered(organization_id=ORG), referral_offered(organization_id=ORG)
    deliver(client, first, second)
    deliver(client, offer_withdrawn(first, reason="cancelled"))
    deliver(client, offer_expired(second))
    mine = inbox(client, PARTNER)
    assert [(m["kind"], m["referral_id"]) for m in mine] == [
        ("offer_expired", str(second.referral_id)),
        ("offer_withdrawn", str(first.referral_id)),
        ("referral_offered", str(second.referral_id)),
        ("referral_offered", str(first.referral_id)),
    ]
    assert mine[1]["text"] == (
        f"Henvisning {first.referral_id} er trukket tilbage: henvisningen er annulleret. "
        "I skal ikke gøre mere ved den."
    )
    assert inbox(client, OTHER_PARTNER) == []


def test_a_partner_is_told_to_delete_a_referral_and_after_an_erasure_finds_only_that(
    client: TestClient,
) -> None:
    offer, other = referral_offered(organization_id=ORG), referral_offered(organization_id=ORG)
    deliver(client, other, offer, consent_withdrawn(offer.referral_id, ORG))
    assert [(m["kind"], m["referral_id"]) for m in inbox(client, PARTNER)] == [
        ("deletion_requested", str(offer.referral_id)),
        ("referral_offered", str(offer.referral_id)),
        ("referral_offered", str(other.referral_id)),
    ]
    deliver(client, referral_erased(offer.referral_id, ORG))
    notice, left = inbox(client, PARTNER)
    assert (notice["kind"], notice["referral_id"], notice["text"]) == (
        "deletion_requested",
        str(offer.referral_id),
        f"Henvisning {offer.referral_id}: borgerens oplysninger er slettet. "
        "Slet alt, hvad I har om henvisningen og borgeren.",
    )
    assert left["referral_id"] == str(other.referral_id)
    assert inbox(client, OTHER_PARTNER) == []


def test_an_operator_reads_the_escalations_and_no_partner_does(client: TestClient) -> None:
    event = referral_escalated(reason="declined_or_expired")
    deliver(client, referral_offered(organization_id=ORG), pool_opened(), event)
    [message] = inbox(client, OPERATOR)
    assert (message["kind"], message["referral_id"], message["organization_id"]) == (
        "referral_escalated",
        str(event.referral_id),
        None,
    )
    assert "Nørrebro" in message["text"]
    assert "de foreslåede fællesskaber har takket nej eller ikke svaret i tide" in message["text"]
    for partner in (PARTNER, OTHER_PARTNER):
        assert "referral_escalated" not in {m["kind"] for m in inbox(client, partner)}
    pool = next(m for m in inbox(client, PARTNER) if m["kind"] == "pool_opened")
    assert pool["referral_id"] is None


def test_each_operator_marks_the_operators_messages_read_for_themselves(
    client: TestClient,
) -> None:
    deliver(client, referral_escalated(), referral_escalated())
    older = inbox(client, OPERATOR)[1]
    response = client.post(f"/inbox/{older['id']}/read", headers=OPERATOR)
    assert response.status_code == 200, response.text
    assert response.json()["read_at"] is not None
    assert [m["id"] for m in inbox(client, OPERATOR, unread_only=True)] == [
        inbox(client, OPERATOR)[0]["id"]
    ]
    assert len(inbox(client, OTHER_OPERATOR, unread_only=True)) == 2


def test_partners_and_operators_cannot_mark_each_others_messages_read(
    client: TestClient,
) -> None:
    deliver(client, referral_offered(organization_id=ORG), pool_opened(), referral_escalated())
    [to_operators] = inbox(client, OPERATOR)
    for theirs in inbox(client, PARTNER):
        refused = client.post(f"/inbox/{theirs['id']}/read", headers=OPERATOR)
        assert refused.status_code == 404
        assert refused.headers["content-type"] == "application/problem+json"
    assert client.post(f"/inbox/{to_operators['id']}/read", headers=PARTNER).status_code == 404
    assert len(inbox(client, PARTNER, unread_only=True)) == 2
    assert inbox(client, OPERATOR, unread_only=True) == [to_operators]


def test_the_document_says_who_reads_the_inbox_and_what_a_message_carries(
    client: TestClient,
) -> None:
    document = client.get("/openapi.json").json()
    paths = document["paths"]
    for path, method in (("/inbox", "get"), ("/inbox/{message_id}/read", "post")):
        operation = paths[path][method]
        assert operation["x-roles"] == ["partner", "operator"]
        assert {"401", "403", "422", "503"} <= set(operation["responses"])
    message = document["components"]["schemas"]["MessagePublic"]
    assert {"kind", "referral_id"} <= set(message["required"])
    assert set(document["components"]["schemas"]["Template"]["enum"]) == {
        "referral_offered",
        "offer_withdrawn",
        "offer_expired",
        "referral_escalated",
        "pool_opened",
        "deletion_requested",
        "follow_up_due",
        "follow_up_overdue",
        "follow_up_escalated",
        "webhook_disabled",
        "grant_decided",
        "grant_report_overdue",
    }
    assert "`deletion_requested`" in message["properties"]["kind"]["description"]
    assert "`grant_decided`" in message["properties"]["kind"]["description"]


def test_a_body_that_is_not_utf8_json_gets_a_400_problem_the_document_lists(
    client: TestClient,
) -> None:
    response = client.post(
        "/webhooks",
        headers={**PARTNER, "Content-Type": "application/json"},
        content=b"\xff\xfe{",
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert "400" in client.get("/openapi.json").json()["paths"]["/webhooks"]["post"]["responses"]


def test_the_document_lists_what_each_partner_route_answers(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "404" in paths["/inbox/{message_id}/read"]["post"]["responses"]


def test_operators_watch_deliveries_and_partners_may_not(client: TestClient) -> None:
    client.post("/webhooks", headers=PARTNER, json={"url": "https://partner.example/hook"})
    deliver(client, referral_offered(organization_id=ORG))
    assert client.get("/deliveries", headers=PARTNER).status_code == 403
    everything = client.get("/deliveries", headers=OPERATOR).json()
    assert sorted((d["channel"], d["status"]) for d in everything["data"]) == [
        ("inbox", "delivered"),
        ("webhook", "pending"),
    ]
    pending = client.get("/deliveries", headers=OPERATOR, params={"status": "pending"}).json()
    assert [d["channel"] for d in pending["data"]] == ["webhook"]
    bad = client.get("/deliveries", headers=OPERATOR, params={"status": "lost"})
    assert bad.status_code == 422


def test_a_consumed_offer_leaves_its_delivery_event_in_the_outbox(
    client: TestClient, engine: Engine
) -> None:
    deliver(client, referral_offered(organization_id=ORG))
    with engine.connect() as connection:
        row = connection.execute(select(outbox)).one()
    assert row.topic == "notifications.delivery.v2"
    assert row.published_at is None  # Kafka is unreachable: it waits for the relay
    event = DeliveryRecorded.model_validate_json(row.value)
    assert (event.recipient_kind, event.organization_id) == ("organization", ORG)
    assert (event.channel, event.status) == ("inbox", "delivered")


def test_the_running_service_sends_a_withdrawal_to_the_partners_webhook(
    start: Callable[..., TestClient],
) -> None:
    client = start(allow_private_webhook_targets=True, dispatcher_poll_seconds=0.05)
    offer = referral_offered(organization_id=ORG)
    with webhook_receiver() as receiver:
        registered = client.post("/webhooks", headers=PARTNER, json={"url": receiver.url})
        receiver.secret = registered.json()["secret"]
        deliver(client, offer_withdrawn(offer, reason="reassigned"))
        [received] = wait_for(lambda: receiver.received, "the withdrawal's webhook", 15)
    assert (received.answered, received.signature_valid) == (204, True)
    assert received.body["type"] == "dk.brobygger.referrals.referral.offer_withdrawn.v1"
    assert (received.body["data"]["referral_id"], received.body["data"]["reason"]) == (
        str(offer.referral_id),
        "reassigned",
    )


def test_the_running_service_sends_an_erasure_notice_to_each_partners_webhook_about_itself(
    start: Callable[..., TestClient],
) -> None:
    client = start(allow_private_webhook_targets=True, dispatcher_poll_seconds=0.05)
    erasure = referral_erased(uuid4(), ORG, OTHER_ORG)
    with webhook_receiver() as receiver:
        registered = client.post("/webhooks", headers=PARTNER, json={"url": receiver.url})
        receiver.secret = registered.json()["secret"]
        deliver(client, erasure)
        [received] = wait_for(lambda: receiver.received, "the erasure's webhook", 15)
    assert (received.answered, received.signature_valid) == (204, True)
    assert received.body["type"] == "dk.brobygger.referrals.referral.erased.v1"
    # The event, but naming the recipient only: not who else was offered the referral.
    assert received.body["data"] == {
        **erasure.model_dump(mode="json"),
        "organization_ids": [str(ORG)],
    }


def test_the_running_service_retries_a_failing_webhook_until_it_is_delivered(
    start: Callable[..., TestClient], database_url: str
) -> None:
    client = start(
        allow_private_webhook_targets=True,
        dispatcher_poll_seconds=0.05,
        retry_first_seconds=0.1,
    )
    with webhook_receiver(failures_first=1) as receiver:
        registered = client.post("/webhooks", headers=PARTNER, json={"url": receiver.url})
        receiver.secret = registered.json()["secret"]
        deliver(client, referral_offered(organization_id=ORG))
        wait_for(lambda: len(receiver.received) >= 2, "a failed and a retried webhook", 15)
    assert [r.answered for r in receiver.received] == [500, 204]
    assert receiver.received[1].signature_valid
    delivered = client.get("/deliveries", headers=OPERATOR, params={"status": "delivered"})
    webhook = next(d for d in delivered.json()["data"] if d["channel"] == "webhook")
    assert webhook["attempts"] == 2
    assert webhook["id"] == receiver.received[1].webhook_id
    engine = make_engine(database_url)
    with engine.connect() as connection:
        values = connection.execute(select(outbox.c.value).order_by(outbox.c.seq)).scalars()
        events = [DeliveryRecorded.model_validate_json(v) for v in values]
    engine.dispose()
    assert [(e.channel, e.status) for e in events] == [
        ("inbox", "delivered"),
        ("webhook", "delivered"),
    ]
