"""Outbox and inbox stay bounded: old published events and old processed ids are pruned."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from runtime.storage import inbox, inbox_key, outbox, plumbing_metadata, prune_plumbing

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def outbox_row(event_id: str, published_at: datetime | None) -> dict[str, object]:
    return {
        "event_id": event_id,
        "topic": "t",
        "key": "k",
        "headers": {},
        "value": b"{}",
        "created_at": NOW - timedelta(days=60),
        "published_at": published_at,
        "attempts": 0,
    }


def inbox_row(event_id: str, processed_at: datetime) -> dict[str, object]:
    return {
        "event_key": inbox_key("/brobygger/test", event_id),
        "event_source": "/brobygger/test",
        "event_id": event_id,
        "event_type": "x",
        "processed_at": processed_at,
    }


def test_only_old_published_events_and_old_processed_ids_are_pruned(
    engine_for: Callable[[str], Engine],
) -> None:
    engine = engine_for("referrals")
    plumbing_metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(
            insert(outbox),
            [
                outbox_row("old-published", NOW - timedelta(days=8)),
                outbox_row("new-published", NOW - timedelta(days=6)),
                outbox_row("never-published", None),
            ],
        )
        connection.execute(
            insert(inbox),
            [
                inbox_row("old", processed_at=NOW - timedelta(days=31)),
                inbox_row("new", processed_at=NOW - timedelta(days=29)),
            ],
        )
    factory = sessionmaker(engine, class_=Session, expire_on_commit=False)
    pruned = prune_plumbing(
        factory, now=NOW, keep_published=timedelta(days=7), keep_processed=timedelta(days=30)
    )
    assert pruned == (1, 1)
    with engine.connect() as connection:
        left_out = set(connection.execute(select(outbox.c.event_id)).scalars())
        left_in = set(connection.execute(select(inbox.c.event_id)).scalars())
    assert left_out == {"new-published", "never-published"}
    assert left_in == {"new"}
