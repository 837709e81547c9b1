"""The webhook dispatcher against a real local HTTP endpoint, on SQLite and PostgreSQL.

Its clock is the test's: back-off and timestamps follow the clock the test moves, not the
time the test takes.
"""

import asyncio
import base64
import socket
import threading
from datetime import timedelta
from uuid import UUID

import httpx
from sqlalchemy import select

from contracts import DeliveryRecorded, ReferralOffered
from notifications import services
from notifications.dispatcher import Resolve, WebhookDispatcher
from notifications.domain import Delivery, DeliveryStatus, RetryPolicy
from notifications.sealing import SecretBox
from runtime.storage import outbox
from tests.events import referral_offered
from tests.fakes import FakeClock
from tests.kit import record_of
from tests.notifications.receiver import Receiver, webhook_receiver
from tests.notifications.support import (
    BOX,
    ORG,
    StartUow,
    add_webhook,
    consume,
    referral_erased,
)

BACK_OFF = timedelta(minutes=5)
JUST_BEFORE = timedelta(milliseconds=1)


def dispatcher(
    start_uow: StartUow,
    clock: FakeClock,
    max_attempts: int = 3,
    resolve: Resolve | None = None,
    allow_private_targets: bool = True,
) -> WebhookDispatcher:
    """A dispatcher to the test's receiver on 127.0.0.1, or, given a resolver, to where it
    says a webhook's host is."""

    def no_lookups(host: str, port: int) -> list[str]:
        raise AssertionError("an address literal needs no lookup")

    return WebhookDispatcher(
        start_uow,
        policy=RetryPolicy(max_attempts=max_attempts, first_delay=BACK_OFF),
        poll_seconds=0.05,
        timeout_seconds=5,
        allow_private_targets=allow_private_targets,
        box=BOX,
        resolve=resolve or no_lookups,
        clock=clock,
    )


async def offer_to(start_uow: StartUow, receiver: Receiver) -> UUID:
    """Register the receiver as ORG's webhook and consume an offer to ORG."""
    return await offer_with_webhook(start_uow, receiver.url, receiver)


async def offer_with_webhook(
    start_uow: StartUow, url: str, receiver: Receiver | None = None
) -> UUID:
    _, secret = add_webhook(start_uow, url)
    if receiver is not None:
        receiver.secret = secret
    assert await consume(start_uow, record_of(referral_offered(organization_id=ORG))) == []
    [pending] = services.recent_deliveries(start_uow, status=DeliveryStatus.PENDING, limit=5)
    return pending.id


def delivery(start_uow: StartUow, delivery_id: UUID) -> Delivery:
    with start_uow() as uow:
        found = uow.deliveries.get(delivery_id)
    assert found is not None
    return found


def clock_when_due(start_uow: StartUow, delivery_id: UUID) -> FakeClock:
    """A clock standing at the moment the delivery's first attempt fell due."""
    due = delivery(start_uow, delivery_id).next_attempt_at
    assert due is not None
    return FakeClock(due)


def published(start_uow: StartUow) -> list[DeliveryRecorded]:
    with start_uow() as uow:
        values = uow.session.execute(select(outbox.c.value).order_by(outbox.c.seq)).scalars()
        return [DeliveryRecorded.model_validate_json(value) for value in values]


async def test_a_due_webhook_is_posted_signed_and_recorded_delivered(
    start_uow: StartUow,
) -> None:
    with webhook_receiver() as receiver:
        delivery_id = await offer_to(start_uow, receiver)
        clock = clock_when_due(start_uow, delivery_id)
        clock.advance(timedelta(hours=1))  # the webhook's timestamp is when it is sent
        assert await dispatcher(start_uow, clock).dispatch_due() == 1
    [request] = receiver.received
    assert request.signature_valid
    assert request.webhook_id == str(delivery_id)
    assert request.timestamp == int(clock.now.timestamp())
    assert request.body["type"] == ReferralOffered.event_type
    assert request.body["data"]["organization_id"] == str(ORG)
    delivered = delivery(start_uow, delivery_id)
    assert (delivered.status, delivered.recorded_at) == (DeliveryStatus.DELIVERED, clock.now)
    last = published(start_uow)[-1]
    assert (last.delivery_id, last.channel, last.status) == (delivery_id, "webhook", "delivered")


async def test_a_secret_that_does_not_open_under_the_keys_configured_is_not_sent(
    start_uow: StartUow,
) -> None:
    other_keys = SecretBox.parse(f"test-1:{base64.b64encode(bytes(32)).decode()}")
    with webhook_receiver() as receiver:
        delivery_id = await offer_to(start_uow, receiver)
        sender = WebhookDispatcher(
            start_uow,
            policy=RetryPolicy(max_attempts=3, first_delay=BACK_OFF),
            poll_seconds=0.05,
            timeout_seconds=5,
            allow_private_targets=True,
            box=other_keys,
            clock=clock_when_due(start_uow, delivery_id),
        )
        assert await sender.dispatch_due() == 1
    assert receiver.received == []
    held = delivery(start_uow, delivery_id)
    assert (held.status, held.attempts, held.last_error) == (
        DeliveryStatus.PENDING,
        1,
        "not signed: the secret does not open under key 'test-1' for this endpoint",
    )


async def test_a_failing_endpoint_is_retried_after_the_back_off_and_then_delivered(
    start_uow: StartUow,
) -> None:
    with webhook_receiver(failures_first=1) as receiver:
        delivery_id = await offer_to(start_uow, receiver)
        clock = clock_when_due(start_uow, delivery_id)
        failed_at = clock.now
        sender = dispatcher(start_uow, clock)
        assert await sender.dispatch_due() == 1
        waiting = delivery(start_uow, delivery_id)
        assert (waiting.status, waiting.attempts, waiting.last_error) == (
            DeliveryStatus.PENDING,
            1,
            "HTTP 500",
        )
        assert waiting.next_attempt_at == failed_at + BACK_OFF
        assert [e.channel for e in published(start_uow)] == ["inbox"]
        clock.advance(BACK_OFF - JUST_BEFORE)
        assert await sender.dispatch_due() == 0  # not before the back-off
        clock.advance(JUST_BEFORE)
        assert await sender.dispatch_due() == 1
    first, second = receiver.received
    assert (first.answered, second.answered) == (500, 204)
    assert (first.timestamp, second.timestamp) == (
        int(failed_at.timestamp()),
        int((failed_at + BACK_OFF).timestamp()),
    )
    assert first.webhook_id == second.webhook_id == str(delivery_id)
    assert first.body == second.body
    assert second.signature_valid
    assert delivery(start_uow, delivery_id).status is DeliveryStatus.DELIVERED
    assert published(start_uow)[-1].status == "delivered"


async def test_an_endpoint_that_keeps_failing_is_given_up_and_the_failure_published(
    start_uow: StartUow,
) -> None:
    with webhook_receiver(failures_first=99) as receiver:
        delivery_id = await offer_to(start_uow, receiver)
        clock = clock_when_due(start_uow, delivery_id)
        sender = dispatcher(start_uow, clock, max_attempts=2)
        assert await sender.dispatch_due() == 1
        clock.advance(BACK_OFF)
        assert await sender.dispatch_due() == 1
        given_up_at = clock.now
        clock.advance(BACK_OFF * 100)
        assert await sender.dispatch_due() == 0
    assert len(receiver.received) == 2
    failed = delivery(start_uow, delivery_id)
    assert (failed.status, failed.attempts) == (DeliveryStatus.FAILED, 2)
    assert (failed.next_attempt_at, failed.recorded_at) == (None, given_up_at)
    last = published(start_uow)[-1]
    assert (last.channel, last.status) == ("webhook", "failed")


async def test_an_unreachable_endpoint_is_a_failed_attempt(
    start_uow: StartUow,
) -> None:
    with webhook_receiver() as receiver:
        pass  # closed again: nothing listens on its port any more
    delivery_id = await offer_to(start_uow, receiver)
    sender = dispatcher(start_uow, clock_when_due(start_uow, delivery_id))
    assert await sender.dispatch_due() == 1
    waiting = delivery(start_uow, delivery_id)
    assert waiting.status is DeliveryStatus.PENDING
    assert waiting.last_error is not None
    assert waiting.last_error.startswith("ConnectError")


async def test_a_name_that_resolves_to_a_private_address_is_refused_without_a_request(
    start_uow: StartUow,
) -> None:
    # A public-looking name passes registration; what it resolves to is checked per send.
    delivery_id = await offer_with_webhook(start_uow, "https://127.0.0.1.nip.io/hook")
    answers = {("127.0.0.1.nip.io", 443): ["127.0.0.1"]}
    sender = dispatcher(
        start_uow,
        clock_when_due(start_uow, delivery_id),
        max_attempts=1,
        resolve=lambda *target: answers[target],
        allow_private_targets=False,
    )
    assert await sender.dispatch_due() == 1
    failed = delivery(start_uow, delivery_id)
    assert failed.status is DeliveryStatus.FAILED
    assert failed.last_error == "refused: 127.0.0.1.nip.io resolves to a private address 127.0.0.1"
    last = published(start_uow)[-1]
    assert (last.delivery_id, last.status) == (delivery_id, "failed")


async def test_a_host_name_is_posted_to_at_the_address_it_resolved_to(
    start_uow: StartUow,
) -> None:
    asked: list[tuple[str, int]] = []

    def receivers_address(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return ["127.0.0.1"]

    with webhook_receiver() as receiver:
        port = httpx.URL(receiver.url).port
        url = f"http://receiver.test:{port}/hooks"
        delivery_id = await offer_with_webhook(start_uow, url, receiver)
        clock = clock_when_due(start_uow, delivery_id)
        assert await dispatcher(start_uow, clock, resolve=receivers_address).dispatch_due() == 1
    assert len(receiver.received) == 1
    assert asked == [("receiver.test", port)]
    assert delivery(start_uow, delivery_id).status is DeliveryStatus.DELIVERED


async def test_a_name_that_does_not_resolve_is_a_failed_attempt(
    start_uow: StartUow,
) -> None:
    def unknown(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    delivery_id = await offer_with_webhook(start_uow, "https://gone.partner.example/hook")
    clock = clock_when_due(start_uow, delivery_id)
    sender = dispatcher(start_uow, clock, resolve=unknown, allow_private_targets=False)
    assert await sender.dispatch_due() == 1
    waiting = delivery(start_uow, delivery_id)
    assert waiting.status is DeliveryStatus.PENDING
    assert waiting.last_error is not None
    assert waiting.last_error.startswith("gaierror: ")
    assert waiting.last_error.endswith("Name or service not known")


async def test_a_webhook_erased_while_it_is_sent_is_let_go_and_the_round_goes_on(
    start_uow: StartUow,
) -> None:
    with webhook_receiver() as receiver:
        # Under a name, so that the resolver is asked, and erases, while the round is on.
        url = receiver.url.replace("127.0.0.1", "receiver.test")
        erased_id = await offer_with_webhook(start_uow, url, receiver)
        erased = delivery(start_uow, erased_id)
        assert await consume(start_uow, record_of(referral_offered(organization_id=ORG), 1)) == []
        [other_id] = [
            d.id
            for d in services.recent_deliveries(start_uow, status=DeliveryStatus.PENDING, limit=5)
            if d.id != erased_id
        ]
        erasure = record_of(referral_erased(erased.referral_id), 2)
        erasures: list[list[str]] = []
        once = threading.Lock()

        def erase_while_sending(host: str, port: int) -> list[str]:
            """The referral of one webhook is erased between its claim and its outcome."""
            with once:
                if not erasures:
                    erasures.append(asyncio.run(consume(start_uow, erasure)))
            return ["127.0.0.1"]

        clock = clock_when_due(start_uow, other_id)
        sender = dispatcher(start_uow, clock, resolve=erase_while_sending)
        assert await sender.dispatch_due() == 2
    assert erasures == [[]]
    assert len(receiver.received) == 2
    with start_uow() as uow:
        assert uow.deliveries.get(erased_id) is None
    assert delivery(start_uow, other_id).status is DeliveryStatus.DELIVERED
    webhooks = [e for e in published(start_uow) if e.channel == "webhook"]
    assert [(e.delivery_id, e.status) for e in webhooks] == [(other_id, "delivered")]
