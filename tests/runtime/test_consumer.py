"""The consumer's decisions, without a broker: what it processes, skips and dead-letters."""

import dataclasses
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from contracts import NoMatchFound, ReferralSubmitted
from runtime.consumer import EventConsumer, Unavailable
from runtime.logs import configure_logging
from runtime.storage import UnitOfWork, outbox
from tests.conftest import log_events
from tests.kit import record_of
from tests.runtime.plumbing import (
    DeadLetters,
    PlumbingStore,
    answer_with_no_match,
    consumer_on,
    plumbing_store,
    submitted,
)

CPR = "120342-1234"
"""A made-up personal identity number: it must not reach a dead letter or a log line."""


@pytest.fixture
def store(tmp_path: Path) -> PlumbingStore:
    return plumbing_store(tmp_path)


async def test_an_event_is_handled_once_however_often_it_arrives(store: PlumbingStore) -> None:
    dead = DeadLetters()
    consumer = consumer_on(store, dead)
    once = record_of(submitted())
    for _ in range(3):
        await consumer.handle(once)
    assert store.counts() == (1, 1)
    assert dead.sent == []


async def test_an_event_from_a_service_that_does_not_own_its_type_is_dead_lettered_unprocessed(
    store: PlumbingStore,
) -> None:
    dead = DeadLetters()
    forged = record_of(submitted(), source="/brobygger/grants")

    await consumer_on(store, dead).handle(forged)

    assert store.counts() == (0, 0)
    [(_, value, headers)] = dead.sent
    assert value == forged.value
    assert headers["dlq_reason"] == (
        "dk.brobygger.referrals.referral.submitted.v1 is published by /brobygger/referrals "
        "only; ce_source names another"
    )
    assert headers["dlq_attempts"] == "0"


async def test_event_types_the_service_does_not_handle_are_passed_over(
    store: PlumbingStore,
) -> None:
    dead = DeadLetters()
    other = record_of(submitted())
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

    incoming = record_of(submitted(), offset=41)
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
    incoming = record_of(event)
    await consumer_on(store, DeadLetters()).handle(incoming)
    lines = log_events(caplog)
    [processed] = [line for line in lines if line["event"] == "consumer.processed"]
    assert processed["event_id"] == incoming.headers["ce_id"]
    assert processed["event_type"] == ReferralSubmitted.event_type
    assert processed["aggregate_id"] == str(event.referral_id)
    assert processed["correlation_id"] == str(event.referral_id)
    assert processed["service"] == "plumbing-test"


@pytest.mark.parametrize(
    "unavailable",
    [
        OperationalError("SELECT 1", {}, Exception("connection refused")),
        Unavailable("the broker has not listed the partners' topics yet"),
    ],
    ids=["database-down", "unavailable"],
)
async def test_a_database_outage_or_anything_unavailable_is_waited_out_not_dead_lettered(
    store: PlumbingStore, unavailable: Exception
) -> None:
    dead = DeadLetters()
    failures = 3  # more than max_attempts: a message's fault would be dead-lettered by now

    def handler(event: ReferralSubmitted, uow: UnitOfWork) -> None:
        nonlocal failures
        if failures:
            failures -= 1
            raise unavailable
        answer_with_no_match(event, uow)

    await consumer_on(store, dead, handler).handle(record_of(submitted()))
    assert store.counts() == (1, 1)
    assert dead.sent == []


async def test_a_handler_that_forgets_to_commit_is_dead_lettered_not_dropped(
    store: PlumbingStore,
) -> None:
    dead = DeadLetters()

    def forgetful(event: ReferralSubmitted, uow: UnitOfWork) -> None:
        uow.publish(NoMatchFound(referral_id=event.referral_id, reason="never committed"))

    await consumer_on(store, dead, forgetful).handle(record_of(submitted()))
    [(_, _, headers)] = dead.sent
    assert "did not commit" in headers["dlq_reason"]
    assert store.counts() == (0, 0)


async def test_data_of_the_wrong_shape_is_dead_lettered_without_the_values_it_holds(
    store: PlumbingStore, caplog: pytest.LogCaptureFixture
) -> None:
    configure_logging("plumbing-test")
    caplog.set_level("DEBUG")
    dead = DeadLetters()
    valid = record_of(submitted())
    data = json.loads(valid.value) | {"referral_id": CPR, "submitted_at": CPR, "languages": CPR}
    await consumer_on(store, dead).handle(
        dataclasses.replace(valid, value=json.dumps(data).encode())
    )
    [(_, _, headers)] = dead.sent
    reason = headers["dlq_reason"]
    assert reason.startswith(f"data does not match {ReferralSubmitted.event_type}: ")
    assert "referral_id: uuid_parsing" in reason
    assert "submitted_at: datetime_from_date_parsing" in reason
    assert CPR not in json.dumps(headers)
    assert CPR not in caplog.text
    assert store.counts() == (0, 0)


def quoting_validation_error() -> Exception:
    try:
        ReferralSubmitted.model_validate({"referral_id": CPR})
    except ValueError as error:
        return error
    raise AssertionError("expected a validation error")


@pytest.mark.parametrize(
    "raised",
    [
        pytest.param(quoting_validation_error(), id="validation-error"),
        pytest.param(
            IntegrityError(
                "INSERT INTO citizen (cpr) VALUES (%(cpr)s)",
                {"cpr": CPR},
                Exception(f"duplicate key\nDETAIL: Key (cpr)=({CPR}) already exists."),
            ),
            id="database-error",
        ),
    ],
)
async def test_a_handler_error_that_quotes_input_is_dead_lettered_and_logged_without_it(
    store: PlumbingStore, caplog: pytest.LogCaptureFixture, raised: Exception
) -> None:
    configure_logging("plumbing-test")
    caplog.set_level("DEBUG")
    dead = DeadLetters()

    def failing(event: ReferralSubmitted, uow: UnitOfWork) -> None:
        raise raised

    await consumer_on(store, dead, failing).handle(record_of(submitted()))
    [(_, _, headers)] = dead.sent
    assert type(raised).__name__ in headers["dlq_reason"]
    assert CPR in str(raised), "the error does quote it"
    assert CPR not in json.dumps(headers)
    assert [line["event"] for line in log_events(caplog) if "error" in line] == [
        "consumer.retrying",
        "consumer.gave_up",
    ]
    assert CPR not in caplog.text


async def test_a_forwarded_event_leaves_as_the_cloudevent_it_came_in_on_the_topic_named(
    store: PlumbingStore,
) -> None:
    event = submitted(interests=["walking"])
    record = record_of(event)
    shown = event.model_copy(update={"interests": []})

    def forward_a_copy(event: ReferralSubmitted, uow: UnitOfWork) -> None:
        uow.forward(shown, "partner.a.v1")
        uow.forward(shown, "partner.b.v1")
        uow.commit()

    await consumer_on(store, DeadLetters(), forward_a_copy).handle(record)

    with store.engine.connect() as connection:
        rows = list(connection.execute(select(outbox).order_by(outbox.c.seq)))
    assert [row.topic for row in rows] == ["partner.a.v1", "partner.b.v1"]
    assert len({row.event_id for row in rows}) == 2, "an outbox row of its own on each topic"
    for row in rows:
        kept = {name: row.headers[name] for name in record.headers if name.startswith("ce_")}
        assert kept == {name: v for name, v in record.headers.items() if name.startswith("ce_")}
        assert row.key == str(event.referral_id)
        assert json.loads(row.value) == shown.model_dump(mode="json")


def test_only_an_event_being_consumed_can_be_forwarded(store: PlumbingStore) -> None:
    with store.start_uow() as uow, pytest.raises(RuntimeError, match="being consumed"):
        uow.forward(submitted(), "partner.a.v1")


async def test_types_the_service_does_not_handle_open_no_transaction(
    store: PlumbingStore,
) -> None:
    opened: list[UnitOfWork] = []

    def start_uow() -> UnitOfWork:
        opened.append(store.start_uow())
        return opened[-1]

    consumer = EventConsumer(
        group_id="test",
        handlers={ReferralSubmitted: answer_with_no_match},
        uow_factory=start_uow,
        dead_letter_topic="test.deadletter.v1",
        publish_raw=DeadLetters().publish,
    )
    others = [record_of(submitted(), offset) for offset in range(3)]
    for record in others:
        record.headers["ce_type"] = "dk.brobygger.grants.pool.opened.v1"

    await consumer.handle_batch(others)

    assert opened == []


async def test_a_batch_is_handled_in_order_and_a_failing_event_holds_up_only_itself(
    store: PlumbingStore,
) -> None:
    dead = DeadLetters()
    first, failing, last = submitted(), submitted(), submitted()
    calls = []

    def handler(event: ReferralSubmitted, uow: UnitOfWork) -> None:
        calls.append(event.referral_id)
        if event.referral_id == failing.referral_id:
            raise ValueError("cannot handle this one")
        answer_with_no_match(event, uow)

    batch = [record_of(event, offset) for offset, event in enumerate((first, failing, last))]
    await consumer_on(store, dead, handler).handle_batch(batch)

    # max_attempts=2: the failing event is tried twice before the next one is touched.
    assert calls == [
        first.referral_id,
        failing.referral_id,
        failing.referral_id,
        last.referral_id,
    ]
    assert store.counts() == (2, 2), "each event committed in its own transaction"
    [(_, value, headers)] = dead.sent
    assert (value, headers["dlq_attempts"]) == (batch[1].value, "2")


async def test_each_event_of_a_batch_publishes_under_its_own_correlation_id(
    store: PlumbingStore,
) -> None:
    events = [submitted(), submitted()]
    batch = [record_of(event, offset) for offset, event in enumerate(events)]
    for offset, record in enumerate(batch):  # not the referral's id, which is the default
        record.headers["ce_correlationid"] = f"care-system-request-{offset}"

    await consumer_on(store, DeadLetters()).handle_batch(batch)

    with store.engine.connect() as connection:
        published = connection.execute(select(outbox.c.headers).order_by(outbox.c.seq)).all()
    assert [row.headers["ce_correlationid"] for row in published] == [
        record.headers["ce_correlationid"] for record in batch
    ]
