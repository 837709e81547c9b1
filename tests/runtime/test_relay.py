"""The outbox relay, on a broker double: each aggregate's events go out in commit order and
are marked only once acknowledged; a row that can never go out is set aside after capped
attempts without holding up other aggregates; a broker that is down is no row's fault."""

import asyncio
from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID, uuid4

import pytest
from aiokafka.errors import (
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)
from sqlalchemy import Engine, event, select

from runtime.envelope import OutgoingMessage
from runtime.logs import configure_logging
from runtime.relay import OutboxRelay, retry_set_aside
from runtime.storage import outbox
from tests.conftest import log_events
from tests.kit import eventually
from tests.runtime.plumbing import PlumbingStore, plumbing_store_on, submitted, travelling_on

MAX_ATTEMPTS = 3


class Clock:
    """Monotonic seconds that only the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def pass_backoff(self) -> None:
        self.now += 60


class FakeBroker:
    """Acknowledges what it is sent, unless told to fail some aggregates' records."""

    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []
        self.failing: dict[str, Exception] = {}  # key -> what publishing it raises
        self.reachable = True
        self.tries: list[str] = []

    async def publish(self, message: OutgoingMessage) -> None:
        self.tries.append(message.key)
        if message.key in self.failing:
            raise self.failing[message.key]
        self.sent.append(message)

    async def answers(self) -> bool:
        return self.reachable

    def keys(self) -> list[str]:
        return [message.key for message in self.sent]


@pytest.fixture
def store(engine_for: Callable[[str], Engine]) -> PlumbingStore:
    return plumbing_store_on(engine_for("referrals"))


@pytest.fixture
def broker() -> FakeBroker:
    return FakeBroker()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def relay(store: PlumbingStore, broker: FakeBroker, clock: Clock) -> OutboxRelay:
    """A relay whose partners' topics may be dropped, as notifications' is."""
    return OutboxRelay(
        store.session_factory,
        broker.publish,
        broker_reachable=broker.answers,
        max_attempts=MAX_ATTEMPTS,
        batch_size=10,
        clock=clock,
        discardable=lambda topic: topic.startswith("partner."),
    )


def rows(store: PlumbingStore) -> list[Any]:
    with store.engine.connect() as connection:
        return list(connection.execute(select(outbox).order_by(outbox.c.seq)))


def by_key(store: PlumbingStore) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {}
    for row in rows(store):
        grouped.setdefault(row.key, []).append(row)
    return grouped


def aggregates(*ids: UUID) -> Iterator[str]:
    return (str(i) for i in ids)


async def test_each_aggregates_events_are_published_in_commit_order_and_marked_once(
    store: PlumbingStore, broker: FakeBroker, relay: OutboxRelay
) -> None:
    a, b = uuid4(), uuid4()
    store.commit_events(submitted(a), submitted(b), submitted(a), submitted(b), submitted(a))
    committed = [row.event_id for row in rows(store)]

    await relay.publish_pending()

    for key in aggregates(a, b):
        assert [m.event_id for m in broker.sent if m.key == key] == [
            row.event_id for row in by_key(store)[key]
        ]
    assert sorted(m.event_id for m in broker.sent) == sorted(committed)
    assert all(row.published_at for row in rows(store))
    await relay.publish_pending()
    assert len(broker.sent) == 5, "published rows are not sent again"


async def test_a_failure_nobody_can_blame_is_retried_without_counting_and_keeps_order(
    store: PlumbingStore, broker: FakeBroker, relay: OutboxRelay, clock: Clock
) -> None:
    a, b = uuid4(), uuid4()
    store.commit_events(submitted(a), submitted(a), submitted(b))
    broker.failing[str(a)] = KafkaTimeoutError()  # the broker answers, but not in time

    for _ in range(MAX_ATTEMPTS + 1):
        await relay.publish_pending()
        clock.pass_backoff()

    first, second = by_key(store)[str(a)]
    assert (first.published_at, first.attempts, first.failed_at) == (None, 0, None)
    assert "KafkaTimeoutError" in first.last_error
    assert second.published_at is None
    assert broker.tries.count(str(a)) == MAX_ATTEMPTS + 1, "never the second before the first"
    assert broker.keys() == [str(b)]

    del broker.failing[str(a)]
    await relay.publish_pending()
    assert broker.keys() == [str(b), str(a), str(a)]
    assert [m.event_id for m in broker.sent[1:]] == [first.event_id, second.event_id]


async def test_a_row_at_fault_is_set_aside_after_capped_attempts_and_its_aggregate_waits(
    store: PlumbingStore,
    broker: FakeBroker,
    relay: OutboxRelay,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    configure_logging("relay-test")
    caplog.set_level("INFO")
    big, other = uuid4(), uuid4()
    store.commit_events(submitted(big, interests=["secret-interest"]), submitted(big))
    broker.failing[str(big)] = MessageSizeTooLargeError()

    for attempt in range(1, MAX_ATTEMPTS + 1):
        await relay.publish_pending()
        [first, _] = by_key(store)[str(big)]
        assert first.attempts == attempt
        assert (first.failed_at is not None) == (attempt == MAX_ATTEMPTS)
        store.commit_events(submitted(other))  # other aggregates go on meanwhile
        clock.pass_backoff()

    await relay.publish_pending()
    first, second = by_key(store)[str(big)]
    assert "MessageSizeTooLargeError" in first.last_error
    assert (second.published_at, second.attempts) == (None, 0), "it waits behind the first"
    assert broker.tries.count(str(big)) == MAX_ATTEMPTS, "a set-aside row is not tried again"
    assert broker.keys() == [str(other)] * MAX_ATTEMPTS

    [set_aside] = [line for line in log_events(caplog) if line["event"] == "outbox.set_aside"]
    assert set_aside["level"] == "error"
    assert (set_aside["seq"], set_aside["event_id"]) == (first.seq, first.event_id)
    assert (set_aside["topic"], set_aside["attempts"]) == (first.topic, MAX_ATTEMPTS)
    assert "secret-interest" not in caplog.text, "no payload in the logs"

    del broker.failing[str(big)]
    [put_back] = retry_set_aside(store.session_factory)
    assert put_back.seq == first.seq
    await relay.publish_pending()
    assert [m.event_id for m in broker.sent if m.key == str(big)] == [
        first.event_id,
        second.event_id,
    ]
    assert all(row.published_at for row in rows(store))


async def test_an_unreachable_broker_charges_no_row_however_long_it_stays_away(
    store: PlumbingStore, broker: FakeBroker, relay: OutboxRelay, clock: Clock
) -> None:
    a, b = uuid4(), uuid4()
    store.commit_events(submitted(a), submitted(b))
    # What aiokafka raises, once its metadata wait ends, for a topic it has not cached
    # while the broker is down: the same as for a topic that does not exist.
    down = UnknownTopicOrPartitionError()
    broker.failing = {str(a): down, str(b): down}
    broker.reachable = False

    for _ in range(3 * MAX_ATTEMPTS):
        await relay.publish_pending()
        clock.pass_backoff()

    assert broker.tries.count(str(a)) == 3 * MAX_ATTEMPTS
    assert [(row.attempts, row.failed_at) for row in rows(store)] == [(0, None), (0, None)]

    broker.failing, broker.reachable = {}, True
    await relay.publish_pending()
    assert sorted(broker.keys()) == sorted(aggregates(a, b))
    assert [(row.attempts, row.failed_at) for row in rows(store)] == [(0, None), (0, None)]


async def test_an_outage_pauses_the_relay_until_its_backoff_has_passed(
    store: PlumbingStore, broker: FakeBroker, relay: OutboxRelay, clock: Clock
) -> None:
    a = uuid4()
    store.commit_events(submitted(a))
    broker.failing[str(a)] = KafkaTimeoutError()
    broker.reachable = False
    await relay.publish_pending()
    del broker.failing[str(a)]
    broker.reachable = True

    await relay.publish_pending()
    assert broker.sent == [], "paused"
    clock.pass_backoff()
    await relay.publish_pending()
    assert broker.keys() == [str(a)]


async def test_a_row_that_is_slow_to_fail_holds_up_only_its_own_aggregate(
    store: PlumbingStore,
) -> None:
    stuck, free = uuid4(), uuid4()
    release = asyncio.Event()
    sent: list[str] = []

    async def publish(message: OutgoingMessage) -> None:
        if message.key == str(stuck):
            await release.wait()  # as aiokafka waits for metadata of an unknown topic
            raise UnknownTopicOrPartitionError()
        sent.append(message.key)

    async def answers() -> bool:
        return True

    relay = OutboxRelay(store.session_factory, publish, broker_reachable=answers, poll_seconds=0.05)
    store.commit_events(submitted(stuck), submitted(free))
    running = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: sent == [str(free)], timeout=10)
        store.commit_events(submitted(free))
        relay.wake()
        await eventually(lambda: sent == [str(free)] * 2, timeout=10)
        release.set()
        await eventually(lambda: by_key(store)[str(stuck)][0].attempts == 1, timeout=10)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert [row.published_at is not None for row in by_key(store)[str(free)]] == [True, True]


PARTNER_A, PARTNER_B = "partner.a.v1", "partner.b.v1"


@pytest.mark.parametrize(
    "gone", [TopicAuthorizationFailedError(), UnknownTopicOrPartitionError()], ids=type
)
async def test_what_waits_for_a_discardable_topic_that_is_gone_is_dropped_and_the_rest_goes_on(
    store: PlumbingStore,
    broker: FakeBroker,
    relay: OutboxRelay,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    gone: Exception,
) -> None:
    configure_logging("relay-test")
    caplog.set_level("INFO")
    revoked, kept, internal = uuid4(), uuid4(), uuid4()
    on_a, on_b = travelling_on(PARTNER_A), travelling_on(PARTNER_B)
    store.commit_events(
        submitted(revoked, contract=on_a),
        submitted(revoked, contract=on_a),
        submitted(kept, contract=on_b),
        submitted(internal),
    )
    broker.failing[str(revoked)] = gone

    await relay.publish_pending()
    clock.pass_backoff()
    await relay.publish_pending()

    assert broker.tries.count(str(revoked)) == 1, "what waited behind it is not tried"
    assert sorted(broker.keys()) == sorted(aggregates(kept, internal))
    for row in by_key(store)[str(revoked)]:
        assert row.published_at is not None
        assert (row.attempts, row.failed_at) == (0, None)
        assert row.last_error.startswith("discarded: ")
        assert type(gone).__name__ in row.last_error
    [dropped] = [line for line in log_events(caplog) if line["event"] == "outbox.discarded"]
    assert (dropped["level"], dropped["topic"]) == ("warning", PARTNER_A)


async def test_a_discardable_topic_is_not_dropped_while_the_broker_is_down(
    store: PlumbingStore, broker: FakeBroker, relay: OutboxRelay, clock: Clock
) -> None:
    waiting = uuid4()
    store.commit_events(submitted(waiting, contract=travelling_on(PARTNER_A)))
    broker.failing[str(waiting)] = UnknownTopicOrPartitionError()
    broker.reachable = False
    await relay.publish_pending()
    [row] = rows(store)
    assert row.published_at is None

    del broker.failing[str(waiting)]
    broker.reachable = True
    clock.pass_backoff()
    await relay.publish_pending()
    assert broker.keys() == [str(waiting)]


async def test_a_topic_not_named_discardable_is_set_aside_when_it_cannot_be_written(
    store: PlumbingStore, broker: FakeBroker, relay: OutboxRelay, clock: Clock
) -> None:
    stuck = uuid4()
    store.commit_events(submitted(stuck))
    broker.failing[str(stuck)] = TopicAuthorizationFailedError()
    for _ in range(MAX_ATTEMPTS):
        await relay.publish_pending()
        clock.pass_backoff()
    [row] = rows(store)
    assert (row.published_at, row.attempts) == (None, MAX_ATTEMPTS)
    assert row.failed_at is not None


class PipeliningBroker:
    """Takes what it is handed at once, as a producer does, and acknowledges it when the
    test says so."""

    def __init__(self) -> None:
        self.handed: list[OutgoingMessage] = []
        self.acks: list[asyncio.Future[None]] = []

    async def publish(self, message: OutgoingMessage) -> asyncio.Future[None]:
        self.handed.append(message)
        self.acks.append(asyncio.get_running_loop().create_future())
        return self.acks[-1]

    async def answers(self) -> bool:
        return True


async def test_a_lanes_rows_are_handed_over_in_order_several_in_flight_marked_once_acknowledged(
    store: PlumbingStore,
) -> None:
    broker = PipeliningBroker()
    a = uuid4()
    store.commit_events(submitted(a), submitted(a), submitted(a))
    relay = OutboxRelay(store.session_factory, broker.publish, broker_reachable=broker.answers)

    round_of_publishing = asyncio.create_task(relay.publish_pending())
    await eventually(lambda: len(broker.handed) == 3, "all three handed over unacknowledged")
    assert [m.event_id for m in broker.handed] == [row.event_id for row in rows(store)]
    assert not any(row.published_at for row in rows(store))

    for ack in broker.acks:
        ack.set_result(None)
    await round_of_publishing
    assert all(row.published_at for row in rows(store))


async def test_a_row_the_broker_refuses_after_the_hand_over_is_charged_and_what_it_took_is_marked(
    store: PlumbingStore, clock: Clock
) -> None:
    broker = PipeliningBroker()
    a = uuid4()
    store.commit_events(submitted(a), submitted(a))
    relay = OutboxRelay(
        store.session_factory, broker.publish, broker_reachable=broker.answers, clock=clock
    )

    round_of_publishing = asyncio.create_task(relay.publish_pending())
    await eventually(lambda: len(broker.acks) == 2)
    broker.acks[0].set_exception(MessageSizeTooLargeError())
    broker.acks[1].set_result(None)  # the producer does not take back what it was handed
    await round_of_publishing

    refused, taken = rows(store)
    assert (refused.published_at, refused.attempts) == (None, 1)
    assert "MessageSizeTooLarge" in refused.last_error
    assert taken.published_at is not None, "on the topic already: not to be sent twice"


def counting_fetches(engine: Engine) -> list[str]:
    """The relay's queries for ready rows, as the engine runs them."""
    fetches: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def noted(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "published_at IS NULL" in statement:
            fetches.append(statement)

    return fetches


async def test_a_lane_that_ends_is_recorded_without_a_query_for_ready_rows_of_its_own(
    store: PlumbingStore,
) -> None:
    broker = PipeliningBroker()
    relay = OutboxRelay(
        store.session_factory, broker.publish, broker_reachable=broker.answers, poll_seconds=60
    )
    fetches = counting_fetches(store.engine)
    running = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: len(fetches) == 1, "the first round's fetch")
        for n in range(1, 4):
            store.commit_events(submitted())
            relay.wake()
            await eventually(lambda n=n: len(broker.acks) == n, "the commit's row handed over")
            broker.acks[-1].set_result(None)
            await eventually(lambda n=n: sum(bool(r.published_at) for r in rows(store)) == n)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert len(fetches) == 1 + 3, "one query per commit, none for a lane that ends"


async def test_a_row_committed_while_its_aggregates_lane_runs_goes_out_when_the_lane_ends(
    store: PlumbingStore,
) -> None:
    broker = PipeliningBroker()
    a = uuid4()
    relay = OutboxRelay(
        store.session_factory, broker.publish, broker_reachable=broker.answers, poll_seconds=60
    )
    fetches = counting_fetches(store.engine)
    store.commit_events(submitted(a))
    running = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: len(broker.handed) == 1)
        store.commit_events(submitted(a))
        relay.wake()  # its fetch passes the aggregate over: its lane still runs
        await eventually(lambda: len(fetches) == 2, "the commit's fetch")
        assert len(broker.handed) == 1, "not behind the first before it is acknowledged"
        broker.acks[0].set_result(None)
        await eventually(lambda: len(broker.handed) == 2, "long before the next poll", timeout=5)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert [m.event_id for m in broker.handed] == [row.event_id for row in rows(store)]
