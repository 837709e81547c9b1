"""Read what is on a topic, as any Kafka client would: no consumer group, from the start."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


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
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return [TopicPartition(topic, p["partition"]) for p in described["partitions"]]


async def records_on(kafka: str, topic: str) -> list[Record]:
    partitions = await partitions_of(kafka, topic)
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[Record] = []
        while [p for p in partitions if await consumer.position(p) < ends[p]]:
            batch = await consumer.getmany(timeout_ms=1000)
            for messages in batch.values():
                found += [
                    Record(
                        topic=m.topic,
                        key=m.key.decode() if m.key else None,
                        headers={k: v.decode() for k, v in m.headers},
                        value=m.value,
                    )
                    for m in messages
                ]
        return found
    finally:
        await consumer.stop()


async def produce(kafka: str, topic: str, record: Record) -> tuple[int, int]:
    """Put `record` on `topic` as it is (headers included); returns (partition, offset)."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka)
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
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            offsets = await admin.list_consumer_group_offsets(group)
            committed = offsets.get(TopicPartition(topic, partition))
            if committed is not None and committed.offset > offset:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{group} did not get past {topic}/{partition}@{offset}")
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


async def wait_for_records(
    kafka: str, topic: str, found: Callable[[list[Record]], bool], what: str, timeout: float = 60
) -> list[Record]:
    """Read `topic` again until `found(records)`; returns those records."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        records = await records_on(kafka, topic)
        if found(records):
            return records
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} on {topic}")
        await asyncio.sleep(0.2)
