"""The outbox relay publishes in order, marks only what the broker acknowledged, and retries."""

from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from runtime.envelope import OutgoingMessage
from runtime.relay import OutboxRelay
from runtime.storage import outbox
from tests.runtime.plumbing import plumbing_store, submitted


class FlakyBroker:
    def __init__(self, fail_at: int | None = None) -> None:
        self.sent: list[OutgoingMessage] = []
        self.fail_at = fail_at

    async def publish(self, message: OutgoingMessage) -> None:
        if self.fail_at is not None and len(self.sent) == self.fail_at:
            self.fail_at = None
            raise ConnectionError("broker unavailable")
        self.sent.append(message)


def queue(tmp_path: Path, n: int) -> tuple[Engine, OutboxRelay, FlakyBroker, list[str]]:
    store = plumbing_store(tmp_path)
    ids = []
    for _ in range(n):
        with store.start_uow() as uow:
            event = submitted()
            uow.publish(event)
            uow.commit()
            ids.append(str(event.referral_id))
    broker = FlakyBroker()
    relay = OutboxRelay(store.session_factory, broker.publish, batch_size=10)
    return store.engine, relay, broker, ids


async def test_committed_events_are_published_in_commit_order_and_marked(tmp_path: Path) -> None:
    engine, relay, broker, ids = queue(tmp_path, 3)
    assert await relay.publish_pending()
    assert [m.key for m in broker.sent] == ids
    with engine.connect() as connection:
        published = connection.execute(select(outbox.c.published_at)).scalars().all()
    assert all(published)
    assert await relay.publish_pending()
    assert len(broker.sent) == 3, "published rows are not sent again"


async def test_a_broker_failure_keeps_the_rest_unmarked_and_in_order_for_the_retry(
    tmp_path: Path,
) -> None:
    engine, relay, broker, ids = queue(tmp_path, 3)
    broker.fail_at = 1
    with pytest.raises(ConnectionError):
        await relay.publish_pending()
    with engine.connect() as connection:
        rows = connection.execute(
            select(outbox.c.key, outbox.c.published_at, outbox.c.attempts).order_by(outbox.c.seq)
        ).all()
    assert [(r.published_at is not None, r.attempts) for r in rows] == [
        (True, 0),
        (False, 1),
        (False, 0),
    ]
    await relay.publish_pending()
    assert [m.key for m in broker.sent] == ids
