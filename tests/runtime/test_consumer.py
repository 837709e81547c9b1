"""The consumer's decisions, without a broker: what it processes, skips and dead-letters."""

from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from contracts import NoMatchFound, ReferralSubmitted
from runtime.consumer import EventConsumer, Handler, IncomingRecord
from runtime.envelope import envelope
from runtime.logs import configure_logging
from runtime.storage import UnitOfWork
from tests.conftest import log_events
from tests.runtime.plumbing import PlumbingStore, answer_with_no_match, plumbing_store, submitted


class DeadLetters:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, dict[str, str]]] = []

    async def publish(
        self, topic: str, key: bytes | None, value: bytes, headers: dict[str, str]
    ) -> None:
        self.sent.append((topic, value, headers))


def consumer_on(
    store: PlumbingStore, dead: DeadLetters, handler: Handler = answer_with_no_match
) -> EventConsumer:
    return EventConsumer(
        group_id="test",
        handlers={ReferralSubmitted: handler},
        uow_factory=store.start_uow,
        dead_letter_topic="test.deadletter.v1",
        publish_raw=dead.publish,
        max_attempts=2,
        backoff_seconds=0.01,
    )


def record(event: ReferralSubmitted, offset: int = 0) -> IncomingRecord:
    message = envelope(event, "/brobygger/test")
    return IncomingRecord(
        topic=message.topic,
        partition=0,
        offset=offset,
        key=message.key.encode(),
        headers=message.headers,
        value=message.value,
    )


@pytest.fixture
def store(tmp_path: Path) -> PlumbingStore:
    return plumbing_store(tmp_path)


async def test_an_event_is_handled_once_however_often_it_arrives(store: PlumbingStore) -> None:
    dead = DeadLetters()
    consumer = consumer_on(store, dead)
    once = record(submitted())
    for _ in range(3):
        await consumer.handle(once)
    assert store.counts() == (1, 1)
    assert dead.sent == []


async def test_event_types_the_service_does_not_handle_are_passed_over(
    store: PlumbingStore,
) -> None:
    dead = DeadLetters()
    other = record(submitted())
    other.headers["ce_type"] = "dk.brobygger.grants.pool.opened.v1"
    await consumer_on(store, dead).handle(other)
    assert store.counts() == (0, 0)
    assert dead.sent == []


async def test_a_failing_handler_is_retried_then_dead_lettered_with_nothing_written(
    store: PlumbingStore,
) -> None:
    dead = DeadLetters()
    calls = []

    def failing(event: ReferralSubmitted, uow: object) -> None:
        calls.append(event)
        raise ValueError("no such district")

    incoming = record(submitted(), offset=41)
    await consumer_on(store, dead, failing).handle(incoming)
    assert len(calls) == 2
    [(topic, value, headers)] = dead.sent
    assert (topic, value) == ("test.deadletter.v1", incoming.value)
    assert "no such district" in headers["dlq_reason"]
    assert (headers["dlq_original_offset"], headers["dlq_attempts"]) == ("41", "2")
    assert headers["ce_id"] == incoming.headers["ce_id"]
    assert store.counts() == (0, 0)


async def test_processing_logs_the_event_id_type_correlation_and_aggregate(
    store: PlumbingStore, caplog: pytest.LogCaptureFixture
) -> None:
    configure_logging("plumbing-test")
    caplog.set_level("INFO")
    event = submitted()
    incoming = record(event)
    await consumer_on(store, DeadLetters()).handle(incoming)
    lines = log_events(caplog)
    [processed] = [line for line in lines if line["event"] == "consumer.processed"]
    assert processed["event_id"] == incoming.headers["ce_id"]
    assert processed["event_type"] == ReferralSubmitted.event_type
    assert processed["aggregate_id"] == str(event.referral_id)
    assert processed["correlation_id"] == str(event.referral_id)
    assert processed["service"] == "plumbing-test"


async def test_a_database_outage_is_waited_out_not_dead_lettered(store: PlumbingStore) -> None:
    dead = DeadLetters()
    outages = 3  # more than max_attempts: a message's fault would be dead-lettered by now

    def handler(event: ReferralSubmitted, uow: UnitOfWork) -> None:
        nonlocal outages
        if outages:
            outages -= 1
            raise OperationalError("SELECT 1", {}, Exception("connection refused"))
        answer_with_no_match(event, uow)

    await consumer_on(store, dead, handler).handle(record(submitted()))
    assert store.counts() == (1, 1)
    assert dead.sent == []


async def test_a_handler_that_forgets_to_commit_is_dead_lettered_not_dropped(
    store: PlumbingStore,
) -> None:
    dead = DeadLetters()

    def forgetful(event: ReferralSubmitted, uow: UnitOfWork) -> None:
        uow.publish(NoMatchFound(referral_id=event.referral_id, reason="never committed"))

    await consumer_on(store, dead, forgetful).handle(record(submitted()))
    [(_, _, headers)] = dead.sent
    assert "did not commit" in headers["dlq_reason"]
    assert store.counts() == (0, 0)
