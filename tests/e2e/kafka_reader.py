"""Read what is on a topic, as any Kafka client would: no consumer group, from the start.
The tests' own clients log in as the super user `admin` (tests.kit.kafka_options)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from tests.kit import eventually, kafka_options


@dataclass(frozen=True)
class Record:
    topic: str
    key: str | None
    headers: dict[str, str]
    value: bytes

    @property
    def type(self) -> str:
        return self.headers.get("ce_type", "")

    @property
    def subject(self) -> str:
        return self.headers.get("ce_subject", "")

    def data(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.value)
        return loaded


async def partitions_of(kafka: str, topic: str) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka, **kafka_options())
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return [TopicPartition(topic, p["partition"]) for p in described["partitions"]]


def _record(message: Any) -> Record:
    return Record(
        topic=message.topic,
        key=message.key.decode() if message.key else None,
        headers={k: v.decode() for k, v in message.headers},
        value=message.value,
    )


async def _reader_from_start(
    kafka: str, topic: str
) -> tuple[AIOKafkaConsumer, list[TopicPartition]]:
    partitions = await partitions_of(kafka, topic)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka, enable_auto_commit=False, **kafka_options()
    )
    await consumer.start()
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    return consumer, partitions


async def records_on(kafka: str, topic: str) -> list[Record]:
    """Everything on `topic` now."""
    consumer, partitions = await _reader_from_start(kafka, topic)
    try:
        ends = await consumer.end_offsets(partitions)
        found: list[Record] = []
        while [p for p in partitions if await consumer.position(p) < ends[p]]:
            batch = await consumer.getmany(timeout_ms=1000)
            found += [_record(m) for messages in batch.values() for m in messages]
        return found
    finally:
        await consumer.stop()


async def produce(kafka: str, topic: str, record: Record) -> tuple[int, int]:
    """Put `record` on `topic` as it is (headers included); returns (partition, offset)."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka, **kafka_options())
    await producer.start()
    try:
        sent = await producer.send_and_wait(
            topic,
            record.value,
            key=record.key.encode() if record.key else None,
            headers=[(k, v.encode()) for k, v in record.headers.items()],
        )
        return sent.partition, sent.offset
    finally:
        await producer.stop()


async def wait_until_consumed(
    kafka: str, group: str, topic: str, partition: int, offset: int, timeout: float = 30
) -> None:
    """Wait until `group` has committed past `offset`: it has fully handled that message."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka, **kafka_options())
    await admin.start()

    async def past_it() -> bool:
        committed = (await admin.list_consumer_group_offsets(group)).get(
            TopicPartition(topic, partition)
        )
        return committed is not None and committed.offset > offset

    try:
        await eventually(past_it, f"{group} past {topic}/{partition}@{offset}", timeout)
    finally:
        await admin.close()


async def wait_for_records(
    kafka: str, topic: str, found: Callable[[list[Record]], bool], what: str, timeout: float = 60
) -> list[Record]:
    """Read `topic` from the start, and on as records arrive, until `found(records)`;
    returns those records. Each read waits for new records at the broker (long poll)."""
    consumer, _ = await _reader_from_start(kafka, topic)
    deadline = asyncio.get_running_loop().time() + timeout
    records: list[Record] = []
    try:
        while not found(records):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what} on {topic}")
            batch = await consumer.getmany(timeout_ms=500)
            records += [_record(m) for messages in batch.values() for m in messages]
        return records
    finally:
        await consumer.stop()
