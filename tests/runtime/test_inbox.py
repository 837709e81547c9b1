"""The inbox takes any CloudEvents id: unique within its source, of any sensible length."""

import dataclasses
from collections.abc import Callable
from uuid import uuid4

import pytest
from sqlalchemy import Engine

from contracts import NoMatchFound, ReferralSubmitted
from runtime.consumer import EventConsumer, IncomingRecord
from runtime.storage import MAX_EVENT_ID_LENGTH, UnitOfWork
from tests.kit import record_of
from tests.runtime.plumbing import (
    DeadLetters,
    PlumbingStore,
    answer_with_no_match,
    consumer_on,
    plumbing_store_on,
    submitted,
)


@pytest.fixture
def store(engine_for: Callable[[str], Engine]) -> PlumbingStore:
    return plumbing_store_on(engine_for("directory"))


def committing(event: NoMatchFound, uow: UnitOfWork) -> None:
    uow.commit()


def with_headers(incoming: IncomingRecord, **headers: str) -> IncomingRecord:
    return dataclasses.replace(incoming, headers=incoming.headers | headers)


@pytest.mark.parametrize(
    "event_id",
    ["order-42", "x" * MAX_EVENT_ID_LENGTH, "urn:partner:7/ærø"],
    ids=["not-a-uuid", "longest-allowed", "any-characters"],
)
async def test_an_event_with_any_id_is_processed_once_however_often_it_arrives(
    store: PlumbingStore, event_id: str
) -> None:
    dead = DeadLetters()
    consumer = consumer_on(store, dead)
    incoming = with_headers(record_of(submitted()), ce_id=event_id)
    for _ in range(3):
        await consumer.handle(incoming)
    assert dead.sent == []
    assert store.counts() == (1, 1)


async def test_the_same_id_from_two_sources_is_two_events(store: PlumbingStore) -> None:
    """An id is unique within its source only: referrals' event 1 and directory's event 1
    are two events, each processed once."""
    dead = DeadLetters()
    consumer = EventConsumer(
        group_id="test",
        handlers={ReferralSubmitted: answer_with_no_match, NoMatchFound: committing},
        uow_factory=store.start_uow,
        dead_letter_topic="test.deadletter.v1",
        publish_raw=dead.publish,
    )
    no_match = NoMatchFound(referral_id=uuid4(), reason="test")
    for event in [submitted(), no_match, submitted()]:
        await consumer.handle(with_headers(record_of(event), ce_id="1"))
    assert dead.sent == []
    assert store.counts() == (2, 1)  # each once; only referrals' handler publishes


@pytest.mark.parametrize(
    "headers",
    [
        {"ce_id": "x" * (MAX_EVENT_ID_LENGTH + 1)},
        {"ce_source": "/" * (MAX_EVENT_ID_LENGTH + 1)},
        {"ce_source": ""},
    ],
    ids=["id-too-long", "source-too-long", "no-source"],
)
async def test_an_event_without_a_sensible_id_and_source_is_dead_lettered(
    store: PlumbingStore, headers: dict[str, str]
) -> None:
    dead = DeadLetters()
    await consumer_on(store, dead).handle(with_headers(record_of(submitted()), **headers))
    [(_, _, letter)] = dead.sent
    assert letter["dlq_attempts"] == "0"
    assert "ce_" in letter["dlq_reason"]
    assert store.counts() == (0, 0)


def test_only_a_commit_that_writes_outbox_rows_wakes_the_relay(store: PlumbingStore) -> None:
    wakes: list[str] = []
    with UnitOfWork(store.session_factory, "/brobygger/test", lambda: wakes.append("")) as uow:
        assert uow.record_processed("ignored-1", "x.y", "/brobygger/test")
        uow.commit()
    assert wakes == [], "an event handled without publishing leaves the relay asleep"

    with UnitOfWork(store.session_factory, "/brobygger/test", lambda: wakes.append("")) as uow:
        uow.publish(submitted())
        uow.commit()
    assert wakes == [""]
