"""The benchmark on Kafka, logged in as the super user `admin`: the observer that reads
each referral's events as they are published, the raw aiokafka produce and consume rates
on a scratch topic, and waiting until every service's consumer group has caught up."""

from __future__ import annotations

import asyncio
import time
import tomllib
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from benchmarks.openloop import Clock, Seen
from contracts.referrals import TOPIC as REFERRALS_TOPIC
from runtime.kafka_security import KafkaLogin

ACLS_FILE = Path(__file__).resolve().parent.parent / "infra" / "acls.toml"
SCRATCH_PARTITIONS = 3
"""As many as the services' topics have (infra/topics.toml)."""


class Observer:
    """Reads the referrals topic from its end on, as any Kafka client would (no consumer
    group), and keeps each referral's events (type, `ce_id`, when read) by referral id."""

    def __init__(self, bootstrap: str, login: KafkaLogin, clock: Clock = time.perf_counter):
        self.seen: defaultdict[str, list[Seen]] = defaultdict(list)
        self._clock = clock
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, **login.aiokafka_options()
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self, admin: AIOKafkaAdminClient) -> None:
        partitions = await partitions_of(admin, [REFERRALS_TOPIC])
        await self._consumer.start()
        self._consumer.assign(partitions)
        await self._consumer.seek_to_end(*partitions)
        for partition in partitions:  # the end resolved now, not at the first fetch
            await self._consumer.position(partition)
        self._task = asyncio.create_task(self._read(), name="observer")

    async def _read(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=200)
            now = self._clock()
            for records in batch.values():
                for record in records:
                    headers = {k: v.decode() for k, v in record.headers}
                    self.seen[record.key.decode()].append(
                        Seen(headers.get("ce_type", ""), headers.get("ce_id", ""), now)
                    )

    def first(self, event_type: str, referral_ids: Collection[str]) -> dict[str, float]:
        """When each of `referral_ids` was first seen with an `event_type` event."""
        found = {}
        for referral_id in referral_ids:
            times = [e.at for e in self.seen.get(referral_id, ()) if e.type == event_type]
            if times:
                found[referral_id] = min(times)
        return found

    async def wait_for(self, event_type: str, referral_ids: Collection[str], until: float) -> None:
        """Until each referral has an `event_type` event, or the clock passes `until`."""
        while self._clock() < until:
            if self._task is not None and self._task.done():
                self._task.result()  # the reader failed: say why
            if len(self.first(event_type, referral_ids)) == len(referral_ids):
                return
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()


async def partitions_of(admin: AIOKafkaAdminClient, topics: list[str]) -> list[TopicPartition]:
    """Every partition of `topics`, as the broker describes them."""
    found = [
        TopicPartition(described["topic"], partition["partition"])
        for described in await admin.describe_topics(topics)
        for partition in described["partitions"]
    ]
    missing = set(topics) - {p.topic for p in found}
    if missing:
        raise RuntimeError(f"the broker has no topic {', '.join(sorted(missing))}")
    return found


@dataclass(frozen=True)
class RawRates:
    messages: int
    size: int
    produce: float
    """Messages per second, acks=all and idempotent, as fast as one producer sends."""
    consume: float
    """Messages per second read back by one consumer."""


async def raw_rates(bootstrap: str, login: KafkaLogin, messages: int, size: int = 300) -> RawRates:
    """Produce `messages` records of `size` bytes (keyed like the services' events) to a
    scratch topic as fast as one plain aiokafka producer does, read them back with one
    consumer, and delete the topic."""
    options = login.aiokafka_options()
    topic = f"bench.scratch.{uuid4().hex[:12]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **options)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, SCRATCH_PARTITIONS, 1)])
        try:
            produce = await _produce(bootstrap, options, topic, messages, size)
            partitions = [TopicPartition(topic, n) for n in range(SCRATCH_PARTITIONS)]
            consume = await _consume(bootstrap, options, partitions, messages + 1)
        finally:
            await admin.delete_topics([topic])
    finally:
        await admin.close()
    return RawRates(messages, size, produce, consume)


async def _produce(
    bootstrap: str, options: dict[str, Any], topic: str, messages: int, size: int
) -> float:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **options
    )
    await producer.start()
    try:
        value = b"x" * size
        keys = [str(uuid4()).encode() for _ in range(messages)]
        await producer.send_and_wait(topic, value, key=keys[0])  # metadata, untimed
        started = time.perf_counter()
        # `send` waits only while the producer's buffer is full; the records go out in
        # batches as the broker acknowledges the ones before.
        futures = [await producer.send(topic, value, key=key) for key in keys]
        await asyncio.gather(*futures)
        return messages / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def _consume(
    bootstrap: str, options: dict[str, Any], partitions: list[TopicPartition], messages: int
) -> float:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **options)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        read = 0
        started = time.perf_counter()
        while read < messages:
            batch = await consumer.getmany(timeout_ms=1000)
            read += sum(len(records) for records in batch.values())
        return messages / (time.perf_counter() - started)
    finally:
        await consumer.stop()


def consumer_groups(acls_file: Path = ACLS_FILE) -> dict[str, list[str]]:
    """Each service's consumer group and the topics it reads (infra/acls.toml)."""
    principals = tomllib.loads(acls_file.read_text())["principal"]
    return {p["group"]: list(p.get("read", [])) for p in principals.values() if "group" in p}


class Lag:
    """How far the services' consumer groups are behind their topics; its clients (and
    `admin`, which the caller started) stay connected, so that asking often costs the
    broker little."""

    def __init__(self, bootstrap: str, login: KafkaLogin, admin: AIOKafkaAdminClient) -> None:
        self._groups = consumer_groups()
        self._admin = admin
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, **login.aiokafka_options()
        )
        self._partitions: dict[str, list[TopicPartition]] = {}

    async def start(self) -> None:
        topics = sorted({topic for read in self._groups.values() for topic in read})
        for partition in await partitions_of(self._admin, topics):
            self._partitions.setdefault(partition.topic, []).append(partition)
        await self._consumer.start()

    async def behind(self) -> int:
        """Records on the services' topics their groups have not yet committed past."""
        every = [p for partitions in self._partitions.values() for p in partitions]
        ends = await self._consumer.end_offsets(every)
        behind = 0
        for group, read in self._groups.items():
            committed = await self._admin.list_consumer_group_offsets(group)
            for topic in read:
                for partition in self._partitions[topic]:
                    done = committed.get(partition)
                    # No commit yet: the group reads from the earliest (the topic's start).
                    behind += ends[partition] - (done.offset if done is not None else 0)
        return behind

    async def wait_settled(self, within: float, clock: Clock = time.perf_counter) -> bool:
        """Until every group has caught up (False after `within` seconds): the work the last load
        caused is done, and counts to it, not to the next."""
        deadline = clock() + within
        while await self.behind() > 0:
            if clock() > deadline:
                return False
            await asyncio.sleep(0.25)
        return True

    async def stop(self) -> None:
        await self._consumer.stop()
