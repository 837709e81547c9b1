"""Inspect a service's dead-letter topic and send its letters back to be processed again.

    brobygger dead-letters list referrals
    brobygger dead-letters redrive referrals    # after fixing what made them fail

A letter goes back to the topic it came from, with its original key, value and CloudEvents
headers (so `ce_id` still deduplicates), and without the `dlq_*` headers. Progress is kept
in the consumer group `brobygger-<service>-redrive`, so each letter is re-driven once.

The tool logs in as the operators' super user `admin` (KAFKA_ADMIN_PASSWORD), not as the
service: a letter goes back to a topic another service owns, which the service's own
principal may only read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from runtime.kafka_security import KafkaLogin

DLQ_PREFIX = "dlq_"


@dataclass(frozen=True)
class DeadLetter:
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]

    @property
    def original_topic(self) -> str:
        return self.headers["dlq_original_topic"]

    def summary(self) -> str:
        h = self.headers
        return (
            f"#{self.offset} {h.get('ce_type', '?')} id={h.get('ce_id', '?')} "
            f"from {h.get('dlq_original_topic')}/{h.get('dlq_original_partition')}"
            f"@{h.get('dlq_original_offset')} after {h.get('dlq_attempts')} attempt(s): "
            f"{h.get('dlq_reason', '')[:300]}"
        )


def dead_letter_topic(service: str) -> str:
    return f"{service}.deadletter.v1"


@asynccontextmanager
async def _reader(
    bootstrap: str, login: KafkaLogin, topic: str, group: str | None
) -> AsyncIterator[tuple[AIOKafkaConsumer, TopicPartition]]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        **login.aiokafka_options(),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    partition = TopicPartition(topic, 0)  # dead-letter topics have one partition
    try:
        consumer.assign([partition])
        if group is None or await consumer.committed(partition) is None:
            await consumer.seek_to_beginning(partition)
        yield consumer, partition
    finally:
        await consumer.stop()


async def _letters(consumer: AIOKafkaConsumer, partition: TopicPartition) -> list[DeadLetter]:
    end = (await consumer.end_offsets([partition]))[partition]
    letters: list[DeadLetter] = []
    while await consumer.position(partition) < end:
        batch = await consumer.getmany(partition, timeout_ms=1000)
        letters += [
            DeadLetter(
                offset=record.offset,
                key=record.key,
                value=record.value,
                headers={name: value.decode() for name, value in record.headers},
            )
            for record in batch.get(partition, [])
        ]
    return letters


async def list_dead_letters(bootstrap: str, login: KafkaLogin, service: str) -> list[DeadLetter]:
    async with _reader(bootstrap, login, dead_letter_topic(service), group=None) as (
        consumer,
        part,
    ):
        return await _letters(consumer, part)


async def redrive(bootstrap: str, login: KafkaLogin, service: str) -> list[DeadLetter]:
    """Send back every letter not re-driven before; returns those sent."""
    group = f"brobygger-{service}-redrive"
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=True, **login.aiokafka_options()
    )
    await producer.start()
    try:
        async with _reader(bootstrap, login, dead_letter_topic(service), group) as (
            consumer,
            part,
        ):
            letters = await _letters(consumer, part)
            for letter in letters:
                headers = [
                    (name, value.encode())
                    for name, value in letter.headers.items()
                    if not name.startswith(DLQ_PREFIX)
                ]
                await producer.send_and_wait(
                    letter.original_topic, letter.value, key=letter.key, headers=headers
                )
                # One at a time: a crash re-drives at most the letter in flight again,
                # and its ce_id makes that a no-op.
                await consumer.commit({part: letter.offset + 1})
            return letters
    finally:
        await producer.stop()
