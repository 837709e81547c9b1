"""The consumer plumbing on the real Kafka broker: dedupe, dead letters, commit after work."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream.kafka import KafkaBroker

from contracts import IntegrationEvent, ReferralSubmitted
from runtime.consumer import EventConsumer, Handler
from runtime.dead_letters import dead_letter_topic, list_dead_letters, redrive
from runtime.envelope import envelope
from runtime.storage import UnitOfWork
from tests.kit import eventually, kafka_login, kafka_options
from tests.runtime.plumbing import PlumbingStore, answer_with_no_match, plumbing_store, submitted

pytestmark = pytest.mark.infra


class Topics:
    """A fresh topic and dead-letter topic per test, so tests share no offsets."""

    def __init__(self, kafka: str) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.kafka = kafka
        self.events = f"test.events-{suffix}.v1"
        self.service = f"test{suffix}"
        self.dead_letters = dead_letter_topic(self.service)
        self.group = f"test-{suffix}"

        class Submitted(ReferralSubmitted):
            topic = self.events

        self.contract: type[IntegrationEvent] = Submitted

    async def create(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.kafka, **kafka_options())
        await admin.start()
        try:
            await admin.create_topics(
                [NewTopic(name, 1, 1) for name in (self.events, self.dead_letters)]
            )
        finally:
            await admin.close()


@pytest.fixture
async def topics(kafka: str) -> Topics:
    created = Topics(kafka)
    await created.create()
    return created


@pytest.fixture
async def producer(kafka: str) -> AsyncIterator[AIOKafkaProducer]:
    plain = AIOKafkaProducer(bootstrap_servers=kafka, enable_idempotence=True, **kafka_options())
    await plain.start()
    yield plain
    await plain.stop()


async def send(
    producer: AIOKafkaProducer, topic: str, value: bytes, headers: dict[str, str], key: bytes
) -> None:
    await producer.send_and_wait(
        topic, value, key=key, headers=[(k, v.encode()) for k, v in headers.items()]
    )


async def send_event(
    producer: AIOKafkaProducer, topics: Topics, event: ReferralSubmitted, times: int = 1
) -> None:
    message = envelope(event, event.source())
    for _ in range(times):  # the same ce_id each time: a redelivery
        await send(producer, topics.events, message.value, message.headers, message.key.encode())


async def start_consumer(
    topics: Topics, store: PlumbingStore, handler: Handler, max_attempts: int = 3
) -> KafkaBroker:
    broker = KafkaBroker(topics.kafka, security=kafka_login().faststream_security())

    async def publish_raw(
        topic: str, key: bytes | None, value: bytes, headers: dict[str, str]
    ) -> None:
        await broker.publish(value, topic=topic, key=key, headers=headers)

    EventConsumer(
        group_id=topics.group,
        handlers={topics.contract: handler},
        uow_factory=store.start_uow,
        dead_letter_topic=topics.dead_letters,
        publish_raw=publish_raw,
        max_attempts=max_attempts,
        backoff_seconds=0.05,
    ).attach(broker)
    await broker.start()
    return broker


async def read_all(kafka: str, topic: str, expected: int) -> list[Any]:
    reader = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka, auto_offset_reset="earliest", **kafka_options()
    )
    await reader.start()
    records: list[Any] = []
    try:
        deadline = time.monotonic() + 20
        while len(records) < expected and time.monotonic() < deadline:
            batch = await reader.getmany(timeout_ms=500)
            for partition_records in batch.values():
                records.extend(partition_records)
    finally:
        await reader.stop()
    return records


async def test_a_redelivered_event_changes_nothing(
    topics: Topics, producer: AIOKafkaProducer, tmp_path: Path
) -> None:
    store = plumbing_store(tmp_path)
    handled: list[uuid.UUID] = []

    def handler(event: ReferralSubmitted, uow: UnitOfWork) -> None:
        handled.append(event.referral_id)
        answer_with_no_match(event, uow)

    broker = await start_consumer(topics, store, handler)
    redelivered, marker = submitted(), submitted()
    try:
        await send_event(producer, topics, redelivered, times=3)
        # One partition: once the marker is handled, every copy before it has been seen.
        await send_event(producer, topics, marker)
        # The handler runs before its commit: wait for the marker's transaction.
        await eventually(lambda: store.counts() == (2, 2))
        assert handled == [redelivered.referral_id, marker.referral_id]
    finally:
        await broker.stop()


async def test_a_malformed_message_is_dead_lettered_and_the_next_one_is_processed(
    topics: Topics, producer: AIOKafkaProducer, tmp_path: Path
) -> None:
    store = plumbing_store(tmp_path)
    broker = await start_consumer(topics, store, answer_with_no_match)
    good = envelope(submitted(), submitted().source())
    try:
        await send(producer, topics.events, b"{not json", good.headers | {"ce_id": "bad-1"}, b"k")
        await send(producer, topics.events, b"{}", {"content-type": "application/json"}, b"k")
        await producer.send_and_wait(
            topics.events, b"{}", key=b"k", headers=[("ce_id", b"\xff\xfe"), ("ce_type", None)]
        )
        await send_event(producer, topics, submitted())
        await eventually(lambda: store.counts() == (1, 1))
    finally:
        await broker.stop()
    dead = await read_all(topics.kafka, topics.dead_letters, expected=3)
    assert [record.value for record in dead] == [b"{not json", b"{}", b"{}"]
    reasons = [dict(record.headers) for record in dead]
    assert b"does not match" in reasons[0]["dlq_reason"]
    assert b"not a CloudEvent" in reasons[1]["dlq_reason"]
    assert b"not a CloudEvent" in reasons[2]["dlq_reason"], "undecodable headers are not skipped"
    assert reasons[0]["dlq_original_topic"] == topics.events.encode()
    assert reasons[0]["dlq_original_offset"] == b"0"
    assert reasons[0]["ce_id"] == b"bad-1"


async def test_an_event_whose_handler_keeps_failing_is_dead_lettered_after_capped_attempts(
    topics: Topics, producer: AIOKafkaProducer, tmp_path: Path
) -> None:
    store = plumbing_store(tmp_path)
    poison = submitted()
    attempts: list[uuid.UUID] = []

    def handler(event: ReferralSubmitted, uow: UnitOfWork) -> None:
        if event.referral_id == poison.referral_id:
            attempts.append(event.referral_id)
            raise RuntimeError("cannot handle this one")
        answer_with_no_match(event, uow)

    broker = await start_consumer(topics, store, handler, max_attempts=3)
    try:
        await send_event(producer, topics, poison)
        await send_event(producer, topics, submitted())
        await eventually(lambda: store.counts() == (1, 1))
    finally:
        await broker.stop()
    assert len(attempts) == 3
    [dead] = await read_all(topics.kafka, topics.dead_letters, expected=1)
    headers = dict(dead.headers)
    assert headers["dlq_attempts"] == b"3"
    assert b"cannot handle this one" in headers["dlq_reason"]


async def test_the_offset_is_committed_only_after_the_handlers_transaction(
    topics: Topics, producer: AIOKafkaProducer, tmp_path: Path
) -> None:
    store = plumbing_store(tmp_path)
    has_the_message = threading.Event()
    release = threading.Event()

    def slow_handler(event: ReferralSubmitted, uow: UnitOfWork) -> None:
        has_the_message.set()
        release.wait(timeout=30)
        answer_with_no_match(event, uow)

    broker = await start_consumer(topics, store, slow_handler)
    try:
        await send_event(producer, topics, submitted())
        assert await asyncio.to_thread(has_the_message.wait, 30), "the handler never ran"
        assert await committed_offset(topics) in (None, -1)
        release.set()
        await eventually(lambda: store.counts() == (1, 1))
        await eventually(lambda: _equals(committed_offset(topics), 1))
    finally:
        release.set()
        await broker.stop()


async def test_a_batchs_offsets_are_committed_only_after_every_record_in_it_was_handled(
    topics: Topics, producer: AIOKafkaProducer, tmp_path: Path
) -> None:
    store = plumbing_store(tmp_path)
    first, second, third = submitted(), submitted(), submitted()
    at_the_third = threading.Event()
    release = threading.Event()

    def handler(event: ReferralSubmitted, uow: UnitOfWork) -> None:
        if event.referral_id == third.referral_id:
            at_the_third.set()
            release.wait(timeout=30)
        answer_with_no_match(event, uow)

    for event in (first, second, third):  # there before the consumer: one batch
        await send_event(producer, topics, event)
    broker = await start_consumer(topics, store, handler)
    try:
        assert await asyncio.to_thread(at_the_third.wait, 30), "the third never arrived"
        assert store.counts() == (2, 2), "the first two are processed and committed"
        assert await committed_offset(topics) in (None, -1)
        release.set()
        await eventually(lambda: _equals(committed_offset(topics), 3))
        assert store.counts() == (3, 3)
    finally:
        release.set()
        await broker.stop()


async def committed_offset(topics: Topics) -> int | None:
    """The consumer group's committed offset on the events' one partition, if any."""
    admin = AIOKafkaAdminClient(bootstrap_servers=topics.kafka, **kafka_options())
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(topics.group)
    finally:
        await admin.close()
    found = offsets.get(TopicPartition(topics.events, 0))
    return found.offset if found else None


async def _equals(value: Awaitable[int | None], expected: int) -> bool:
    return await value == expected


async def test_a_dead_letter_is_redriven_once_after_the_cause_is_fixed(
    topics: Topics, producer: AIOKafkaProducer, tmp_path: Path
) -> None:
    store = plumbing_store(tmp_path)
    broken = True

    def handler(event: ReferralSubmitted, uow: UnitOfWork) -> None:
        if broken:
            raise RuntimeError("the district table is missing")
        answer_with_no_match(event, uow)

    broker = await start_consumer(topics, store, handler, max_attempts=1)
    try:
        await send_event(producer, topics, submitted())
        letters: list[Any] = []

        async def dead_lettered() -> bool:
            letters[:] = await list_dead_letters(topics.kafka, kafka_login(), topics.service)
            return len(letters) == 1

        await eventually(dead_lettered)
        assert "the district table is missing" in letters[0].summary()
        assert store.counts() == (0, 0)

        broken = False
        assert len(await redrive(topics.kafka, kafka_login(), topics.service)) == 1
        await eventually(lambda: store.counts() == (1, 1))
        assert await redrive(topics.kafka, kafka_login(), topics.service) == []
    finally:
        await broker.stop()
    assert store.counts() == (1, 1)


async def test_a_replica_joining_in_the_middle_of_a_batch_loses_nothing_and_repeats_nothing(
    topics: Topics, producer: AIOKafkaProducer, tmp_path: Path
) -> None:
    store = plumbing_store(tmp_path)
    events = [submitted() for _ in range(6)]
    in_the_middle = threading.Event()
    release = threading.Event()

    def handler(event: ReferralSubmitted, uow: UnitOfWork) -> None:
        if event.referral_id == events[3].referral_id and not in_the_middle.is_set():
            in_the_middle.set()  # three handled and committed, three to go, none acknowledged
            release.wait(timeout=30)
        answer_with_no_match(event, uow)

    for event in events:  # there before the consumer: one batch
        await send_event(producer, topics, event)
    first = await start_consumer(topics, store, handler)
    second: KafkaBroker | None = None
    try:
        assert await asyncio.to_thread(in_the_middle.wait, 30), "the batch never arrived"
        second = await start_consumer(topics, store, handler)  # the group rebalances
        release.set()
        await eventually(lambda: _equals(committed_offset(topics), 6), timeout=60)
        # Whichever replica got the partition, each event was handled once: an inbox row
        # and one outbox row each, however often a record was delivered.
        assert store.counts() == (6, 6)
    finally:
        release.set()
        await first.stop()
        if second is not None:
            await second.stop()
    assert store.counts() == (6, 6)
