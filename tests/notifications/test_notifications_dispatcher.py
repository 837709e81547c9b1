"""The dispatcher sending webhooks to real local HTTP endpoints, on SQLite and PostgreSQL:
signed, retried, one delivery per endpoint, and endpoints that keep failing disabled.

Its clock is the test's: back-off and timestamps follow the clock the test moves, not the
time the test takes.
"""

import asyncio
import base64
import socket
import threading
from datetime import datetime, timedelta
from uuid import UUID

import httpx
from sqlalchemy import select

from contracts import DeliveryRecorded, OfferWithdrawn, ReferralOffered
from notifications import services
from notifications.channels.webhook import Resolve
from notifications.dispatcher import Dispatcher
from notifications.domain import Channel, Delivery, DeliveryStatus, Language, RetryPolicy, Template
from notifications.rendering import when
from notifications.sealing import SecretBox
from notifications.webhooks import Owner, WebhookEndpoint
from runtime.storage import outbox
from tests.events import offer_withdrawn, referral_offered
from tests.fakes import FakeClock
from tests.kit import record_of
from tests.notifications.receiver import Receiver, webhook_receiver
from tests.notifications.support import (
    BOX,
    DISABLE_AFTER,
    OPERATOR,
    ORG,
    OTHER_PARTNER,
    PARTNER,
    StartUow,
    add_webhook,
    consume,
    people_to_tell,
    referral_erased,
    webhook_dispatcher,
)

BACK_OFF = timedelta(minutes=5)
JUST_BEFORE = timedelta(milliseconds=1)


def dispatcher(
    start_uow: StartUow,
    clock: FakeClock,
    max_attempts: int = 3,
    resolve: Resolve | None = None,
    allow_private_targets: bool = True,
) -> Dispatcher:
    """A dispatcher to the test's receiver on 127.0.0.1, or, given a resolver, to where it
    says a webhook's host is."""
    return webhook_dispatcher(
        start_uow,
        clock,
        policy=RetryPolicy(max_attempts=max_attempts, first_delay=BACK_OFF),
        resolve=resolve or no_lookups,
        allow_private_targets=allow_private_targets,
    )


def no_lookups(host: str, port: int) -> list[str]:
    raise AssertionError("an address literal needs no lookup")


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
        sender = webhook_dispatcher(
            start_uow,
            clock_when_due(start_uow, delivery_id),
            policy=RetryPolicy(max_attempts=3, first_delay=BACK_OFF),
            resolve=no_lookups,
            box=other_keys,
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


# --- endpoints that keep failing ---------------------------------------------------------------

DAY = timedelta(days=1)
# A retry a day: the endpoint's fourth failed attempt comes DISABLE_AFTER after its first.
DAILY = RetryPolicy(max_attempts=10, first_delay=DAY, max_delay=DAY)
DISABLED = "notifications.webhook.disabled"


def endpoint_of(start_uow: StartUow) -> WebhookEndpoint:
    [endpoint] = services.webhooks_of(Owner(organization_id=ORG), start_uow)
    return endpoint


def pending_emails_of_kind(start_uow: StartUow, kind: str) -> list[Delivery]:
    pending = services.recent_deliveries(start_uow, status=DeliveryStatus.PENDING, limit=50)
    return [d for d in pending if d.channel is Channel.EMAIL and d.kind == kind]


async def dispatch_at(sender: Dispatcher, clock: FakeClock, moment: datetime) -> int:
    clock.now = moment
    return await sender.dispatch_due()


async def test_an_endpoint_failing_for_the_disable_time_is_disabled_and_owner_and_operators_told(
    start_uow: StartUow,
) -> None:
    with webhook_receiver(failures_first=99) as receiver:
        delivery_id = await offer_to(start_uow, receiver)
        people = people_to_tell(start_uow)
        clock = clock_when_due(start_uow, delivery_id)
        first_failure = clock.now
        sender = webhook_dispatcher(start_uow, clock, policy=DAILY, resolve=no_lookups)
        for days in range(3):
            assert await dispatch_at(sender, clock, first_failure + days * DAY) == 1
        still = endpoint_of(start_uow)
        assert (still.enabled, still.failing_since) == (True, first_failure)
        assert pending_emails_of_kind(start_uow, "webhook_disabled") == []

        assert await dispatch_at(sender, clock, first_failure + DISABLE_AFTER) == 1
        disabled = endpoint_of(start_uow)
        assert disabled.disabled_at == first_failure + DISABLE_AFTER
        assert await dispatch_at(sender, clock, first_failure + DISABLE_AFTER + 2 * DAY) == 0
    assert len(receiver.received) == 4, "nothing is sent to it once disabled"

    text = (
        f"Webhooken for {ORG} har fejlet siden {when(first_failure, Language.DA)} og er slået "
        "fra. Der sendes ikke flere hændelser til den, før den er rettet og slået til igen."
    )
    for reader in (PARTNER, OPERATOR):
        [told] = [
            m
            for m in services.inbox(reader, start_uow, unread_only=False, limit=10)
            if m.template is Template.WEBHOOK_DISABLED
        ]
        assert (told.text, told.created_at) == (text, disabled.disabled_at)
        assert told.source.type == DISABLED
    assert services.inbox(OTHER_PARTNER, start_uow, unread_only=False, limit=10) == []
    # Urgent: each person's e-mail is due at once, past quiet hours and digests.
    emails = pending_emails_of_kind(start_uow, "webhook_disabled")
    assert sorted((str(e.recipient_id), e.next_attempt_at) for e in emails) == sorted(
        (str(person), disabled.disabled_at) for person in people.values()
    )
    told_in_inbox = [
        (e.recipient_kind, e.organization_id, e.channel, e.status)
        for e in published(start_uow)
        if e.source_event_type == DISABLED
    ]
    assert sorted(told_in_inbox, key=str) == sorted(
        [("organization", ORG, "inbox", "delivered"), ("operators", None, "inbox", "delivered")],
        key=str,
    )


async def test_with_the_attempt_that_disables_an_endpoint_its_pending_deliveries_fail(
    start_uow: StartUow,
) -> None:
    with webhook_receiver(failures_first=99) as receiver:
        first = await offer_to(start_uow, receiver)
        clock = clock_when_due(start_uow, first)
        first_failure = clock.now
        # Another offer an hour later: at the disabling its delivery waits for a retry.
        later = record_of(referral_offered(organization_id=ORG), 1)
        hour = timedelta(hours=1)
        assert await consume(start_uow, later, clock=FakeClock(first_failure + hour)) == []
        [second] = [
            d.id
            for d in services.recent_deliveries(start_uow, status=DeliveryStatus.PENDING, limit=5)
            if d.id != first
        ]
        sender = webhook_dispatcher(start_uow, clock, policy=DAILY, resolve=no_lookups)
        for days in range(3):
            assert await dispatch_at(sender, clock, first_failure + days * DAY) == 1
            assert await dispatch_at(sender, clock, first_failure + days * DAY + hour) == 1

        assert await dispatch_at(sender, clock, first_failure + DISABLE_AFTER) == 1
    assert len(receiver.received) == 7

    disabled_at = first_failure + DISABLE_AFTER
    for delivery_id in (first, second):
        failed = delivery(start_uow, delivery_id)
        assert (failed.status, failed.next_attempt_at, failed.recorded_at) == (
            DeliveryStatus.FAILED,
            None,
            disabled_at,
        )
    webhooks = [(e.delivery_id, e.status) for e in published(start_uow) if e.channel == "webhook"]
    assert sorted(webhooks, key=str) == sorted([(first, "failed"), (second, "failed")], key=str)


# --- several endpoints of one organisation -----------------------------------------------------


async def test_each_endpoint_of_an_organisation_gets_only_what_it_wants_signed_with_its_own_secret(
    start_uow: StartUow,
) -> None:
    with webhook_receiver() as offers, webhook_receiver() as withdrawals:
        for receiver, wanted in (
            (offers, ReferralOffered.event_type),
            (withdrawals, OfferWithdrawn.event_type),
        ):
            command = services.AddWebhook(
                Owner(organization_id=ORG), receiver.url, frozenset({wanted})
            )
            _, receiver.secret = services.add_webhook(
                command, start_uow, BOX, allow_private_targets=True
            )
        offer = referral_offered(organization_id=ORG)
        withdrawal = offer_withdrawn(offer, reason="reassigned")
        assert await consume(start_uow, record_of(offer, 0), record_of(withdrawal, 1)) == []
        pending = services.recent_deliveries(start_uow, status=DeliveryStatus.PENDING, limit=5)
        assert len(pending) == 2
        clock = FakeClock(max(d.next_attempt_at for d in pending if d.next_attempt_at))
        assert await dispatcher(start_uow, clock).dispatch_due() == 2
    [to_offers] = offers.received
    [to_withdrawals] = withdrawals.received
    assert (to_offers.body["type"], to_offers.body["data"]) == (
        ReferralOffered.event_type,
        offer.model_dump(mode="json"),
    )
    assert (to_withdrawals.body["type"], to_withdrawals.body["data"]) == (
        OfferWithdrawn.event_type,
        withdrawal.model_dump(mode="json"),
    )
    assert to_offers.signature_valid and to_withdrawals.signature_valid
    # Signed with its own endpoint's secret alone: the other endpoint's does not verify it.
    for request, others in ((to_offers, withdrawals), (to_withdrawals, offers)):
        assert not Receiver(url="", secret=others.secret).verify(
            request.webhook_id, str(request.timestamp), request.raw, request.signatures
        )
    assert to_offers.webhook_id != to_withdrawals.webhook_id
    delivered = [
        (str(e.delivery_id), e.recipient_kind, e.organization_id)
        for e in published(start_uow)
        if e.channel == "webhook"
    ]
    assert sorted(delivered) == sorted(
        (r.webhook_id, "organization", ORG) for r in (to_offers, to_withdrawals)
    )
