"""Kafka consumers that commit only after their own transaction, deduplicate, and
dead-letter what they cannot process.

Per message: parse the CloudEvent; skip types this service does not handle; dead-letter an
event whose `ce_source` is not the service that owns its type; in one
transaction record its `ce_source` and `ce_id` in the inbox and run the handler (a
service-layer function, which commits); only then commit the Kafka offset. A handler
failure is retried with back-off, `max_attempts` times in all, then the message goes to the
service's dead-letter topic with the reason in its headers and the consumer moves on. A
database that is down is not the message's fault: that is retried until the database is
back, blocking the partition rather than emptying it into the dead-letter topic.

Reasons and logged errors never quote the message's data (see `describe_error`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
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
    record: Any, parse: Callable[[Any], Awaitable[KafkaMessage]]
) -> KafkaMessage:
    """FastStream decodes headers as strict UTF-8 before any handler runs, and a record it
    cannot decode is skipped by the next commit; decode leniently so that `_parse` sees the
    record and dead-letters it."""
    headers = [
        (name, (value or b"").decode("utf-8", "replace").encode()) for name, value in record.headers
    ]
    return await parse(dataclasses.replace(record, headers=headers))


async def _raw_body(msg: KafkaMessage) -> bytes:
    """Leave decoding to `EventConsumer._parse`, which dead-letters what it cannot read;
    FastStream's own JSON decoding would fail before our handler could."""
    body: bytes = msg.body
    return body


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
    ) -> None:
        self.group_id = group_id
        self._handlers = {event.event_type: (event, h) for event, h in handlers.items()}
        self._uow_factory = uow_factory
        self.dead_letter_topic = dead_letter_topic
        self._publish_raw = publish_raw
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds

    @property
    def handled_events(self) -> list[type[IntegrationEvent]]:
        return [event for event, _ in self._handlers.values()]

    @property
    def topics(self) -> list[str]:
        return sorted({event.topic for event, _ in self._handlers.values()})

    def attach(self, broker: KafkaBroker) -> None:
        """Subscribe on `broker`: one group per service, earliest offsets, manual commits."""

        @broker.subscriber(
            *self.topics,
            group_id=self.group_id,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,
            parser=_lenient_parser,
            decoder=_raw_body,
            description=f"{self.group_id} consumes {', '.join(self._handlers)}",
        )
        async def on_message(msg: KafkaMessage) -> None:
            raw: Any = msg.raw_message  # one aiokafka ConsumerRecord (not a batch)
            record = IncomingRecord(
                topic=raw.topic,
                partition=raw.partition,
                offset=raw.offset,
                key=raw.key,
                headers=dict(msg.headers),
                value=msg.body,
            )
            try:
                await self.handle(record)
            except Exception as error:
                # A fault of ours must not let the commit below skip the message unseen.
                reason = describe_error(error)
                log.error(
                    "consumer.unexpected_error",
                    error=reason,
                    stack="".join(traceback.format_tb(error.__traceback__)),
                )
                await self._dead_letter(record, f"consumer error: {reason}", attempts=0)
            # Commits this partition's position; reached only once the message is
            # processed, deduplicated, ignored or dead-lettered.
            await msg.ack()

    async def handle(self, record: IncomingRecord) -> None:
        headers = record.headers
        event_type = headers.get("ce_type", "")
        with structlog.contextvars.bound_contextvars(
            event_id=headers.get("ce_id"),
            event_type=event_type,
            correlation_id=headers.get("ce_correlationid"),
            aggregate_id=headers.get("ce_subject"),
            kafka=f"{record.topic}/{record.partition}@{record.offset}",
        ):
            correlation_id_var.set(headers.get("ce_correlationid"))
            trace_id_var.set(trace_id_from(headers.get("traceparent")))
            try:
                parsed = self._parse(record)
            except MalformedMessage as error:
                await self._dead_letter(record, str(error), attempts=0)
                return
            if parsed is None:
                return
            identity, event, handler = parsed
            await self._process_with_retries(record, identity, event, handler)

    def _parse(
        self, record: IncomingRecord
    ) -> tuple[EventIdentity, IntegrationEvent, Handler] | None:
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
            log.debug("consumer.ignored_type")
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
        return EventIdentity(source, event_id, attributes_of(record.headers)), event, handler

    async def _process_with_retries(
        self,
        record: IncomingRecord,
        identity: EventIdentity,
        event: IntegrationEvent,
        handler: Handler,
    ) -> None:
        attempt = 0
        delay = self._backoff
        while True:
            attempt += 1
            try:
                await asyncio.to_thread(self._process, identity, event, handler)
                return
            except Exception as error:
                transient = _is_transient(error)
                reason = describe_error(error)
                if not transient and attempt >= self._max_attempts:
                    log.error("consumer.gave_up", attempts=attempt, error=reason)
                    await self._dead_letter(record, reason, attempts=attempt)
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

    def _process(self, identity: EventIdentity, event: IntegrationEvent, handler: Handler) -> None:
        with self._uow_factory() as uow:
            if uow.already_processed(identity.id, identity.source):
                log.info("consumer.duplicate_skipped")
                return
            uow.record_processed(
                identity.id, event.event_type, identity.source, identity.attributes
            )
            handler(event, uow)
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
