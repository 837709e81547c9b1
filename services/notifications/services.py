"""Use cases of the notifications service: one function each, the only place that commits."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID, uuid4

from sqlalchemy.exc import IntegrityError

from contracts import IntegrationEvent, PoolOpened, ReferralOffered
from notifications import events
from notifications.domain import (
    Delivery,
    DeliveryStatus,
    Language,
    Message,
    RetryPolicy,
    SourceEvent,
    Template,
    Webhook,
    check_webhook_url,
    format_amount,
    format_time,
    interest_names,
    new_secret,
    render,
    webhook_body,
)
from notifications.store import DeliveryRepository, MessageRepository, WebhookRepository
from runtime.storage import ConsumedEvent, utcnow


class UnitOfWork(Protocol):
    @property
    def messages(self) -> MessageRepository: ...

    @property
    def webhooks(self) -> WebhookRepository: ...

    @property
    def deliveries(self) -> DeliveryRepository: ...

    @property
    def consumed(self) -> ConsumedEvent | None:
        """The event being consumed in this transaction, if any."""
        ...

    def publish(self, event: IntegrationEvent) -> None: ...

    def commit(self) -> None: ...


UnitOfWorkFactory = Callable[[], AbstractContextManager[UnitOfWork]]

Clock = Callable[[], datetime]
"""The time now, timezone-aware UTC: a dependency, so that tests can set and move it."""


class MessageNotFound(Exception):
    pass


class WebhookNotFound(Exception):
    pass


class DeliveryNotFound(Exception):
    pass


def notify_referral_offered(
    event: ReferralOffered, uow: UnitOfWork, language: Language, clock: Clock = utcnow
) -> None:
    """Tell the offered organisation: in its inbox, and by webhook if it registered one.

    The message says only what the event says, and the event never says who the citizen is.
    """
    source = _consumed(uow)
    now = clock()
    text = render(
        Template.REFERRAL_OFFERED,
        language,
        age_band=event.age_band,
        district=event.district,
        interests=interest_names(event.interests, language),
        expires=format_time(event.expires_at, language),
    )
    message = Message(
        uuid4(), event.organization_id, Template.REFERRAL_OFFERED, language, text, source, now
    )
    delivery = _put_in_inbox(uow, message)
    uow.publish(events.delivery_recorded(delivery))
    webhook = uow.webhooks.get(event.organization_id)
    if webhook is not None:
        _queue_webhook(uow, webhook, source, event, now)
    uow.commit()


def announce_pool(
    event: PoolOpened, uow: UnitOfWork, language: Language, clock: Clock = utcnow
) -> None:
    """A grant pool opened: a broadcast in every partner's inbox, and a webhook to each."""
    source = _consumed(uow)
    now = clock()
    text = render(
        Template.POOL_OPENED,
        language,
        name=event.name,
        budget_dkk=format_amount(event.budget_dkk, language),
        opens_on=event.opens_on.isoformat(),
        closes_on=event.closes_on.isoformat(),
        criteria=event.criteria,
    )
    message = Message(uuid4(), None, Template.POOL_OPENED, language, text, source, now)
    # No DeliveryRecorded for the broadcast: the event names one recipient organisation,
    # and a broadcast has none. The webhook deliveries each publish theirs when sent.
    _put_in_inbox(uow, message)
    for webhook in uow.webhooks.all():
        _queue_webhook(uow, webhook, source, event, now)
    uow.commit()


def _consumed(uow: UnitOfWork) -> SourceEvent:
    if uow.consumed is None:
        raise RuntimeError("a consumer handler ran outside the transaction of a consumed event")
    return SourceEvent(UUID(uow.consumed.id), uow.consumed.type)


def _put_in_inbox(uow: UnitOfWork, message: Message) -> Delivery:
    uow.messages.add(message)
    delivery = Delivery.to_inbox(message)
    uow.deliveries.add(delivery)
    return delivery


def _queue_webhook(
    uow: UnitOfWork,
    webhook: Webhook,
    source: SourceEvent,
    event: IntegrationEvent,
    now: datetime,
) -> None:
    body = webhook_body(source.type, now, event.model_dump(mode="json"))
    uow.deliveries.add(Delivery.to_webhook(webhook.organization_id, source, body, now))


def inbox(
    organization_id: UUID, start_uow: UnitOfWorkFactory, *, unread_only: bool, limit: int
) -> list[Message]:
    with start_uow() as uow:
        return uow.messages.for_organization(organization_id, unread_only=unread_only, limit=limit)


def mark_read(
    message_id: UUID, organization_id: UUID, start_uow: UnitOfWorkFactory, clock: Clock = utcnow
) -> Message:
    """Mark a message read for the organisation. The first time stands: whoever marks it
    again, later or at the same moment, gets that time back."""
    with start_uow() as uow:
        message = uow.messages.get_for_organization(message_id, organization_id)
        if message is None:
            raise MessageNotFound(f"no message {message_id} for organisation {organization_id}")
        if message.read_at is not None:
            return message
        uow.messages.mark_read(message_id, organization_id, clock())
        with contextlib.suppress(IntegrityError):  # a concurrent request marked it first
            uow.commit()
    # Read back the time that stands: a concurrent request may have marked the message
    # between this one's read and its write, and then the repository wrote nothing.
    with start_uow() as uow:
        marked = uow.messages.get_for_organization(message_id, organization_id)
    if marked is None:
        raise MessageNotFound(f"no message {message_id} for organisation {organization_id}")
    return marked


@dataclass(frozen=True)
class RegisterWebhook:
    organization_id: UUID
    url: str


def register_webhook(
    command: RegisterWebhook,
    start_uow: UnitOfWorkFactory,
    *,
    allow_private_targets: bool,
    clock: Clock = utcnow,
) -> tuple[Webhook, bool]:
    """Register or replace the organisation's webhook, with a new secret each time.

    Returns the webhook and whether it is new.
    """
    check_webhook_url(command.url, allow_private=allow_private_targets)
    webhook = Webhook(command.organization_id, command.url, new_secret(), clock())
    try:
        return webhook, _save_webhook(webhook, start_uow)
    except IntegrityError:
        # A concurrent first registration won; this one replaces it, as if it came second.
        return webhook, _save_webhook(webhook, start_uow)


def _save_webhook(webhook: Webhook, start_uow: UnitOfWorkFactory) -> bool:
    with start_uow() as uow:
        created = uow.webhooks.get(webhook.organization_id) is None
        uow.webhooks.save(webhook)
        uow.commit()
    return created


def remove_webhook(organization_id: UUID, start_uow: UnitOfWorkFactory) -> None:
    """Forget the webhook; deliveries still pending to it fail at their next attempt."""
    with start_uow() as uow:
        if not uow.webhooks.remove(organization_id):
            raise WebhookNotFound(f"organisation {organization_id} has no webhook")
        uow.commit()


def recent_deliveries(
    start_uow: UnitOfWorkFactory, *, status: DeliveryStatus | None, limit: int
) -> list[Delivery]:
    with start_uow() as uow:
        return uow.deliveries.recent(status, limit)


@dataclass(frozen=True)
class WebhookAttempt:
    """One signed POST for the dispatcher to make, with no transaction open."""

    delivery_id: UUID
    url: str
    secret: str
    body: str


def claim_due_webhooks(
    start_uow: UnitOfWorkFactory, *, lease: timedelta, limit: int, clock: Clock = utcnow
) -> list[WebhookAttempt]:
    """Take the due webhook deliveries for one round of sending.

    Each is held for `lease`, longer than an attempt can take, so that no other dispatcher
    sends it meanwhile, and one whose sender crashed is tried again when the lease ends.
    """
    now = clock()
    attempts = []
    with start_uow() as uow:
        for delivery in uow.deliveries.due(now, limit):
            if not uow.deliveries.claim(delivery.id, now, now + lease):
                continue
            # `due` finds webhook deliveries only, and `Delivery.to_webhook` gives each both.
            assert delivery.organization_id is not None and delivery.body is not None, (
                f"webhook delivery {delivery.id} has no organisation or no body"
            )
            webhook = uow.webhooks.get(delivery.organization_id)
            if webhook is None:
                delivery.give_up(now, "the organisation has no webhook registered any more")
                uow.deliveries.save(delivery)
                uow.publish(events.delivery_recorded(delivery))
            else:
                attempts.append(
                    WebhookAttempt(delivery.id, webhook.url, webhook.secret, delivery.body)
                )
        uow.commit()
    return attempts


@dataclass(frozen=True)
class RecordWebhookOutcome:
    delivery_id: UUID
    error: str | None
    """None when the endpoint answered 2xx; otherwise what went wrong."""


def record_webhook_outcome(
    command: RecordWebhookOutcome,
    start_uow: UnitOfWorkFactory,
    policy: RetryPolicy,
    clock: Clock = utcnow,
) -> Delivery:
    """Record one attempt; once the outcome is final, publish it in the same transaction."""
    now = clock()
    with start_uow() as uow:
        delivery = uow.deliveries.get(command.delivery_id)
        if delivery is None:
            raise DeliveryNotFound(f"no delivery {command.delivery_id}")
        if delivery.status is not DeliveryStatus.PENDING:
            return delivery  # an earlier attempt, whose lease ran out mid-send, settled it
        if command.error is None:
            delivery.delivered(now)
        else:
            delivery.attempt_failed(now, command.error, policy)
        uow.deliveries.save(delivery)
        if delivery.status is not DeliveryStatus.PENDING:
            uow.publish(events.delivery_recorded(delivery))
        uow.commit()
    return delivery
