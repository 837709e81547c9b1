"""In-memory stand-ins for the notifications store, for service-layer unit tests."""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterable
from datetime import datetime
from uuid import UUID, uuid4

from notifications.domain import Channel, Delivery, DeliveryStatus, Message, Reader
from notifications.recipients import Recipient, RecipientKind
from notifications.webhooks import WebhookEndpoint
from runtime.storage import ConsumedEvent
from tests import fakes


class FakeMessageRepository:
    def __init__(self) -> None:
        self.rows: dict[UUID, Message] = {}
        self.reads: dict[tuple[UUID, UUID], datetime] = {}

    def add(self, message: Message) -> None:
        self.rows[message.id] = copy.deepcopy(message)

    def for_reader(
        self, reader: Reader, *, unread_only: bool, limit: int, offset: int = 0
    ) -> list[Message]:
        visible = [self._as_read_by(m, reader) for m in self.rows.values() if reader.can_see(m)]
        if unread_only:
            visible = [m for m in visible if m.read_at is None]
        newest_first = sorted(visible, key=lambda m: m.created_at, reverse=True)
        return newest_first[offset : offset + limit]

    def count_for_reader(self, reader: Reader, *, unread_only: bool) -> int:
        return len(self.for_reader(reader, unread_only=unread_only, limit=len(self.rows) + 1))

    def get_for_reader(self, message_id: UUID, reader: Reader) -> Message | None:
        message = self.rows.get(message_id)
        if message is None or not reader.can_see(message):
            return None
        return self._as_read_by(message, reader)

    def mark_read(self, message_id: UUID, reader: Reader, read_at: datetime) -> None:
        self.reads.setdefault((message_id, reader.reader_id), read_at)

    def remove_about_referral(self, referral_id: UUID) -> int:
        gone = {m.id for m in self.rows.values() if m.referral_id == referral_id}
        self.rows = {id: m for id, m in self.rows.items() if id not in gone}
        self.reads = {key: at for key, at in self.reads.items() if key[0] not in gone}
        return len(gone)

    def _as_read_by(self, message: Message, reader: Reader) -> Message:
        copied = copy.deepcopy(message)
        copied.read_at = self.reads.get((message.id, reader.reader_id))
        return copied


class FakeWebhookRepository:
    def __init__(self) -> None:
        self.rows: dict[UUID, WebhookEndpoint] = {}
        self.legacy: dict[UUID, WebhookEndpoint] = {}
        """Endpoints whose secret is still in the clear, as migration 0006 leaves them."""

    def add(self, endpoint: WebhookEndpoint) -> None:
        self.rows[endpoint.id] = copy.deepcopy(endpoint)

    def save(self, endpoint: WebhookEndpoint) -> None:
        if endpoint.id in self.rows:
            self.rows[endpoint.id] = copy.deepcopy(endpoint)

    def get(self, endpoint_id: UUID) -> WebhookEndpoint | None:
        return copy.deepcopy(self.rows.get(endpoint_id))

    def of_organization(self, organization_id: UUID) -> list[WebhookEndpoint]:
        return self._oldest_first(
            e for e in self.rows.values() if e.organization_id == organization_id
        )

    def of_care_system(self, care_system: str) -> list[WebhookEndpoint]:
        return self._oldest_first(e for e in self.rows.values() if e.care_system == care_system)

    def partners_enabled(self) -> list[WebhookEndpoint]:
        return self._oldest_first(
            e for e in self.rows.values() if e.organization_id is not None and e.enabled
        )

    def remove(self, endpoint_id: UUID) -> bool:
        return self.rows.pop(endpoint_id, None) is not None

    def legacy_secrets(self) -> list[tuple[UUID, str]]:
        return [(e.id, e.secret) for e in self.legacy.values()]

    def seal_legacy(self, endpoint_id: UUID, sealed: str) -> None:
        endpoint = self.legacy.pop(endpoint_id)
        endpoint.secret = sealed
        self.rows[endpoint_id] = endpoint

    @staticmethod
    def _oldest_first(found: Iterable[WebhookEndpoint]) -> list[WebhookEndpoint]:
        return copy.deepcopy(sorted(found, key=lambda e: (e.created_at, e.id)))


class FakeDeliveryRepository:
    def __init__(self) -> None:
        self.rows: dict[UUID, Delivery] = {}

    def add(self, delivery: Delivery) -> None:
        once = (delivery.source.id, delivery.channel, delivery.recipient_key)
        if any((d.source.id, d.channel, d.recipient_key) == once for d in self.rows.values()):
            raise RuntimeError(f"the event already has a {delivery.channel} delivery to them")
        self.rows[delivery.id] = copy.deepcopy(delivery)

    def get(self, delivery_id: UUID) -> Delivery | None:
        return copy.deepcopy(self.rows.get(delivery_id))

    def save(self, delivery: Delivery) -> None:
        self.rows[delivery.id] = copy.deepcopy(delivery)

    def due(self, now: datetime, limit: int, channels: Collection[Channel]) -> list[Delivery]:
        due = [d for d in self.rows.values() if d.channel in channels and self._is_due(d, now)]
        return copy.deepcopy(sorted(due, key=lambda d: d.next_attempt_at or now)[:limit])

    def merged_into(self, digest_id: UUID) -> list[Delivery]:
        merged = [d for d in self.rows.values() if d.merged_into == digest_id]
        return copy.deepcopy(sorted(merged, key=lambda d: d.created_at))

    def digest_due(self, recipient_id: UUID, now: datetime) -> list[Delivery]:
        due = [
            d
            for d in self.rows.values()
            if d.recipient_id == recipient_id and d.digest and self._is_due(d, now)
        ]
        return copy.deepcopy(sorted(due, key=lambda d: d.created_at))

    def pending_of_webhook(self, webhook_id: UUID) -> list[Delivery]:
        return copy.deepcopy(
            [
                d
                for d in self.rows.values()
                if d.webhook_id == webhook_id and d.status is DeliveryStatus.PENDING
            ]
        )

    def claim(self, delivery_id: UUID, now: datetime, until: datetime) -> bool:
        delivery = self.rows[delivery_id]
        if not self._is_due(delivery, now):
            return False
        delivery.next_attempt_at = until
        return True

    def recent(
        self, status: DeliveryStatus | None, limit: int, channel: Channel | None = None
    ) -> list[Delivery]:
        found = [
            d
            for d in self.rows.values()
            if status in (None, d.status) and channel in (None, d.channel)
        ]
        return copy.deepcopy(sorted(found, key=lambda d: d.created_at, reverse=True)[:limit])

    def remove_unfinished_of_referral(self, referral_id: UUID) -> int:
        gone = {
            d.id
            for d in self.rows.values()
            if d.referral_id == referral_id and d.status is DeliveryStatus.PENDING
        }
        self.rows = {id: d for id, d in self.rows.items() if id not in gone}
        return len(gone)

    def drop_bodies_of_referral(self, referral_id: UUID) -> int:
        finished = [
            d
            for d in self.rows.values()
            if d.referral_id == referral_id
            and d.status is not DeliveryStatus.PENDING
            and d.body is not None
        ]
        for delivery in finished:
            delivery.body = None
        return len(finished)

    def of_channel(self, channel: Channel) -> list[Delivery]:
        return [d for d in self.rows.values() if d.channel is channel]

    @staticmethod
    def _is_due(delivery: Delivery, now: datetime) -> bool:
        return (
            delivery.status is DeliveryStatus.PENDING
            and delivery.next_attempt_at is not None
            and delivery.next_attempt_at <= now
        )


class FakeRecipientRepository:
    def __init__(self) -> None:
        self.rows: dict[UUID, Recipient] = {}

    def add(self, recipient: Recipient, *, now: datetime) -> None:
        self.rows[recipient.id] = copy.deepcopy(recipient)

    def save(self, recipient: Recipient) -> None:
        self.rows[recipient.id] = copy.deepcopy(recipient)

    def get(self, recipient_id: UUID) -> Recipient | None:
        return copy.deepcopy(self.rows.get(recipient_id))

    def by_subject(self, kind: RecipientKind, subject: str) -> Recipient | None:
        found = [r for r in self.rows.values() if (r.kind, r.subject) == (kind, subject)]
        return copy.deepcopy(found[0]) if found else None

    def volunteers(
        self, organization_id: UUID, offset: int, limit: int
    ) -> tuple[list[Recipient], int]:
        found = self._of(RecipientKind.VOLUNTEER, organization_id)
        return found[offset : offset + limit], len(found)

    def coordinators(self, organization_id: UUID | None) -> list[Recipient]:
        return self._of(RecipientKind.COORDINATOR, organization_id)

    def operators(self) -> list[Recipient]:
        return self._of(RecipientKind.OPERATOR, None)

    def _of(self, kind: RecipientKind, organization_id: UUID | None) -> list[Recipient]:
        return copy.deepcopy(
            [
                r
                for r in self.rows.values()
                if r.kind is kind and organization_id in (None, r.organization_id)
            ]
        )


class FakePartnerFeeds:
    """The partners reading their events on Kafka: whichever the test names."""

    def __init__(self) -> None:
        self.reading: set[UUID] = set()

    def organizations(self) -> frozenset[UUID]:
        return frozenset(self.reading)


class FakeUnitOfWork(fakes.FakeUnitOfWork):
    """The notifications tables in memory, with the shared unit of work's transactions.

    `consuming(event_type)` plays the consumer, which records the event before the handler.
    """

    def __init__(self) -> None:
        super().__init__()
        self.messages = FakeMessageRepository()
        self.webhooks = FakeWebhookRepository()
        self.deliveries = FakeDeliveryRepository()
        self.recipients = FakeRecipientRepository()
        self.partner_feeds = FakePartnerFeeds()

    def _tables(self) -> list[object]:
        return [self.messages, self.webhooks, self.deliveries, self.recipients]

    def consuming(self, event_type: str) -> FakeUnitOfWork:
        self.consumed = ConsumedEvent(str(uuid4()), event_type)
        return self
