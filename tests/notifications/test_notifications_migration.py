"""Revision 0003 gives messages their audience and referral, and read marks their reader;
revision 0004 gives deliveries their referral: what was stored before keeps its meaning,
both ways."""

from collections.abc import Callable
from datetime import UTC, datetime
from uuid import uuid4

from alembic import command
from sqlalchemy import Engine, Integer, String, Uuid, column, insert, select, table
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from notifications import services
from notifications.app import MIGRATIONS
from notifications.domain import (
    Audience,
    Language,
    Message,
    OperatorReader,
    PartnerReader,
    SourceEvent,
    Template,
)
from notifications.store import NotificationsUnitOfWork
from notifications.webhooks import webhook_body
from runtime.migrations import alembic_config
from runtime.storage import UTCDateTime

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
