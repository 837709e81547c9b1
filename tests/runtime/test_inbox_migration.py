"""Revision 0002 of every service keys the inbox by source and id and lets the relay set
outbox rows aside; the ids processed before it keep deduplicating."""

import importlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from alembic import command
from sqlalchemy import Engine, String, column, insert, select, table

from runtime.migrations import alembic_config
from runtime.storage import UTCDateTime, inbox, inbox_key
from tools import SERVICES

OLD_INBOX = table(
    "inbox",
    column("event_id", String()),
    column("event_type", String()),
    column("processed_at", UTCDateTime()),
)


def module(service: str, name: str) -> Any:
    return importlib.import_module(f"{service}.{name}")


def processed(engine: Engine, source: str, event_id: str) -> bool:
    with engine.connect() as connection:
        key = inbox_key(source, event_id)
        return (
            connection.scalar(select(inbox.c.event_key).where(inbox.c.event_key == key)) is not None
        )


@pytest.mark.parametrize("service", SERVICES)
def test_ids_processed_before_the_revision_are_still_recognised_after_it(
    service: str, engine_for: Callable[[str], Engine]
) -> None:
    engine = engine_for(service)
    config = alembic_config(Path(module(service, "app").MIGRATIONS), engine)
    command.upgrade(config, "0001")
    before = str(uuid4())
    with engine.begin() as connection:
        connection.execute(
            insert(OLD_INBOX).values(
                event_id=before,
                event_type="dk.brobygger.directory.match.found.v1",
                processed_at=datetime(2026, 11, 22, 12, 0, tzinfo=UTC),
            )
        )

    command.upgrade(config, "head")
    assert processed(engine, "/brobygger/directory", before)
    assert not processed(engine, "/brobygger/grants", before), "an id is unique per source"
    # What autogenerate would write, against every table the service's migrations hold.
    command.check(config)  # raises when the models and the revisions disagree

    command.downgrade(config, "0001")
    with engine.connect() as connection:
        assert connection.execute(select(OLD_INBOX.c.event_id)).scalars().all() == [before]
    command.upgrade(config, "head")
    with engine.connect() as connection:
        assert connection.execute(select(inbox.c.event_id)).scalars().all() == [before]
