"""The inbox takes any CloudEvents id: unique within its source, of any sensible length."""

import dataclasses
from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from runtime.consumer import IncomingRecord
from runtime.storage import MAX_EVENT_ID_LENGTH
from tests.kit import record_of
from tests.runtime.plumbing import (
    DeadLetters,
    PlumbingStore,
    consumer_on,
    plumbing_store_on,
    submitted,
)


@pytest.fixture
def store(engine_for: Callable[[str], Engine]) -> PlumbingStore:
    return plumbing_store_on(engine_for("directory"))


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
    dead = DeadLetters()
    consumer = consumer_on(store, dead)
    for source in ["/partners/a", "/partners/b", "/partners/a"]:
        await consumer.handle(with_headers(record_of(submitted()), ce_id="1", ce_source=source))
    assert dead.sent == []
    assert store.counts() == (2, 2)


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
