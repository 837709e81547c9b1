"""When the consumer commits its positions: only what was processed, at most once per
interval, and what is left before partitions go elsewhere, when idle and on stop."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError

from runtime.consumer import CommitBeforeRevoking, EventConsumer, IncomingRecord
from runtime.storage import UnitOfWork
from tests.kit import eventually
from tests.runtime.plumbing import DeadLetters

A = TopicPartition("test.events.v1", 0)
B = TopicPartition("test.events.v1", 1)


class FakeKafka:
    """aiokafka's consumer as far as committing goes: what it was asked to commit."""

    def __init__(self, *assigned: TopicPartition, failures: int = 0) -> None:
        self.assigned = set(assigned)
        self.commits: list[dict[TopicPartition, int]] = []
        self._failures = failures

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self._failures:
            self._failures -= 1
            raise KafkaConnectionError("the broker is away")
        self.commits.append(dict(offsets))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def at(partition: TopicPartition, *offsets: int) -> list[IncomingRecord]:
    return [
        IncomingRecord(partition.topic, partition.partition, offset, None, {}, b"")
        for offset in offsets
    ]


def no_transactions() -> UnitOfWork:
    raise AssertionError("committing positions opens no transaction")


def committing_consumer(
    interval: float, clock: Callable[[], float] = time.monotonic
) -> EventConsumer:
    return EventConsumer(
        group_id="test",
        handlers={},
        uow_factory=no_transactions,
        dead_letter_topic="test.deadletter.v1",
        publish_raw=DeadLetters().publish,
        commit_interval_seconds=interval,
        clock=clock,
    )


async def test_positions_are_committed_at_most_once_per_interval_while_batches_come_in() -> None:
    kafka, clock = FakeKafka(A), Clock()
    consumer = committing_consumer(10, clock)

    await consumer.processed(kafka, at(A, 0))
    assert kafka.commits == [{A: 1}], "the first batch after a quiet spell: at once"
    clock.now += 4
    await consumer.processed(kafka, at(A, 1, 2))
    clock.now += 5.9
    await consumer.processed(kafka, at(A, 3))
    assert kafka.commits == [{A: 1}]
    clock.now += 0.1
    await consumer.processed(kafka, at(A, 4))
    assert kafka.commits == [{A: 1}, {A: 5}]
    await consumer.stop()
    assert kafka.commits == [{A: 1}, {A: 5}], "nothing was left to commit"


async def test_an_idle_consumers_last_positions_are_committed_within_the_interval() -> None:
    kafka = FakeKafka(A, B)
    consumer = committing_consumer(0.2)

    await consumer.processed(kafka, at(A, 0))
    await consumer.processed(kafka, [*at(A, 1, 2), *at(B, 7)])
    assert kafka.commits == [{A: 1}]
    await eventually(lambda: len(kafka.commits) == 2, "the deferred commit", timeout=5)
    assert kafka.commits == [{A: 1}, {A: 3, B: 8}]
    await consumer.stop()


async def test_stopping_commits_what_was_processed_since_the_last_commit() -> None:
    kafka, clock = FakeKafka(A), Clock()
    consumer = committing_consumer(60, clock)

    await consumer.processed(kafka, at(A, 0))
    await consumer.processed(kafka, at(A, 1))
    await consumer.stop()
    assert kafka.commits == [{A: 1}, {A: 2}]


async def test_partitions_being_revoked_have_their_processed_positions_committed_first() -> None:
    kafka, clock = FakeKafka(A, B), Clock()
    consumer = committing_consumer(60, clock)
    await consumer.processed(kafka, [*at(A, 0), *at(B, 0)])
    await consumer.processed(kafka, [*at(A, 1), *at(B, 1, 2)])

    await CommitBeforeRevoking(consumer).on_partitions_revoked({B})
    assert kafka.commits == [{A: 1, B: 1}, {B: 3}], "A stays with this member: not yet"
    kafka.assigned = {A}
    await consumer.stop()
    assert kafka.commits == [{A: 1, B: 1}, {B: 3}, {A: 2}]


async def test_positions_on_partitions_assigned_elsewhere_meanwhile_are_not_committed() -> None:
    kafka, clock = FakeKafka(A, B), Clock()
    consumer = committing_consumer(60, clock)
    await consumer.processed(kafka, at(A, 0))
    await consumer.processed(kafka, [*at(A, 1), *at(B, 4)])

    kafka.assigned = {A}  # B went to another member, which may have moved on
    await consumer.stop()
    assert kafka.commits == [{A: 1}, {A: 2}]


async def test_a_partition_that_comes_back_never_gets_a_position_from_before_it_left() -> None:
    kafka, clock = FakeKafka(A, B), Clock()
    consumer = committing_consumer(60, clock)
    await consumer.processed(kafka, at(A, 0))
    await consumer.processed(kafka, [*at(A, 1), *at(B, 4)])  # B's 5 waits for the interval

    kafka.assigned = {A}  # B goes to another member, which moves it past 5
    await consumer.stop()
    kafka.assigned = {A, B}  # and B comes back
    await consumer.stop()
    assert kafka.commits == [{A: 1}, {A: 2}]  # never B back to 5


async def test_positions_failed_commits_held_are_committed_by_a_later_one() -> None:
    kafka = FakeKafka(A, failures=2)  # the second is the retry's: it too tries again
    consumer = committing_consumer(0.2)

    await consumer.processed(kafka, at(A, 0, 1))
    assert kafka.commits == []
    await eventually(lambda: kafka.commits == [{A: 2}], "the commit tried again", timeout=5)
    await consumer.stop()
