"""Revision 0003 gives messages their audience and referral, and read marks their reader;
revision 0004 gives deliveries their referral; revision 0007 gives them their recipient (a
person, an endpoint) and sends e-mails and SMS: what was stored before keeps its meaning,
both ways."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from alembic import command
from sqlalchemy import Engine, Integer, String, Uuid, column, insert, inspect, select, table
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col

from notifications import services
from notifications.app import MIGRATIONS
from notifications.domain import (
    Audience,
    Channel,
    Delivery,
    DeliveryStatus,
    Language,
    Message,
    OperatorReader,
    PartnerReader,
    SourceEvent,
    Template,
)
from notifications.store import DeliveryRow, NotificationsUnitOfWork
from notifications.webhooks import Owner, new_secret, webhook_body
from runtime.migrations import alembic_config
from runtime.storage import UTCDateTime
from tests.fakes import FakeClock
from tests.kit import record_of
from tests.notifications.support import (
    BOX,
    CARE_SYSTEM,
    claim_webhooks,
    consume,
    referral_status_changed,
    units_of_work,
)

ORG = uuid4()
READ_AT = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
OPERATOR = OperatorReader("operator-anna")

MESSAGE_0002 = table(
    "message",
    column("id", Uuid()),
    column("organization_id", Uuid()),
    column("template", String()),
    column("language", String()),
    column("text", String()),
    column("source_event_id", Uuid()),
    column("source_event_type", String()),
    column("created_at", UTCDateTime()),
)
MESSAGE_READ_0002 = table(
    "message_read",
    column("message_id", Uuid()),
    column("organization_id", Uuid()),
    column("read_at", UTCDateTime()),
)


def old_message(organization_id: object, template: str, minute: int) -> dict[str, object]:
    return {
        "id": uuid4(),
        "organization_id": organization_id,
        "template": template,
        "language": "da",
        "text": "text",
        "source_event_id": uuid4(),
        "source_event_type": "dk.brobygger.test.v1",
        "created_at": READ_AT.replace(minute=minute),
    }


def test_messages_and_read_marks_from_before_keep_their_meaning_through_revision_0003(
    engine_for: Callable[[str], Engine],
) -> None:
    engine = engine_for("notifications")
    config = alembic_config(MIGRATIONS, engine)
    command.upgrade(config, "0002")
    own = old_message(ORG, "referral_offered", 1)
    broadcast = old_message(None, "pool_opened", 2)
    with engine.begin() as connection:
        connection.execute(insert(MESSAGE_0002), [own, broadcast])
        mark = {"message_id": broadcast["id"], "organization_id": ORG, "read_at": READ_AT}
        connection.execute(insert(MESSAGE_READ_0002), [mark])

    command.upgrade(config, "head")
    factory = sessionmaker(engine, class_=Session, expire_on_commit=False)

    def start_uow() -> NotificationsUnitOfWork:
        return NotificationsUnitOfWork(factory, "/brobygger/notifications")

    mine = services.inbox(PartnerReader(ORG), start_uow, unread_only=False, limit=10)
    assert [(m.id, m.audience, m.referral_id, m.read_at) for m in mine] == [
        (broadcast["id"], Audience.PARTNERS, None, READ_AT),
        (own["id"], Audience.ORGANIZATION, None, None),
    ]
    others = services.inbox(PartnerReader(uuid4()), start_uow, unread_only=True, limit=10)
    assert [m.id for m in others] == [broadcast["id"]]
    assert services.inbox(OPERATOR, start_uow, unread_only=False, limit=10) == []

    to_operators = Message(
        uuid4(),
        Audience.OPERATORS,
        None,
        Template.REFERRAL_ESCALATED,
        Language.DA,
        "text",
        SourceEvent(uuid4(), "dk.brobygger.referrals.referral.escalated.v1"),
        READ_AT,
        referral_id=uuid4(),
    )
    with start_uow() as uow:
        uow.messages.add(to_operators)
        uow.commit()
    services.mark_read(to_operators.id, OPERATOR, start_uow)

    # Down again, the operators' message goes: it would read as a broadcast to partners.
    command.downgrade(config, "0002")
    with engine.connect() as connection:
        messages = connection.execute(select(MESSAGE_0002.c.id)).scalars().all()
        marks = connection.execute(select(MESSAGE_READ_0002)).mappings().all()
    assert set(messages) == {own["id"], broadcast["id"]}
    assert [dict(m) for m in marks] == [mark]


DELIVERY_0003 = table(
    "delivery",
    column("id", Uuid()),
    column("organization_id", Uuid()),
    column("channel", String()),
    column("status", String()),
    column("message_id", Uuid()),
    column("body", String()),
    column("source_event_id", Uuid()),
    column("source_event_type", String()),
    column("attempts", Integer()),
    column("created_at", UTCDateTime()),
)
MESSAGE_0003 = table(
    "message",
    *(column(c.name, c.type) for c in MESSAGE_0002.columns),
    column("audience", String()),
    column("referral_id", Uuid()),
)


def old_delivery(
    channel: str, message_id: object = None, body: str | None = None
) -> dict[str, object]:
    return {
        "id": uuid4(),
        "organization_id": ORG,
        "channel": channel,
        "status": "delivered" if channel == "inbox" else "pending",
        "message_id": message_id,
        "body": body,
        "source_event_id": uuid4(),
        "source_event_type": "dk.brobygger.test.v1",
        "attempts": 0,
        "created_at": READ_AT,
    }


def test_deliveries_from_before_revision_0004_are_found_by_the_referral_they_are_about(
    engine_for: Callable[[str], Engine],
) -> None:
    engine = engine_for("notifications")
    config = alembic_config(MIGRATIONS, engine)
    command.upgrade(config, "0003")
    referral_id = uuid4()
    about = {**old_message(ORG, "referral_offered", 1), "audience": "organization"}
    about["referral_id"] = referral_id
    pool = {**old_message(None, "pool_opened", 2), "audience": "partners", "referral_id": None}
    webhook_data = {"referral_id": str(referral_id), "organization_id": str(ORG)}
    deliveries = {
        "inbox about": old_delivery("inbox", about["id"]),
        "inbox pool": old_delivery("inbox", pool["id"]),
        "webhook about": old_delivery(
            "webhook", body=webhook_body("dk.brobygger.test.v1", READ_AT, webhook_data)
        ),
        "webhook pool": old_delivery(
            "webhook", body=webhook_body("dk.brobygger.test.v1", READ_AT, {"pool_id": "p"})
        ),
    }
    with engine.begin() as connection:
        connection.execute(insert(MESSAGE_0003), [about, pool])
        connection.execute(insert(DELIVERY_0003), list(deliveries.values()))

    command.upgrade(config, "head")
    factory = sessionmaker(engine, class_=Session, expire_on_commit=False)
    with NotificationsUnitOfWork(factory, "/brobygger/notifications") as uow:
        found = {name: uow.deliveries.get(d["id"]) for name, d in deliveries.items()}
    assert {name: d.referral_id for name, d in found.items() if d is not None} == {
        "inbox about": referral_id,
        "inbox pool": None,
        "webhook about": referral_id,
        "webhook pool": None,
    }

    command.downgrade(config, "0003")
    with engine.connect() as connection:
        kept = connection.execute(select(DELIVERY_0003.c.id)).scalars().all()
    assert set(kept) == {d["id"] for d in deliveries.values()}


DELIVERY_0006 = table(
    "delivery",
    *(column(c.name, c.type) for c in DELIVERY_0003.columns),
    column("referral_id", Uuid()),
    column("next_attempt_at", UTCDateTime()),
    column("last_error", String()),
    column("recorded_at", UTCDateTime()),
)
WEBHOOK_0005 = table(
    "webhook",
    column("organization_id", Uuid()),
    column("url", String()),
    column("secret", String()),
    column("registered_at", UTCDateTime()),
)
COLUMNS_0007 = {"recipient_key", "recipient_id", "webhook_id", "kind", "fields", "digest"}


def delivery_0006(channel: str, status: str, organization_id: UUID | None) -> dict[str, object]:
    """A delivery as revision 0006 stores it: to an organisation, or to every partner."""
    pending = status == "pending"
    return {
        **old_delivery(channel, body="{}" if channel == "webhook" else None),
        "organization_id": organization_id,
        "status": status,
        "referral_id": uuid4(),
        "attempts": 0 if channel == "inbox" else 1,
        "next_attempt_at": READ_AT if pending else None,
        "last_error": "HTTP 503" if pending else None,
        "recorded_at": None if pending else READ_AT,
    }


def id_of(row: dict[str, object]) -> UUID:
    assert isinstance(row["id"], UUID)
    return row["id"]


def deliveries_0006(engine: Engine) -> dict[object, dict[str, object]]:
    with engine.connect() as connection:
        rows = connection.execute(select(DELIVERY_0006)).mappings().all()
    return {row["id"]: dict(row) for row in rows}


def test_deliveries_from_before_revision_0007_keep_their_meaning_and_peoples_go_back_down(
    engine_for: Callable[[str], Engine],
) -> None:
    engine = engine_for("notifications")
    config = alembic_config(MIGRATIONS, engine)
    command.upgrade(config, "0006")
    before = {
        "inbox": delivery_0006("inbox", "delivered", ORG),
        "broadcast": delivery_0006("inbox", "delivered", None),
        "webhook delivered": delivery_0006("webhook", "delivered", ORG),
        "webhook failed": delivery_0006("webhook", "failed", ORG),
    }
    with engine.begin() as connection:
        connection.execute(insert(DELIVERY_0006), list(before.values()))

    command.upgrade(config, "head")
    start_uow = units_of_work(engine)
    with start_uow() as uow:
        found = {name: uow.deliveries.get(id_of(d)) for name, d in before.items()}
        key_of = dict(
            uow.session.execute(select(col(DeliveryRow.id), col(DeliveryRow.recipient_key)))
            .tuples()
            .all()
        )
    keys = {name: key_of[id_of(d)] for name, d in before.items()}
    for name, delivery in found.items():
        assert delivery is not None, name
        old = before[name]
        assert (delivery.organization_id, delivery.status.value, delivery.body) == (
            old["organization_id"],
            old["status"],
            old["body"],
        )
        assert (delivery.recipient_id, delivery.kind, delivery.digest) == (None, None, False)
    assert keys == {
        "inbox": f"organization:{ORG}",
        "broadcast": "all",
        "webhook delivered": f"organization:{ORG}",
        "webhook failed": f"organization:{ORG}",
    }
    # The key is the one the service computes: an event still reaches each recipient once.
    inbox = found["inbox"]
    assert inbox is not None
    again = Delivery(uuid4(), ORG, Channel.INBOX, inbox.source, READ_AT, DeliveryStatus.DELIVERED)
    with start_uow() as uow, pytest.raises(IntegrityError):
        uow.deliveries.add(again)  # refused as it is written: a Core insert
    email = Delivery.to_person(
        uuid4(),
        ORG,
        Channel.EMAIL,
        "offer_expired",
        {"referral_id": uuid4(), "expired": READ_AT},
        inbox.source,
        READ_AT,
        at=READ_AT,
    )
    with start_uow() as uow:
        uow.deliveries.add(email)
        uow.commit()

    # Down again, an e-mail or SMS goes: there was no channel for it.
    command.downgrade(config, "0006")
    assert not COLUMNS_0007 & {c["name"] for c in inspect(engine).get_columns("delivery")}
    assert deliveries_0006(engine) == {d["id"]: d for d in before.values()}
    command.upgrade(config, "head")
    with units_of_work(engine)() as uow:
        assert uow.deliveries.get(email.id) is None
        assert uow.deliveries.get(inbox.id) == inbox


def test_a_webhook_pending_before_revision_0007_is_still_sent_to_its_organisations_endpoint(
    engine_for: Callable[[str], Engine],
) -> None:
    engine = engine_for("notifications")
    config = alembic_config(MIGRATIONS, engine)
    command.upgrade(config, "0005")
    webhook = {
        "organization_id": ORG,
        "url": "https://partner.example/hook",
        "secret": new_secret(),
        "registered_at": READ_AT - timedelta(days=30),
    }
    pending = delivery_0006("webhook", "pending", ORG)
    with engine.begin() as connection:
        connection.execute(insert(WEBHOOK_0005), [webhook])
        connection.execute(insert(DELIVERY_0006), [pending])

    command.upgrade(config, "head")
    start_uow = units_of_work(engine)
    services.seal_legacy_secrets(start_uow, BOX)  # as at start-up
    [endpoint] = services.webhooks_of(Owner(organization_id=ORG), start_uow)

    [attempt] = claim_webhooks(start_uow, FakeClock(READ_AT))

    assert (attempt.delivery_id, attempt.webhook_id, attempt.url, attempt.body) == (
        pending["id"],
        endpoint.id,
        webhook["url"],
        pending["body"],
    )
    assert [BOX.open(s, endpoint.id) for s in attempt.sealed_secrets] == [webhook["secret"]]


async def test_down_below_revision_0007_no_webhook_waits_without_an_organisation_to_send_it_to(
    engine_for: Callable[[str], Engine],
) -> None:
    # Before 0007 a webhook was for an organisation: one for a care system would be sent to
    # nobody, and the dispatcher of then takes an organisation for granted.
    engine = engine_for("notifications")
    config = alembic_config(MIGRATIONS, engine)
    command.upgrade(config, "head")
    start_uow = units_of_work(engine)
    care = services.AddWebhook(Owner(care_system=CARE_SYSTEM), "https://care.example/hook")
    services.add_webhook(care, start_uow, BOX, allow_private_targets=False)
    record = record_of(referral_status_changed())
    assert await consume(start_uow, record, clock=FakeClock(READ_AT)) == []
    [waiting] = services.recent_deliveries(start_uow, status=DeliveryStatus.PENDING, limit=5)
    assert (waiting.channel, waiting.organization_id) == (Channel.WEBHOOK, None)

    command.downgrade(config, "0006")

    left = deliveries_0006(engine).values()
    assert [
        d["id"]
        for d in left
        if (d["channel"], d["status"], d["organization_id"]) == ("webhook", "pending", None)
    ] == []
