"""Storage of notifications: SQLModel tables and the repositories the service layer uses."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import date, datetime, time
from typing import Any, NamedTuple, Protocol
from uuid import UUID

from sqlalchemy import (
    JSON,
    Column,
    Index,
    Insert,
    Table,
    Text,
    bindparam,
    delete,
    func,
    insert,
    update,
)
from sqlalchemy import Select as Select_
from sqlalchemy import select as sa_select
from sqlalchemy.orm import registry, sessionmaker
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Field, Session, SQLModel, and_, col, or_, select
from sqlmodel.sql.expression import Select

from notifications.domain import (
    Audience,
    Channel,
    Delivery,
    DeliveryStatus,
    Language,
    Message,
    OperatorReader,
    Reader,
    SourceEvent,
    Template,
)
from notifications.recipients import (
    Preferences,
    QuietHours,
    Recipient,
    RecipientKind,
    Via,
)
from notifications.webhooks import WebhookEndpoint
from runtime.partner_feeds import PartnerFeeds
from runtime.storage import UnitOfWork, UTCDateTime


class Base(SQLModel, registry=registry()):
    """This service's tables only; the outbox and inbox come from `runtime.storage`."""


class MessageRow(Base, table=True):
    # Not `inbox`: that name belongs to the consumer's table of processed events.
    __tablename__ = "message"

    id: UUID = Field(primary_key=True)
    audience: str = Field(max_length=12, index=True)
    organization_id: UUID | None = Field(default=None, index=True)
    referral_id: UUID | None = Field(default=None, index=True)
    template: str = Field(max_length=40)
    language: str = Field(max_length=2)
    text: str = Field(sa_column=Column(Text, nullable=False))
    source_event_id: UUID
    source_event_type: str = Field(max_length=200)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


class MessageReadRow(Base, table=True):
    """Who read what, per reader (`Reader.reader_id`): a broadcast is read by many."""

    __tablename__ = "message_read"

    message_id: UUID = Field(foreign_key="message.id", primary_key=True)
    reader_id: UUID = Field(primary_key=True)
    read_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class WebhookEndpointRow(Base, table=True):
    __tablename__ = "webhook_endpoint"

    id: UUID = Field(primary_key=True)
    organization_id: UUID | None = Field(default=None, index=True)
    care_system: str | None = Field(default=None, max_length=200, index=True)
    url: str = Field(max_length=2083)
    event_types: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Sealed (`sealing.SecretBox`): signing needs the secret itself, not a hash of it.
    secret: str = Field(max_length=300)
    sealed: bool = True
    """False only for a secret migration 0006 moved over in the clear, until start-up seals
    it (`services.seal_legacy_secrets`); such an endpoint is not read until then."""
    previous_secret: str | None = Field(default=None, max_length=300)
    previous_secret_until: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    failing_since: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    disabled_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class DeliveryRow(Base, table=True):
    __tablename__ = "delivery"
    __table_args__ = (
        # Never two deliveries of one event to one recipient on one channel.
        Index("ux_delivery_once", "source_event_id", "channel", "recipient_key", unique=True),
        Index("ix_delivery_digest", "recipient_id", "digest", "status"),
    )

    id: UUID = Field(primary_key=True)
    organization_id: UUID | None = Field(default=None, index=True)
    channel: str = Field(max_length=10)
    status: str = Field(index=True, max_length=10)
    referral_id: UUID | None = Field(default=None, index=True)
    # No foreign key: without an ORM relationship the two rows flush in no fixed order.
    message_id: UUID | None = None
    body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    source_event_id: UUID
    source_event_type: str = Field(max_length=200)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True, index=True)
    )
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    recorded_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    recipient_key: str = Field(max_length=60)
    recipient_id: UUID | None = None
    webhook_id: UUID | None = Field(default=None, index=True)
    kind: str | None = Field(default=None, max_length=40)
    fields: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    digest: bool = False
    merged_into: UUID | None = Field(default=None, index=True)


class RecipientRow(Base, table=True):
    """Who is told: contact details are personal data, kept here only."""

    __tablename__ = "recipient"
    __table_args__ = (
        Index("ix_recipient_organization", "organization_id", "kind", "created_at"),
        Index("ux_recipient_subject", "kind", "subject", unique=True),
    )

    id: UUID = Field(primary_key=True)
    kind: str = Field(max_length=20)
    organization_id: UUID | None = None
    subject: str | None = Field(default=None, max_length=200)
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=16)
    language: str = Field(max_length=2)
    active: bool = True
    districts: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    preferences: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    """`{"channels": {kind: [via, ...]}, "quiet_hours": [start, end] | null,
    "digest_hour": int | null}`."""
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class RecipientRepository(Protocol):
    def add(self, recipient: Recipient, *, now: datetime) -> None: ...

    def save(self, recipient: Recipient) -> None: ...

    def get(self, recipient_id: UUID) -> Recipient | None: ...

    def by_subject(self, kind: RecipientKind, subject: str) -> Recipient | None: ...

    def volunteers(
        self, organization_id: UUID, offset: int, limit: int
    ) -> tuple[list[Recipient], int]:
        """The organisation's volunteers, the first registered first."""
        ...

    def coordinators(self, organization_id: UUID | None) -> list[Recipient]:
        """The organisation's coordinators who set how they are told; None: every
        organisation's."""
        ...

    def operators(self) -> list[Recipient]:
        """The operators who set how they are told."""
        ...


class SqlRecipientRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, recipient: Recipient, *, now: datetime) -> None:
        self.session.add(RecipientRow(**_recipient_columns(recipient), created_at=now))
        self.session.flush()

    def save(self, recipient: Recipient) -> None:
        self.session.execute(
            update(RecipientRow)
            .where(col(RecipientRow.id) == recipient.id)
            .values(**_recipient_columns(recipient))
            .execution_options(synchronize_session=False)
        )

    def get(self, recipient_id: UUID) -> Recipient | None:
        row = self.session.get(RecipientRow, recipient_id)
        return _recipient(row) if row else None

    def by_subject(self, kind: RecipientKind, subject: str) -> Recipient | None:
        row = self.session.exec(
            select(RecipientRow).where(
                RecipientRow.kind == kind.value, RecipientRow.subject == subject
            )
        ).first()
        return _recipient(row) if row else None

    def volunteers(
        self, organization_id: UUID, offset: int, limit: int
    ) -> tuple[list[Recipient], int]:
        query = select(RecipientRow).where(
            RecipientRow.organization_id == organization_id,
            RecipientRow.kind == RecipientKind.VOLUNTEER.value,
        )
        total = self.session.exec(select(func.count()).select_from(query.subquery())).one()
        rows = self.session.exec(
            query.order_by(col(RecipientRow.created_at), col(RecipientRow.id))
            .offset(offset)
            .limit(limit)
        ).all()
        return [_recipient(row) for row in rows], int(total)

    def coordinators(self, organization_id: UUID | None) -> list[Recipient]:
        if organization_id is None:
            return self._listed(_STATEMENTS.coordinators, {})
        return self._listed(_STATEMENTS.coordinators_of, {"organization_id": organization_id})

    def operators(self) -> list[Recipient]:
        return self._listed(_STATEMENTS.operators, {})

    def _listed(self, query: Any, parameters: dict[str, Any]) -> list[Recipient]:
        rows = self.session.connection().execute(query, parameters)
        return [_recipient(row) for row in rows]


def _recipient_columns(recipient: Recipient) -> dict[str, Any]:
    preferences = recipient.preferences
    quiet = preferences.quiet_hours
    return {
        "id": recipient.id,
        "kind": recipient.kind.value,
        "organization_id": recipient.organization_id,
        "subject": recipient.subject,
        "name": recipient.name,
        "email": recipient.email,
        "phone": recipient.phone,
        "language": recipient.language,
        "active": recipient.active,
        "districts": sorted(recipient.districts),
        "preferences": {
            "channels": {k: sorted(v) for k, v in sorted(preferences.channels.items())},
            "quiet_hours": [quiet.start.isoformat(), quiet.end.isoformat()] if quiet else None,
            "digest_hour": preferences.digest_hour,
        },
    }


def _recipient(row: Any) -> Recipient:
    stored = row.preferences
    quiet = stored.get("quiet_hours")
    return Recipient(
        id=row.id,
        kind=RecipientKind(row.kind),
        language=row.language,
        organization_id=row.organization_id,
        subject=row.subject,
        name=row.name,
        email=row.email,
        phone=row.phone,
        active=row.active,
        districts=frozenset(row.districts),
        preferences=Preferences(
            channels={
                kind: frozenset(Via(v) for v in vias)
                for kind, vias in stored.get("channels", {}).items()
            },
            quiet_hours=QuietHours(time.fromisoformat(quiet[0]), time.fromisoformat(quiet[1]))
            if quiet
            else None,
            digest_hour=stored.get("digest_hour"),
        ),
    )


class MessageRepository(Protocol):
    def add(self, message: Message) -> None: ...

    def for_reader(
        self, reader: Reader, *, unread_only: bool, limit: int, offset: int = 0
    ) -> list[Message]:
        """What the reader may see (`Reader.can_see`), newest first, with its read marks."""
        ...

    def count_for_reader(self, reader: Reader, *, unread_only: bool) -> int: ...

    def get_for_reader(self, message_id: UUID, reader: Reader) -> Message | None:
        """The message with the reader's read mark, if the reader may see it."""
        ...

    def mark_read(self, message_id: UUID, reader: Reader, read_at: datetime) -> None: ...

    def remove_about_referral(self, referral_id: UUID) -> int:
        """Delete every message about the referral, whoever it is to, with its read marks;
        how many messages."""
        ...


class SqlMessageRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, message: Message) -> None:
        # A Core insert now, not an ORM object flushed at the commit: on every event told.
        self.session.connection().execute(
            _STATEMENTS.new_message,
            {
                "id": message.id,
                "audience": message.audience.value,
                "organization_id": message.organization_id,
                "referral_id": message.referral_id,
                "template": message.template.value,
                "language": message.language.value,
                "text": message.text,
                "source_event_id": message.source.id,
                "source_event_type": message.source.type,
                "created_at": message.created_at,
            },
        )

    def for_reader(
        self, reader: Reader, *, unread_only: bool, limit: int, offset: int = 0
    ) -> list[Message]:
        query = self._visible_to(reader)
        if unread_only:
            query = query.where(col(MessageReadRow.read_at).is_(None))
        query = (
            query.order_by(col(MessageRow.created_at).desc(), col(MessageRow.id))
            .offset(offset)
            .limit(limit)
        )
        return [_message(row, read_at) for row, read_at in self.session.exec(query)]

    def count_for_reader(self, reader: Reader, *, unread_only: bool) -> int:
        query = self._visible_to(reader)
        if unread_only:
            query = query.where(col(MessageReadRow.read_at).is_(None))
        return int(self.session.exec(select(func.count()).select_from(query.subquery())).one())

    def get_for_reader(self, message_id: UUID, reader: Reader) -> Message | None:
        query = self._visible_to(reader).where(MessageRow.id == message_id)
        found = self.session.exec(query).first()
        return _message(*found) if found else None

    def mark_read(self, message_id: UUID, reader: Reader, read_at: datetime) -> None:
        if self.session.get(MessageReadRow, (message_id, reader.reader_id)) is None:
            self.session.add(
                MessageReadRow(message_id=message_id, reader_id=reader.reader_id, read_at=read_at)
            )

    def remove_about_referral(self, referral_id: UUID) -> int:
        about = col(MessageRow.referral_id) == referral_id
        self.session.connection().execute(
            delete(MessageReadRow).where(
                col(MessageReadRow.message_id).in_(select(MessageRow.id).where(about))
            )
        )
        removed = self.session.connection().execute(delete(MessageRow).where(about))
        return removed.rowcount

    def _visible_to(self, reader: Reader) -> Select[MessageRow, datetime]:
        return (
            select(MessageRow, MessageReadRow.read_at)
            .join(
                MessageReadRow,
                (col(MessageReadRow.message_id) == MessageRow.id)
                & (col(MessageReadRow.reader_id) == reader.reader_id),
                isouter=True,
            )
            .where(_seen_by(reader))
        )


def _seen_by(reader: Reader) -> ColumnElement[bool]:
    """`Reader.can_see` as a condition on the message table."""
    audience = col(MessageRow.audience)
    if isinstance(reader, OperatorReader):
        return audience == Audience.OPERATORS.value
    return or_(
        audience == Audience.PARTNERS.value,
        and_(
            audience == Audience.ORGANIZATION.value,
            col(MessageRow.organization_id) == reader.organization_id,
        ),
    )


def _message(row: MessageRow, read_at: datetime | None) -> Message:
    return Message(
        id=row.id,
        audience=Audience(row.audience),
        organization_id=row.organization_id,
        referral_id=row.referral_id,
        template=Template(row.template),
        language=Language(row.language),
        text=row.text,
        source=SourceEvent(row.source_event_id, row.source_event_type),
        created_at=row.created_at,
        read_at=read_at,
    )


class WebhookRepository(Protocol):
    def add(self, endpoint: WebhookEndpoint) -> None: ...

    def save(self, endpoint: WebhookEndpoint) -> None: ...

    def get(self, endpoint_id: UUID) -> WebhookEndpoint | None: ...

    def of_organization(self, organization_id: UUID) -> list[WebhookEndpoint]:
        """The organisation's endpoints, the oldest first."""
        ...

    def of_care_system(self, care_system: str) -> list[WebhookEndpoint]:
        """The care system's endpoints, the oldest first."""
        ...

    def partners_enabled(self) -> list[WebhookEndpoint]:
        """Every enabled endpoint of every partner organisation: for a broadcast."""
        ...

    def remove(self, endpoint_id: UUID) -> bool:
        """Forget the endpoint; False if there was none."""
        ...

    def legacy_secrets(self) -> list[tuple[UUID, str]]:
        """The endpoints whose secret is still in the clear, with it (see `seal_legacy`)."""
        ...

    def seal_legacy(self, endpoint_id: UUID, sealed: str) -> None:
        """Put the sealed secret in place of the one in the clear."""
        ...


class SqlWebhookRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, endpoint: WebhookEndpoint) -> None:
        self.session.add(WebhookEndpointRow(**_endpoint_columns(endpoint), sealed=True))
        self.session.flush()  # before any statement of this transaction that looks for it

    def save(self, endpoint: WebhookEndpoint) -> None:
        self.session.execute(
            update(WebhookEndpointRow)
            .where(col(WebhookEndpointRow.id) == endpoint.id)
            .values(**_endpoint_columns(endpoint))
            .execution_options(synchronize_session=False)
        )

    def get(self, endpoint_id: UUID) -> WebhookEndpoint | None:
        row = self.session.exec(
            select(WebhookEndpointRow).where(
                WebhookEndpointRow.id == endpoint_id, col(WebhookEndpointRow.sealed)
            )
        ).first()
        return _endpoint(row) if row else None

    def of_organization(self, organization_id: UUID) -> list[WebhookEndpoint]:
        return self._of(_STATEMENTS.endpoints_of_organization, {"organization_id": organization_id})

    def of_care_system(self, care_system: str) -> list[WebhookEndpoint]:
        return self._of(_STATEMENTS.endpoints_of_care_system, {"care_system": care_system})

    def _of(self, query: Any, parameters: dict[str, Any]) -> list[WebhookEndpoint]:
        return [_endpoint(row) for row in self.session.connection().execute(query, parameters)]

    def partners_enabled(self) -> list[WebhookEndpoint]:
        return self._sealed(
            col(WebhookEndpointRow.organization_id).is_not(None),
            col(WebhookEndpointRow.disabled_at).is_(None),
        )

    def remove(self, endpoint_id: UUID) -> bool:
        removed = self.session.connection().execute(
            delete(WebhookEndpointRow).where(col(WebhookEndpointRow.id) == endpoint_id)
        )
        return removed.rowcount == 1

    def legacy_secrets(self) -> list[tuple[UUID, str]]:
        rows = self.session.exec(
            select(WebhookEndpointRow.id, WebhookEndpointRow.secret).where(
                col(WebhookEndpointRow.sealed).is_(False)
            )
        )
        return [(endpoint_id, secret) for endpoint_id, secret in rows]

    def seal_legacy(self, endpoint_id: UUID, sealed: str) -> None:
        self.session.execute(
            update(WebhookEndpointRow)
            .where(
                col(WebhookEndpointRow.id) == endpoint_id,
                col(WebhookEndpointRow.sealed).is_(False),
            )
            .values(secret=sealed, sealed=True)
            .execution_options(synchronize_session=False)
        )

    def _sealed(self, *where: ColumnElement[bool] | bool) -> list[WebhookEndpoint]:
        rows = self.session.exec(
            select(WebhookEndpointRow)
            .where(col(WebhookEndpointRow.sealed), *where)
            .order_by(col(WebhookEndpointRow.created_at), col(WebhookEndpointRow.id))
        )
        return [_endpoint(row) for row in rows]


def _endpoint_columns(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "organization_id": endpoint.organization_id,
        "care_system": endpoint.care_system,
        "url": endpoint.url,
        "event_types": sorted(endpoint.event_types),
        "secret": endpoint.secret,
        "previous_secret": endpoint.previous_secret,
        "previous_secret_until": endpoint.previous_secret_until,
        "failing_since": endpoint.failing_since,
        "disabled_at": endpoint.disabled_at,
        "created_at": endpoint.created_at,
    }


def _endpoint(row: Any) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=row.id,
        url=row.url,
        secret=row.secret,
        created_at=row.created_at,
        organization_id=row.organization_id,
        care_system=row.care_system,
        event_types=frozenset(row.event_types),
        previous_secret=row.previous_secret,
        previous_secret_until=row.previous_secret_until,
        failing_since=row.failing_since,
        disabled_at=row.disabled_at,
    )


class DeliveryRepository(Protocol):
    def add(self, delivery: Delivery) -> None: ...

    def get(self, delivery_id: UUID) -> Delivery | None: ...

    def save(self, delivery: Delivery) -> None: ...

    def due(self, now: datetime, limit: int, channels: Collection[Channel]) -> list[Delivery]:
        """Pending deliveries on `channels` whose next attempt is due, the longest waiting
        first."""
        ...

    def merged_into(self, digest_id: UUID) -> list[Delivery]:
        """The deliveries a digest carries, the oldest first."""
        ...

    def digest_due(self, recipient_id: UUID, now: datetime) -> list[Delivery]:
        """The recipient's pending digest e-mails that are due, the oldest first."""
        ...

    def pending_of_webhook(self, webhook_id: UUID) -> list[Delivery]: ...

    def claim(self, delivery_id: UUID, now: datetime, until: datetime) -> bool:
        """Hold a due delivery until `until`; False if another dispatcher got it first."""
        ...

    def recent(
        self, status: DeliveryStatus | None, limit: int, channel: Channel | None = None
    ) -> list[Delivery]: ...

    def remove_unfinished_of_referral(self, referral_id: UUID) -> int:
        """Delete the referral's deliveries not yet delivered or failed (a webhook waiting
        for its first attempt or a retry); how many."""
        ...

    def drop_bodies_of_referral(self, referral_id: UUID) -> int:
        """Forget what the referral's finished deliveries sent, keeping the record of each
        (to whom, how, the outcome, when); how many had a body."""
        ...


class SqlDeliveryRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, delivery: Delivery) -> None:
        # A Core insert now, not an ORM object flushed at the commit: on every event told.
        # (`get` and `save` read it back from the database.)
        self.session.connection().execute(
            _STATEMENTS.new_delivery,
            {
                "id": delivery.id,
                "organization_id": delivery.organization_id,
                "channel": delivery.channel.value,
                "status": delivery.status.value,
                "referral_id": delivery.referral_id,
                "message_id": delivery.message_id,
                "body": delivery.body,
                "source_event_id": delivery.source.id,
                "source_event_type": delivery.source.type,
                "attempts": delivery.attempts,
                "next_attempt_at": delivery.next_attempt_at,
                "last_error": delivery.last_error,
                "created_at": delivery.created_at,
                "recorded_at": delivery.recorded_at,
                "recipient_key": delivery.recipient_key,
                "recipient_id": delivery.recipient_id,
                "webhook_id": delivery.webhook_id,
                "kind": delivery.kind,
                "fields": None if delivery.fields is None else encode_fields(delivery.fields),
                "digest": delivery.digest,
                "merged_into": delivery.merged_into,
            },
        )

    def get(self, delivery_id: UUID) -> Delivery | None:
        row = self.session.get(DeliveryRow, delivery_id)
        return _delivery(row) if row else None

    def save(self, delivery: Delivery) -> None:
        row = self.session.get(DeliveryRow, delivery.id)
        if row is None:
            raise LookupError(f"delivery {delivery.id} was never added")
        row.status = delivery.status.value
        row.attempts = delivery.attempts
        row.next_attempt_at = delivery.next_attempt_at
        row.last_error = delivery.last_error
        row.recorded_at = delivery.recorded_at
        row.merged_into = delivery.merged_into
        self.session.add(row)

    def due(self, now: datetime, limit: int, channels: Collection[Channel]) -> list[Delivery]:
        rows = self.session.exec(
            select(DeliveryRow)
            .where(
                col(DeliveryRow.channel).in_([channel.value for channel in channels]),
                DeliveryRow.status == DeliveryStatus.PENDING.value,
                col(DeliveryRow.next_attempt_at) <= now,
            )
            .order_by(col(DeliveryRow.next_attempt_at))
            .limit(limit)
            # On PostgreSQL, rows another dispatcher is claiming are passed over rather than
            # waited for, so that two replicas claim different deliveries in one round
            # (`claim` alone would keep them apart, but leave the second with nothing).
            # SQLite has no row locks, and ignores it.
            .with_for_update(skip_locked=True)
        )
        return [_delivery(row) for row in rows]

    def merged_into(self, digest_id: UUID) -> list[Delivery]:
        rows = self.session.exec(
            select(DeliveryRow)
            .where(DeliveryRow.merged_into == digest_id)
            .order_by(col(DeliveryRow.created_at), col(DeliveryRow.id))
        )
        return [_delivery(row) for row in rows]

    def digest_due(self, recipient_id: UUID, now: datetime) -> list[Delivery]:
        rows = self.session.exec(
            select(DeliveryRow)
            .where(
                DeliveryRow.recipient_id == recipient_id,
                col(DeliveryRow.digest).is_(True),
                DeliveryRow.status == DeliveryStatus.PENDING.value,
                col(DeliveryRow.next_attempt_at) <= now,
            )
            .order_by(col(DeliveryRow.created_at), col(DeliveryRow.id))
        )
        return [_delivery(row) for row in rows]

    def pending_of_webhook(self, webhook_id: UUID) -> list[Delivery]:
        rows = self.session.exec(
            select(DeliveryRow).where(
                DeliveryRow.webhook_id == webhook_id,
                DeliveryRow.status == DeliveryStatus.PENDING.value,
            )
        )
        return [_delivery(row) for row in rows]

    def claim(self, delivery_id: UUID, now: datetime, until: datetime) -> bool:
        # A conditional update: of two dispatchers racing for the row, the second finds
        # next_attempt_at already in the future and updates nothing.
        claimed = self.session.connection().execute(
            update(DeliveryRow)
            .where(
                col(DeliveryRow.id) == delivery_id,
                col(DeliveryRow.status) == DeliveryStatus.PENDING.value,
                col(DeliveryRow.next_attempt_at) <= now,
            )
            .values(next_attempt_at=until)
        )
        return claimed.rowcount == 1

    def recent(
        self, status: DeliveryStatus | None, limit: int, channel: Channel | None = None
    ) -> list[Delivery]:
        query = select(DeliveryRow)
        if status is not None:
            query = query.where(DeliveryRow.status == status.value)
        if channel is not None:
            query = query.where(DeliveryRow.channel == channel.value)
        rows = self.session.exec(
            query.order_by(col(DeliveryRow.created_at).desc(), col(DeliveryRow.id)).limit(limit)
        )
        return [_delivery(row) for row in rows]

    # Each one conditional statement: a delivery the dispatcher settles meanwhile is,
    # once settled, no longer removed but only stripped of its body.
    def remove_unfinished_of_referral(self, referral_id: UUID) -> int:
        removed = self.session.connection().execute(
            delete(DeliveryRow).where(
                col(DeliveryRow.referral_id) == referral_id,
                col(DeliveryRow.status) == DeliveryStatus.PENDING.value,
            )
        )
        return removed.rowcount

    def drop_bodies_of_referral(self, referral_id: UUID) -> int:
        dropped = self.session.connection().execute(
            update(DeliveryRow)
            .where(
                col(DeliveryRow.referral_id) == referral_id,
                col(DeliveryRow.status) != DeliveryStatus.PENDING.value,
                col(DeliveryRow.body).is_not(None),
            )
            .values(body=None)
        )
        return dropped.rowcount


def _delivery(row: DeliveryRow) -> Delivery:
    return Delivery(
        id=row.id,
        organization_id=row.organization_id,
        channel=Channel(row.channel),
        source=SourceEvent(row.source_event_id, row.source_event_type),
        created_at=row.created_at,
        status=DeliveryStatus(row.status),
        referral_id=row.referral_id,
        message_id=row.message_id,
        body=row.body,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        recorded_at=row.recorded_at,
        recipient_id=row.recipient_id,
        webhook_id=row.webhook_id,
        kind=row.kind,
        fields=None if row.fields is None else decode_fields(row.fields),
        digest=row.digest,
        merged_into=row.merged_into,
    )


# A template's fields as JSON: times and days tagged, so that they come back as they went in
# and are shown on Copenhagen's clock when the message is rendered.
_DATETIME, _DATE = "$datetime", "$date"


def encode_fields(fields: dict[str, Any]) -> dict[str, Any]:
    def encode(value: Any) -> Any:
        if isinstance(value, datetime):
            return {_DATETIME: value.isoformat()}
        if isinstance(value, date):
            return {_DATE: value.isoformat()}
        if isinstance(value, UUID):
            return str(value)
        if isinstance(value, list | tuple):
            return [encode(item) for item in value]
        return value

    return {name: encode(value) for name, value in fields.items()}


def decode_fields(stored: dict[str, Any]) -> dict[str, Any]:
    def decode(value: Any) -> Any:
        if isinstance(value, dict) and _DATETIME in value:
            return datetime.fromisoformat(value[_DATETIME])
        if isinstance(value, dict) and _DATE in value:
            return date.fromisoformat(value[_DATE])
        if isinstance(value, list):
            return [decode(item) for item in value]
        return value

    return {name: decode(value) for name, value in stored.items()}


class NotificationsUnitOfWork(UnitOfWork):
    messages: MessageRepository
    webhooks: WebhookRepository
    deliveries: DeliveryRepository
    recipients: RecipientRepository

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        source: str,
        on_commit: Callable[[], None] = lambda: None,
        *,
        partner_feeds: PartnerFeeds | None = None,
    ) -> None:
        super().__init__(session_factory, source, on_commit)
        self.partner_feeds = partner_feeds or PartnerFeeds.none()
        """Which partners read their events on Kafka: from the broker, not this database."""

    def _open(self) -> None:
        self.recipients = SqlRecipientRepository(self.session)
        self.messages = SqlMessageRepository(self.session)
        self.webhooks = SqlWebhookRepository(self.session)
        self.deliveries = SqlDeliveryRepository(self.session)


class _Statements(NamedTuple):
    """What is read and written on every event told, as Core statements built once:
    building them anew, and ORM entities, cost more than running them."""

    coordinators: Select_[Any]
    """Every coordinator, in the order they were added."""
    coordinators_of: Select_[Any]
    """The coordinators of the organisation `organization_id`, in that order."""
    operators: Select_[Any]
    endpoints_of_organization: Select_[Any]
    """The sealed webhook endpoints of the organisation `organization_id`, oldest first."""
    endpoints_of_care_system: Select_[Any]
    """The sealed webhook endpoints of the care system `care_system`, oldest first."""
    new_message: Insert
    new_delivery: Insert


def _statements() -> _Statements:
    recipient: Table = RecipientRow.__table__  # type: ignore[attr-defined]
    endpoint: Table = WebhookEndpointRow.__table__  # type: ignore[attr-defined]

    def recipients(kind: RecipientKind) -> Select_[Any]:
        return (
            sa_select(recipient)
            .where(recipient.c.kind == kind.value)
            .order_by(recipient.c.created_at, recipient.c.id)
        )

    def endpoints(column: str) -> Select_[Any]:
        return (
            sa_select(endpoint)
            .where(endpoint.c.sealed, endpoint.c[column] == bindparam(column))
            .order_by(endpoint.c.created_at, endpoint.c.id)
        )

    coordinators = recipients(RecipientKind.COORDINATOR)
    return _Statements(
        coordinators=coordinators,
        coordinators_of=coordinators.where(
            recipient.c.organization_id == bindparam("organization_id")
        ),
        operators=recipients(RecipientKind.OPERATOR),
        endpoints_of_organization=endpoints("organization_id"),
        endpoints_of_care_system=endpoints("care_system"),
        new_message=insert(MessageRow.__table__),  # type: ignore[attr-defined]
        new_delivery=insert(DeliveryRow.__table__),  # type: ignore[attr-defined]
    )


_STATEMENTS = _statements()
