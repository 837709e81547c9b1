"""Use cases of sending: claim the deliveries that are due, render each for its recipient
(in their language, as they are now), and record what came of each attempt.

The dispatcher calls these with no transaction open while it waits for a mail server, a
gateway or a webhook endpoint: claiming holds a delivery for a lease, so that two
dispatchers never send it both, and one whose sender died is sent again when it ends.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID, uuid5

from notifications import events, rendering
from notifications.domain import (
    PERSONAL_CHANNELS,
    Audience,
    Channel,
    Delivery,
    DeliveryStatus,
    Language,
    RetryPolicy,
    SourceEvent,
)
from notifications.recipients import Recipient
from notifications.services import Clock, UnitOfWork, UnitOfWorkFactory, tell_about_webhook
from notifications.webhooks import WebhookEndpoint
from runtime.logs import get_logger
from runtime.storage import utcnow

log = get_logger(component="notifications")


@dataclass(frozen=True)
class WebhookAttempt:
    """One signed POST: the secrets still sealed, opened only by the one who signs."""

    delivery_id: UUID
    webhook_id: UUID
    url: str
    sealed_secrets: tuple[str, ...]
    body: str


@dataclass(frozen=True)
class EmailAttempt:
    delivery_id: UUID
    to: str
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class SmsAttempt:
    delivery_id: UUID
    to: str
    text: str


Attempt = WebhookAttempt | EmailAttempt | SmsAttempt


@dataclass(frozen=True)
class Links:
    """Where a recipient reads the details after signing in: the municipality's front end."""

    app_url: str

    def for_delivery(self, delivery: Delivery) -> str:
        base = self.app_url.rstrip("/")
        if delivery.referral_id is not None:
            return f"{base}/referrals/{delivery.referral_id}"
        return f"{base}/inbox"


def claim_due(
    start_uow: UnitOfWorkFactory,
    *,
    channels: Collection[Channel],
    links: Links,
    lease: timedelta,
    limit: int,
    clock: Clock = utcnow,
) -> list[Attempt]:
    """Take the due deliveries on `channels` for one round of sending, each held for
    `lease`, and render them. One that cannot be sent (its recipient or endpoint gone, no
    address any more, a template that fails) fails here, with the reason."""
    now = clock()
    attempts: list[Attempt] = []
    with start_uow() as uow:
        for delivery in uow.deliveries.due(now, limit, channels):
            if not uow.deliveries.claim(delivery.id, now, now + lease):
                continue  # another dispatcher has it
            try:
                attempt = _attempt(uow, delivery, links, now, lease)
            except _CannotSend as reason:
                _settle(uow, delivery, now, str(reason))
                continue
            attempts.append(attempt)
        uow.commit()
    return attempts


class _CannotSend(Exception):
    """Why a delivery can never be sent; the text names no person and quotes no value."""


def _attempt(
    uow: UnitOfWork, delivery: Delivery, links: Links, now: datetime, lease: timedelta
) -> Attempt:
    if delivery.channel is Channel.WEBHOOK:
        endpoint = uow.webhooks.get(delivery.webhook_id) if delivery.webhook_id else None
        if endpoint is None or not endpoint.wants(delivery.source.type):
            raise _CannotSend("the webhook endpoint was removed, disabled or no longer wants it")
        assert delivery.body is not None, f"webhook delivery {delivery.id} has no body"
        return WebhookAttempt(
            delivery.id,
            endpoint.id,
            endpoint.url,
            endpoint.sealed_signing_secrets(now),
            delivery.body,
        )
    recipient = uow.recipients.get(delivery.recipient_id) if delivery.recipient_id else None
    if recipient is None or not recipient.active:
        raise _CannotSend("the recipient is gone or no longer active")
    language = Language(recipient.language)
    try:
        if delivery.channel is Channel.SMS:
            if recipient.phone is None:
                raise _CannotSend("the recipient has no phone number any more")
            rendered = _render(delivery, rendering.SMS, language, links)
            return SmsAttempt(delivery.id, recipient.phone, rendered.text)
        if recipient.email is None:
            raise _CannotSend("the recipient has no e-mail address any more")
        if delivery.digest:
            rendered = _digest(uow, delivery, recipient, language, links, now, lease)
        else:
            rendered = _render(delivery, rendering.EMAIL, language, links)
    except (rendering.RenderingFailed, rendering.TemplateMissing) as failure:
        raise _CannotSend(str(failure)) from failure
    assert rendered.subject is not None and rendered.html is not None
    return EmailAttempt(
        delivery.id, recipient.email, rendered.subject, rendered.text, rendered.html
    )


def _render(
    delivery: Delivery, channel: str, language: Language, links: Links
) -> rendering.Rendered:
    assert delivery.kind is not None and delivery.fields is not None
    return rendering.render(
        delivery.kind, channel, language, **delivery.fields, url=links.for_delivery(delivery)
    )


def _digest(
    uow: UnitOfWork,
    carrier: Delivery,
    recipient: Recipient,
    language: Language,
    links: Links,
    now: datetime,
    lease: timedelta,
) -> rendering.Rendered:
    """The recipient's digest: `carrier` carries every digest e-mail of theirs that is due,
    those merged into it in an earlier round (when its sending failed) and those due now,
    which are merged here. One claimed by another dispatcher meanwhile is left to it."""
    for other in uow.deliveries.digest_due(recipient.id, now):
        if other.id != carrier.id and uow.deliveries.claim(other.id, now, now + lease):
            other.merge_into(carrier, now)
            uow.deliveries.save(other)
            uow.publish(events.delivery_recorded(other, recipient.kind.value))
    items = [
        rendering.DigestItem(
            _render(part, rendering.EMAIL, language, links).subject or "",
            links.for_delivery(part),
        )
        for part in [carrier, *uow.deliveries.merged_into(carrier.id)]
    ]
    return rendering.render_digest(language, items)


@dataclass(frozen=True)
class RecordOutcome:
    delivery_id: UUID
    error: str | None
    """None when it worked; otherwise what went wrong, naming no person."""
    permanent: bool = False
    """Trying again cannot help (an address refused, a number that does not exist)."""


def record_outcome(
    command: RecordOutcome,
    start_uow: UnitOfWorkFactory,
    policy: RetryPolicy,
    *,
    disable_webhooks_after: timedelta,
    language: Language,
    clock: Clock = utcnow,
) -> Delivery | None:
    """Record one attempt; once the status is final, publish it in the same transaction.

    A webhook endpoint failing for `disable_webhooks_after` is disabled with this attempt:
    its pending deliveries fail, and its owner and the operators are told.
    None when the delivery is gone: its referral was erased while it was being sent.
    """
    now = clock()
    with start_uow() as uow:
        delivery = uow.deliveries.get(command.delivery_id)
        if delivery is None:
            return None
        if delivery.status is not DeliveryStatus.PENDING:
            return delivery  # an earlier attempt, whose lease ran out mid-send, settled it
        if command.error is None:
            delivery.succeeded(now)
        else:
            delivery.attempt_failed(now, command.error, policy, permanent=command.permanent)
        uow.deliveries.save(delivery)
        if delivery.status is not DeliveryStatus.PENDING:
            uow.publish(events.delivery_recorded(delivery, _recipient_kind(uow, delivery)))
        if delivery.channel is Channel.WEBHOOK and delivery.webhook_id is not None:
            endpoint = uow.webhooks.get(delivery.webhook_id)
            if endpoint is not None:
                _webhook_attempted(uow, endpoint, command, now, disable_webhooks_after, language)
                delivery = uow.deliveries.get(delivery.id) or delivery  # settled if disabled
        uow.commit()
    return delivery


def _webhook_attempted(
    uow: UnitOfWork,
    endpoint: WebhookEndpoint,
    command: RecordOutcome,
    now: datetime,
    disable_after: timedelta,
    language: Language,
) -> None:
    if command.error is None:
        endpoint.succeeded(now)
        uow.webhooks.save(endpoint)
        return
    disabled = endpoint.failed(now, disable_after)
    uow.webhooks.save(endpoint)
    if not disabled:
        return
    # Every one, also those waiting for a retry or being sent by another dispatcher (whose
    # outcome, when it comes, finds the delivery settled and changes nothing).
    for pending in uow.deliveries.pending_of_webhook(endpoint.id):
        _settle(uow, pending, now, "the webhook endpoint was disabled")
    log.warning("webhook.disabled", webhook_id=str(endpoint.id))
    tell_about_webhook(uow, endpoint, "webhook_disabled", _disabled_source(endpoint), language, now)


# Namespace of the ids of "webhook disabled" messages: name-based, so that the same
# disabling is told once however often it is recorded.
WEBHOOK_DISABLED = UUID("5f0c2d4e-6b1a-4e8f-9c3d-7a2b1e0f4d6c")


def _disabled_source(endpoint: WebhookEndpoint) -> SourceEvent:
    assert endpoint.disabled_at is not None
    return SourceEvent(
        uuid5(WEBHOOK_DISABLED, f"{endpoint.id}/{endpoint.disabled_at.isoformat()}"),
        "notifications.webhook.disabled",
    )


def _settle(uow: UnitOfWork, delivery: Delivery, now: datetime, reason: str) -> None:
    delivery.give_up(now, reason)
    uow.deliveries.save(delivery)
    uow.publish(events.delivery_recorded(delivery, _recipient_kind(uow, delivery)))


def _recipient_kind(uow: UnitOfWork, delivery: Delivery) -> str:
    if delivery.channel in PERSONAL_CHANNELS:
        recipient = uow.recipients.get(delivery.recipient_id) if delivery.recipient_id else None
        return recipient.kind.value if recipient else "coordinator"
    if delivery.channel is Channel.WEBHOOK:
        return "organization" if delivery.organization_id else "care_system"
    return Audience.ORGANIZATION.value if delivery.organization_id else Audience.OPERATORS.value
