"""Kafka consumers that commit only after their own transaction, deduplicate, and
dead-letter what they cannot process.

Records come in batches (up to `max_batch`, each partition's in offset order) and are
handled in order, one by one. Per message: parse the CloudEvent; skip types this service
does not handle (no transaction, no thread); dead-letter an event whose `ce_source` is not
the service that owns its type; in one transaction record its `ce_source` and `ce_id` in
the inbox and run the handler (a service-layer function, which commits). A batch's events
go to one worker thread together, each in its own transaction. A partition's position is
committed only once every record before it was processed, deduplicated, ignored or
dead-lettered, and at most once per `commit_interval_seconds` (at low rates a batch is mostly
one record, and a commit request per event took up to a tenth of a service's time, and
work in the broker): after a batch when the last commit is older than that, else by a
timer that many seconds after the last one, and always for partitions being revoked and
on `stop`. A crash before a commit redelivers what came after the last one, and the inbox
drops what was done. A handler failure is retried with back-off, `max_attempts` times in
all, then the message goes to the service's dead-letter topic with the reason in its
headers and the consumer moves on to the next record. A database that is down is not the
message's fault: that is retried until the database is back, blocking the partition
rather than emptying it into the dead-letter topic.

Reasons and logged errors never quote the message's data (see `describe_error`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

import structlog
from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from contracts import IntegrationEvent
from runtime.envelope import attributes_of, correlation_id_var, trace_id_from, trace_id_var
from runtime.logs import describe_error, get_logger
from runtime.storage import MAX_EVENT_ID_LENGTH, UnitOfWork

Handler = Callable[[Any, Any], None]
"""`handler(event, uow)`: a service-layer function taking the event model and a unit of work."""

PublishRaw = Callable[[str, bytes | None, bytes, dict[str, str]], Awaitable[None]]

log = get_logger(component="consumer")

BATCH_WAIT_MS = 20


class KafkaPositions(Protocol):
    """What the consumer needs of aiokafka's consumer to commit positions."""

    def assignment(self) -> set[TopicPartition]: ...

    async def commit(self, offsets: dict[TopicPartition, int]) -> None: ...


@dataclass(frozen=True)
class EventIdentity:
    """What identifies a CloudEvent: its `id`, unique within its `source`; with the rest
    of its attributes as they came."""

    source: str
    id: str
    attributes: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class IncomingRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: dict[str, str]
    value: bytes


async def _lenient_parser(
    batch: tuple[Any, ...], parse: Callable[[Any], Awaitable[KafkaMessage]]
) -> KafkaMessage:
    """FastStream decodes headers as strict UTF-8 before any handler runs, and a batch it
    cannot decode is skipped by the next commit; decode leniently so that `_parse` sees
    each record and dead-letters what it cannot read."""
    return await parse(
        tuple(
            dataclasses.replace(
                record,
                headers=[
                    (name, (value or b"").decode("utf-8", "replace").encode())
                    for name, value in record.headers
                ],
            )
            for record in batch
        )
    )


async def _raw_bodies(msg: KafkaMessage) -> Any:
    """Leave decoding to `EventConsumer._parse`, which dead-letters what it cannot read;
    FastStream's own JSON decoding would fail before our handler could."""
    return msg.body


def _incoming(raw: Any) -> IncomingRecord:
    """An aiokafka ConsumerRecord, its headers already decoded leniently."""
    return IncomingRecord(
        topic=raw.topic,
        partition=raw.partition,
        offset=raw.offset,
        key=raw.key,
        headers={name: value.decode() for name, value in raw.headers},
        value=raw.value or b"",
    )


@contextlib.contextmanager
def _about(record: IncomingRecord) -> Iterator[None]:
    """Log lines and the events a handler publishes carry this record's context."""
    headers = record.headers
    with structlog.contextvars.bound_contextvars(
        event_id=headers.get("ce_id"),
        event_type=headers.get("ce_type", ""),
        correlation_id=headers.get("ce_correlationid"),
        aggregate_id=headers.get("ce_subject"),
        kafka=f"{record.topic}/{record.partition}@{record.offset}",
    ):
        correlation = correlation_id_var.set(headers.get("ce_correlationid"))
        trace = trace_id_var.set(trace_id_from(headers.get("traceparent")))
        try:
            yield
        finally:
            correlation_id_var.reset(correlation)
            trace_id_var.reset(trace)


@dataclass(frozen=True)
class _Work:
    """A record to process: its event parsed, and the handler it goes to."""

    record: IncomingRecord
    identity: EventIdentity
    event: IntegrationEvent
    handler: Handler


class MalformedMessage(Exception):
    """The message can never be processed as it is: no retry, straight to dead letters."""


class Unavailable(Exception):
    """Something a handler needs is not there yet: not the message's fault, retried until
    it is, never dead-lettered."""


def _is_transient(error: BaseException) -> bool:
    """The database is down or busy, or something else the handler needs is: not the
    message's fault."""
    return isinstance(error, OperationalError | PoolTimeout | Unavailable) or (
        isinstance(error, DBAPIError) and error.connection_invalidated
    )


class EventConsumer:
    def __init__(
        self,
        *,
        group_id: str,
        handlers: Mapping[type[IntegrationEvent], Handler],
        uow_factory: Callable[[], UnitOfWork],
        dead_letter_topic: str,
        publish_raw: PublishRaw,
        max_attempts: int = 5,
        backoff_seconds: float = 0.2,
        max_backoff_seconds: float = 10.0,
        max_batch: int = 100,
        commit_interval_seconds: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.group_id = group_id
        self._max_batch = max_batch
        self._handlers = {event.event_type: (event, h) for event, h in handlers.items()}
        self._uow_factory = uow_factory
        self.dead_letter_topic = dead_letter_topic
        self._publish_raw = publish_raw
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._commit_interval = commit_interval_seconds
        self._clock = clock
        self._kafka: KafkaPositions | None = None
        self._processed: dict[TopicPartition, int] = {}  # next offset, not yet committed
        self._last_commit = -float("inf")
        self._commit_lock = asyncio.Lock()
        self._commit_later: asyncio.Task[None] | None = None

    @property
    def handled_events(self) -> list[type[IntegrationEvent]]:
        return [event for event, _ in self._handlers.values()]

    @property
    def topics(self) -> list[str]:
        return sorted({event.topic for event, _ in self._handlers.values()})

    def attach(self, broker: KafkaBroker) -> None:
        """Subscribe on `broker`: one group per service, earliest offsets, manual commits
        of processed positions (see the module's docstring)."""

        @broker.subscriber(
            *self.topics,
            group_id=self.group_id,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,
            batch=True,
            max_records=self._max_batch,
            # How long an empty poll waits, and FastStream then sleeps as long again: the
            # most a record arriving on an idle topic waits for the next poll.
            batch_timeout_ms=BATCH_WAIT_MS,
            parser=_lenient_parser,
            decoder=_raw_bodies,
            description=f"{self.group_id} consumes {', '.join(self._handlers)}",
            listener=CommitBeforeRevoking(self),
        )
        async def on_batch(msg: KafkaMessage) -> None:
            records = [_incoming(raw) for raw in msg.raw_message]
            await self.handle_batch(records)
            # Reached only once every record in the batch is processed, deduplicated,
            # ignored or dead-lettered.
            # FastStream types it as a consumer that commits everything it fetched; it is
            # aiokafka's, which commits the positions it is given.
            await self.processed(cast(KafkaPositions, msg.consumer), records)

    async def processed(self, kafka: KafkaPositions, records: Sequence[IncomingRecord]) -> None:
        """`records` (fetched by `kafka`) are all handled: their positions may be committed,
        now if the last commit is older than the interval, else when it will be."""
        self._kafka = kafka
        for record in records:  # each partition's in offset order: the last one counts
            self._processed[TopicPartition(record.topic, record.partition)] = record.offset + 1
        if self._clock() - self._last_commit >= self._commit_interval:
            await self.commit_processed()
        else:
            self._commit_in(self._last_commit + self._commit_interval - self._clock())

    def _commit_in(self, seconds: float) -> None:
        if self._commit_later is None or self._commit_later.done():
            self._commit_later = asyncio.create_task(self._commit_after(seconds))

    async def _commit_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self._commit_later = None  # so that a commit failing now can schedule the next try
        await self.commit_processed()

    async def commit_processed(self, only: set[TopicPartition] | None = None) -> None:
        """Commit the positions of what was processed since the last commit (of the
        partitions in `only`, if given), of partitions still assigned: another member's
        may have moved on."""
        async with self._commit_lock:
            kafka = self._kafka
            if kafka is None:
                return
            assigned = kafka.assignment()
            positions = {
                partition: offset
                for partition, offset in self._processed.items()
                if partition in assigned and (only is None or partition in only)
            }
            for partition in positions:
                del self._processed[partition]
            if only is None:  # another member's now, which starts from the last commit
                for partition in self._processed.keys() - assigned:
                    del self._processed[partition]
            self._last_commit = self._clock()
            if not positions:
                return
            try:
                await kafka.commit(positions)
            except KafkaError as error:
                # What is not committed is delivered again and skipped. Partitions being
                # revoked are another member's now; the others are tried again, unless
                # newer positions came in meanwhile.
                log.warning("consumer.commit_failed", error=describe_error(error))
                if only is None:
                    for partition, offset in positions.items():
                        self._processed.setdefault(partition, offset)
                    self._commit_in(self._commit_interval)

    async def stop(self) -> None:
        """Commit what was processed, before the Kafka clients stop."""
        if self._commit_later is not None:
            self._commit_later.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._commit_later
        await self.commit_processed()

    async def handle(self, record: IncomingRecord) -> None:
        await self.handle_batch([record])

    async def handle_batch(self, records: Sequence[IncomingRecord]) -> None:
        """Handle `records` in order: each processed, deduplicated, ignored or
        dead-lettered by the time this returns."""
        runnable: list[_Work] = []
        for record in records:
            try:
                work = self._parse(record)
            except MalformedMessage as error:
                await self._run(runnable)
                with _about(record):
                    await self._dead_letter(record, str(error), attempts=0)
                continue
            except Exception as error:
                await self._run(runnable)
                with _about(record):
                    await self._unexpected(record, error)
                continue
            if work is not None:
                runnable.append(work)
        await self._run(runnable)

    async def _run(self, runnable: list[_Work]) -> None:
        """Process `runnable` in order, in one worker thread as far as they succeed; a
        failed one is retried (or dead-lettered) before the next is touched."""
        while runnable:
            done, error = await asyncio.to_thread(self._process_in_order, runnable)
            del runnable[:done]
            if error is None:
                continue
            failed = runnable.pop(0)
            with _about(failed.record):
                try:
                    await self._process_with_retries(failed, error)
                except Exception as unexpected:
                    await self._unexpected(failed.record, unexpected)

    def _process_in_order(self, runnable: Sequence[_Work]) -> tuple[int, Exception | None]:
        """How many of `runnable` were processed before the first that failed, and its
        error (None: all of them)."""
        for done, work in enumerate(runnable):
            with _about(work.record):
                try:
                    self._process(work)
                except Exception as error:
                    return done, error
        return len(runnable), None

    async def _unexpected(self, record: IncomingRecord, error: Exception) -> None:
        # A fault of ours must not let the commit skip the message unseen.
        reason = describe_error(error)
        log.error(
            "consumer.unexpected_error",
            error=reason,
            stack="".join(traceback.format_tb(error.__traceback__)),
        )
        await self._dead_letter(record, f"consumer error: {reason}", attempts=0)

    def _parse(self, record: IncomingRecord) -> _Work | None:
        event_id = record.headers.get("ce_id")
        source = record.headers.get("ce_source")
        event_type = record.headers.get("ce_type")
        if not event_id or not source or not event_type:
            raise MalformedMessage("not a CloudEvent: ce_id, ce_source or ce_type header missing")
        if max(len(event_id), len(source)) > MAX_EVENT_ID_LENGTH:
            raise MalformedMessage(
                f"ce_id or ce_source longer than {MAX_EVENT_ID_LENGTH} characters"
            )
        if event_type not in self._handlers:
            return None
        model, handler = self._handlers[event_type]
        if source != model.source():
            # Only the owner publishes its events; anything else is forged or misrouted.
            raise MalformedMessage(
                f"{event_type} is published by {model.source()} only; ce_source names another"
            )
        try:
            event = model.model_validate_json(record.value)
        except ValidationError as error:
            raise MalformedMessage(
                f"data does not match {event_type}: {describe_error(error)}"
            ) from error
        identity = EventIdentity(source, event_id, attributes_of(record.headers))
        return _Work(record, identity, event, handler)

    async def _process_with_retries(self, work: _Work, error: Exception) -> None:
        """`work` failed once with `error`: try again with back-off, or dead-letter it."""
        attempt = 1
        delay = self._backoff
        while True:
            transient = _is_transient(error)
            reason = describe_error(error)
            if not transient and attempt >= self._max_attempts:
                log.error("consumer.gave_up", attempts=attempt, error=reason)
                await self._dead_letter(work.record, reason, attempts=attempt)
                return
            log.warning(
                "consumer.retrying",
                attempt=attempt,
                transient=transient,
                error=reason,
                retry_in_s=delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_backoff)
            attempt += 1
            try:
                await asyncio.to_thread(self._process, work)
                return
            except Exception as again:
                error = again

    def _process(self, work: _Work) -> None:
        identity, event = work.identity, work.event
        with self._uow_factory() as uow:
            if not uow.record_processed(
                identity.id, event.event_type, identity.source, identity.attributes
            ):
                log.info("consumer.duplicate_skipped")
                return
            work.handler(event, uow)
            if not uow.committed:
                # Without a commit the inbox row is rolled back and the event would be
                # dropped unseen once the offset moves on.
                raise RuntimeError(f"the handler for {event.event_type} did not commit")
        log.info("consumer.processed")

    async def _dead_letter(self, record: IncomingRecord, reason: str, *, attempts: int) -> None:
        headers = {
            **record.headers,
            "dlq_reason": reason[:4000],
            "dlq_consumer_group": self.group_id,
            "dlq_original_topic": record.topic,
            "dlq_original_partition": str(record.partition),
            "dlq_original_offset": str(record.offset),
            "dlq_attempts": str(attempts),
        }
        delay = self._backoff
        while True:
            try:
                await self._publish_raw(self.dead_letter_topic, record.key, record.value, headers)
                log.error(
                    "consumer.dead_lettered", reason=reason[:500], topic=self.dead_letter_topic
                )
                return
            except Exception as error:
                # Committing without the dead letter would lose the message: keep trying.
                log.warning(
                    "consumer.dead_letter_failed", error=describe_error(error), retry_in_s=delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_backoff)


class CommitBeforeRevoking(ConsumerRebalanceListener):  # type: ignore[misc]
    """The positions processed on partitions about to go to another member are committed
    first: it starts where this one stopped, not where this one last committed."""

    def __init__(self, consumer: EventConsumer) -> None:
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._consumer.commit_processed(only=revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        pass
