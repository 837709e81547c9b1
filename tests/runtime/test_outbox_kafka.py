"""The outbox relay on a real broker: rows that can never go out (no such topic, larger
than the topic accepts) are set aside after capped attempts while the other aggregates go
out; their aggregate's later events wait for the operator's retry; and a broker that is
down is nobody's fault."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream.kafka import KafkaBroker
from sqlalchemy import Engine, select

from contracts import ReferralSubmitted
from contracts.partners import partner_of, partner_topic
from runtime.cli import main
from runtime.envelope import OutgoingMessage
from runtime.partner_access import PartnerAccess
from runtime.relay import OutboxRelay
from runtime.storage import outbox
from tests.conftest import TEST_KAFKA_PORT, control_test_broker, script_broker
from tests.kit import eventually, kafka_login, kafka_options
from tests.runtime.plumbing import (
    PlumbingStore,
    plumbing_store,
    plumbing_store_on,
    submitted,
    travelling_on,
)

pytestmark = pytest.mark.infra

MAX_ATTEMPTS = 2
REQUEST_TIMEOUT_MS = 2000
"""How long the producer waits for a topic's metadata (40 s by default), kept short here."""
TOPIC_LIMIT_BYTES = 1024


def unique(name: str) -> str:
    return f"test.{name}-{uuid.uuid4().hex[:8]}.v1"


async def create_topics(kafka: str, *topics: str, limit: str | None = None) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka, **kafka_options())
    await admin.start()
    try:
        configs = {"max.message.bytes": limit} if limit else {}
        await admin.create_topics([NewTopic(t, 1, 1, topic_configs=configs) for t in topics])
    finally:
        await admin.close()


class Publisher:
    """The relay's side of Kafka, as a service has it: FastStream's producer and probe."""

    def __init__(self, kafka: str, principal: str = "admin") -> None:
        self.broker = KafkaBroker(
            kafka,
            enable_idempotence=True,
            request_timeout_ms=REQUEST_TIMEOUT_MS,
            security=kafka_login(principal).faststream_security(),
        )
        self.failures: dict[str, list[str]] = {}  # key -> error classes, in order

    async def publish(self, message: OutgoingMessage) -> Awaitable[object]:
        """Hands `message` over without waiting for the broker, as the service does."""
        try:
            acknowledged = await self.broker.publish(
                message.value,
                topic=message.topic,
                key=message.key.encode(),
                headers=message.headers,
                no_confirm=True,
            )
        except Exception as error:
            self._failed(message, error)
            raise
        return self._acknowledgement(message, acknowledged)

    async def _acknowledgement(self, message: OutgoingMessage, sent: Awaitable[object]) -> object:
        try:
            return await sent
        except Exception as error:
            self._failed(message, error)
            raise

    def _failed(self, message: OutgoingMessage, error: Exception) -> None:
        self.failures.setdefault(message.key, []).append(type(error).__name__)

    async def reachable(self) -> bool:
        return bool(await self.broker.ping(timeout=1.0))


@asynccontextmanager
async def relaying(
    store: PlumbingStore,
    kafka: str,
    principal: str = "admin",
    discardable: Callable[[str], bool] = lambda _topic: False,
) -> AsyncIterator[Publisher]:
    """A relay publishing `store`'s outbox to `kafka` as `principal` for the length of the
    block."""
    publisher = Publisher(kafka, principal)
    await publisher.broker.start()
    relay = OutboxRelay(
        store.session_factory,
        publisher.publish,
        broker_reachable=publisher.reachable,
        max_attempts=MAX_ATTEMPTS,
        poll_seconds=0.05,
        first_backoff_seconds=0.05,
        max_backoff_seconds=0.5,
        discardable=discardable,
    )
    running = asyncio.create_task(relay.run())
    try:
        yield publisher
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        # The producer flushes what it holds before it stops: not while the broker is
        # away, when a failed test leaves here.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(15):
                await publisher.broker.stop()


def row_of(store: PlumbingStore, event: ReferralSubmitted, nth: int = 0) -> Any:
    with store.engine.connect() as connection:
        return connection.execute(
            select(outbox)
            .where(outbox.c.key == str(event.referral_id), outbox.c.topic == event.topic)
            .order_by(outbox.c.seq)
        ).all()[nth]


def published(store: PlumbingStore, *events: ReferralSubmitted) -> bool:
    return all(row_of(store, event).published_at is not None for event in events)


def set_aside(store: PlumbingStore, *events: ReferralSubmitted) -> bool:
    return all(row_of(store, event).failed_at is not None for event in events)


async def event_ids_on(kafka: str, topic: str, expected: int) -> list[str]:
    reader = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka, auto_offset_reset="earliest", **kafka_options()
    )
    await reader.start()
    ids: list[str] = []
    try:
        deadline = time.monotonic() + 20
        while len(ids) < expected and time.monotonic() < deadline:
            for records in (await reader.getmany(timeout_ms=500)).values():
                ids += [dict(record.headers)["ce_id"].decode() for record in records]
    finally:
        await reader.stop()
    return ids


@pytest.fixture
def store(engine_for: Callable[[str], Engine]) -> PlumbingStore:
    return plumbing_store_on(engine_for("referrals"))


async def test_rows_that_can_never_go_out_are_set_aside_while_other_aggregates_go_out(
    kafka: str, store: PlumbingStore
) -> None:
    good, small, missing = unique("good"), unique("small"), unique("missing")
    await create_topics(kafka, good)
    await create_topics(kafka, small, limit=str(TOPIC_LIMIT_BYTES))
    no_topic = submitted(contract=travelling_on(missing))
    too_big = submitted(contract=travelling_on(small), interests=["walking"] * 200)
    assert len(too_big.model_dump_json()) > TOPIC_LIMIT_BYTES
    others = [submitted(contract=travelling_on(good)) for _ in range(2)]
    store.commit_events(no_topic, too_big, *others)

    async with relaying(store, kafka):
        await eventually(lambda: published(store, *others))
        assert row_of(store, no_topic).attempts == 0, "still on its first try: no stall"
        await eventually(lambda: set_aside(store, no_topic, too_big))

    for event, error in [(no_topic, "UnknownTopicOrPartition"), (too_big, "MessageSizeTooLarge")]:
        row = row_of(store, event)
        assert (row.attempts, row.published_at) == (MAX_ATTEMPTS, None)
        assert error in row.last_error
    assert await event_ids_on(kafka, good, 2) == [row_of(store, e).event_id for e in others]


async def test_a_record_larger_than_the_broker_takes_is_refused_at_its_hand_off_before_later_rows(
    kafka: str, store: PlumbingStore
) -> None:
    # A lane hands its rows over before the earlier ones are acknowledged: were a record
    # too large for the broker taken by the producer and refused only by the broker, the
    # row behind it would go out first. The producer's own limit is below the broker's.
    topic = unique("broker-limits")
    await create_topics(kafka, topic)  # the broker's limits, as infra leaves them
    contract = travelling_on(topic)
    before = submitted(contract=contract)
    huge = submitted(before.referral_id, contract=contract, interests=["walking"] * 120_000)
    after = submitted(before.referral_id, contract=contract)
    assert len(huge.model_dump_json()) > 1024 * 1024 + 12  # the broker's message.max.bytes
    store.commit_events(before, huge, after)

    async with relaying(store, kafka) as publisher:
        await eventually(lambda: row_of(store, huge, nth=1).failed_at is not None)

    first, refused, behind = (row_of(store, before, nth=n) for n in range(3))
    assert first.published_at is not None
    assert "MessageSizeTooLarge" in refused.last_error
    assert (behind.published_at, behind.attempts) == (None, 0), "never ahead of the refused row"
    refusals = publisher.failures[str(before.referral_id)]
    assert refusals == ["MessageSizeTooLargeError"] * MAX_ATTEMPTS
    assert await event_ids_on(kafka, topic, 1) == [first.event_id]


async def test_a_later_event_of_a_set_aside_aggregate_waits_for_the_operators_retry(
    kafka: str,
    store: PlumbingStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    topic, good = unique("late"), unique("good")
    await create_topics(kafka, good)
    contract = travelling_on(topic)
    first = submitted(contract=contract)
    second = submitted(first.referral_id, contract=contract)
    other = submitted(contract=travelling_on(good))
    store.commit_events(first, second, other)
    monkeypatch.setenv(
        "REFERRALS_DATABASE_URL", store.engine.url.render_as_string(hide_password=False)
    )

    async with relaying(store, kafka):
        await eventually(lambda: set_aside(store, first) and published(store, other))
        later = row_of(store, second, nth=1)
        assert (later.attempts, later.published_at, later.failed_at) == (0, None, None)

        await create_topics(kafka, topic)  # the operator fixes the cause
        main(["outbox", "retry", "referrals"])
        assert "1 outbox row(s) of referrals put back" in capsys.readouterr().err
        await eventually(lambda: row_of(store, second, nth=1).published_at is not None)

    in_order = [row_of(store, first).event_id, row_of(store, second, nth=1).event_id]
    assert await event_ids_on(kafka, topic, 2) == in_order


@pytest.fixture
def own_broker() -> Iterator[str]:
    """A broker of this test's own, which it may stop and start again."""
    with script_broker(TEST_KAFKA_PORT + 2) as bootstrap:
        yield bootstrap


async def test_a_broker_outage_charges_no_row_and_all_goes_out_once_it_is_back(
    own_broker: str, tmp_path: Path
) -> None:
    store = plumbing_store(tmp_path)
    known, fresh = unique("known"), unique("fresh")
    await create_topics(own_broker, known)
    before = submitted(contract=travelling_on(known))
    store.commit_events(before)

    async with relaying(store, own_broker) as publisher:
        await eventually(lambda: published(store, before))
        # The producer cached the topics there were when it connected; not this one.
        await create_topics(own_broker, fresh)
        control_test_broker("stop", TEST_KAFKA_PORT + 2)
        during = [submitted(contract=travelling_on(t)) for t in (known, fresh)]
        store.commit_events(*during)
        # A record for a cached topic waits in the producer until the broker is back. For
        # a topic not cached, the producer gives up after REQUEST_TIMEOUT_MS with the
        # error of a topic that does not exist: only the probe tells the two apart.
        fresh_key = str(during[1].referral_id)
        await eventually(lambda: len(publisher.failures.get(fresh_key, [])) > MAX_ATTEMPTS)
        assert set(publisher.failures[fresh_key]) == {"UnknownTopicOrPartitionError"}
        assert not any(set_aside(store, event) for event in during)
        control_test_broker("start", TEST_KAFKA_PORT + 2)
        await eventually(lambda: published(store, *during))

    for event in during:
        row = row_of(store, event)
        assert (row.attempts, row.failed_at, row.last_error) == (0, None, None)


async def test_what_waits_for_a_partners_topic_no_longer_ours_is_dropped_and_the_rest_goes_out(
    kafka: str, store: PlumbingStore
) -> None:
    organization = uuid.uuid4()
    access = PartnerAccess(kafka, kafka_login())
    access.grant(organization)
    for_partner = travelling_on(partner_topic(organization))
    own = travelling_on("notifications.delivery.v2")  # notifications may write it
    while_granted = submitted(contract=for_partner)
    store.commit_events(while_granted)
    async with relaying(store, kafka, "notifications", lambda t: partner_of(t) is not None):
        await eventually(lambda: published(store, while_granted))
        access.revoke(organization)
        after_revoking, others = submitted(contract=for_partner), submitted(contract=own)
        store.commit_events(after_revoking, others)
        await eventually(lambda: published(store, after_revoking, others))

    dropped = row_of(store, after_revoking)
    assert dropped.last_error.startswith("discarded: ")
    assert "TopicAuthorizationFailed" in dropped.last_error
    assert (dropped.attempts, dropped.failed_at) == (0, None)
    assert await event_ids_on(kafka, partner_topic(organization), 1) == [
        row_of(store, while_granted).event_id
    ]
