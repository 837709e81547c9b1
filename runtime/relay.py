"""The outbox relay: publishes committed outbox rows to Kafka, each aggregate's in commit
order, at least once.

A row is marked published only after the broker acknowledged it (idempotent producer,
acks=all). A crash between the acknowledgement and the mark publishes the row again on
restart, with the same `ce_id`; consumers drop it through their inbox.

Each aggregate (topic and key) has a lane of its own: its rows go out in `seq` order, while
other aggregates' lanes run alongside. A lane hands all its rows to the producer one after
another and then waits for their acknowledgements, in order: the idempotent producer keeps
a partition's records in the order they were handed to it, and retries a batch rather
than dropping it while the broker may still take it. A row whose hand-off fails stops its
lane there (the rows after it are not handed over). A row the broker refuses after the
hand-off (too large for its topic) cannot take back the rows handed after it: those the
broker acknowledged are marked published with the others, so that none goes out twice.
On the topics Brobygger runs that does not happen for a record's size: the producer
refuses at the hand-off a record over its `max_request_size` (1 MiB), and its batches of
several records stay under 16 KiB, both below the broker's `message.max.bytes` (1 MiB +
12 bytes; infra sets no topic's `max.message.bytes`). Where a topic's limit is smaller, the
broker refuses the oversized batch and then, by the idempotent producer's sequence numbers,
the partition's later batches too (`OutOfOrderSequenceNumber`), so they do not overtake it.
A row that is slow to fail so holds up only its own aggregate: for a topic that does not
exist the producer waits `request_timeout_ms` (40 s by default) for metadata before it
gives up.

Whose fault a failed publish is decides what follows:

- the row's: the error says the record can never go out as it is (larger than the broker
  accepts, no such topic, a topic it may not write), and the broker answers a probe right
  after. That counts as an attempt; at `max_attempts` the row is set aside (`failed_at`)
  for an operator (`brobygger outbox failed|retry`).
- the broker's: the probe gets no answer. Only the probe can tell: a producer whose broker
  is down raises the same "unknown topic" error for a topic it has not cached. No row is
  charged; the relay pauses, with back-off, however long the outage lasts.
- unclear (a timeout, a partition without leader, anything else while the broker answers):
  nothing is counted; the aggregate is tried again with back-off, its error kept in
  `last_error`.
- the topic's, on a topic the service was given to write for a while (a partner's, see
  `discardable`): once the topic is gone or no longer the service's to write, every row
  still waiting for it is discarded (marked published, `last_error` saying why), as a
  webhook whose endpoint was removed is not sent.

Until a row is published, the later rows of its aggregate wait: after a failure, and for
as long as the row is set aside.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiokafka.errors import (
    InvalidTopicError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)
from sqlalchemy import Connection, Select, bindparam, exists, select, tuple_, update
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from runtime.envelope import OutgoingMessage
from runtime.logs import get_logger
from runtime.storage import outbox, utcnow

Publish = Callable[[OutgoingMessage], Awaitable[Awaitable[object] | None]]
"""Hands a message to the producer, behind those handed before it, and returns what
completes once the broker acknowledged it (or None once it has already)."""
Probe = Callable[[], Awaitable[bool]]
"""Whether the broker answers right now."""
Aggregate = tuple[str, str]
"""(topic, key): one aggregate's events, whose order must hold."""

GONE_FAULTS: tuple[type[Exception], ...] = (
    UnknownTopicOrPartitionError,
    TopicAuthorizationFailedError,
)
"""Errors that say the topic is not there to write, or not for this service."""

ROW_FAULTS: tuple[type[Exception], ...] = (
    MessageSizeTooLargeError,  # over the producer's max_request_size or the topic's limit
    RecordListTooLargeError,
    UnknownTopicOrPartitionError,  # no such topic, once the broker is known to answer
    InvalidTopicError,
    TopicAuthorizationFailedError,
)
"""Errors that say the record cannot go out as it is, whenever it is tried."""

log = get_logger(component="outbox-relay")


class Blame(enum.Enum):
    """Whose fault a failed publish is (see the module's docstring)."""

    ROW = "row"
    OUTAGE = "outage"
    UNCLEAR = "unclear"
    GONE = "gone"


@dataclass(frozen=True)
class PendingRow:
    seq: int
    attempts: int
    message: OutgoingMessage

    @property
    def aggregate(self) -> Aggregate:
        return (self.message.topic, self.message.key)


@dataclass
class LaneOutcome:
    """What one lane did: the rows the broker acknowledged, and the row it stopped at."""

    published: list[int] = field(default_factory=list)
    failed: PendingRow | None = None
    error: str = ""
    blame: Blame | None = None


@dataclass
class Backoff:
    first: float
    most: float
    failures: int = 0
    until: float = 0.0

    def failed(self, now: float) -> float:
        delay = min(self.first * 2.0**self.failures, self.most)
        self.failures += 1
        self.until = now + delay
        return delay


def describe(error: BaseException) -> str:
    """The error for logs and `last_error`: Kafka's errors name no record contents."""
    text = str(error)
    name = type(error).__name__
    return text if name in text else f"{name}: {text}"


def _ready_rows() -> Select[Any]:
    """Unpublished rows not set aside, none of them behind a row of its aggregate that is."""
    earlier = outbox.alias("earlier")
    behind_set_aside = exists().where(
        earlier.c.topic == outbox.c.topic,
        earlier.c.key == outbox.c.key,
        earlier.c.seq < outbox.c.seq,
        earlier.c.failed_at.is_not(None),
        earlier.c.published_at.is_(None),
    )
    return select(outbox).where(
        outbox.c.published_at.is_(None), outbox.c.failed_at.is_(None), ~behind_set_aside
    )


# Built once, with the values bound per call: constructing a statement (an alias, an
# EXISTS, its cache key) cost more than running it, each round.
_READY = _ready_rows().order_by(outbox.c.seq).limit(bindparam("limit"))
_READY_EXCEPT = (
    _ready_rows()
    .where(tuple_(outbox.c.topic, outbox.c.key).not_in(bindparam("waiting", expanding=True)))
    .order_by(outbox.c.seq)
    .limit(bindparam("limit"))
)
_MARK_PUBLISHED = (
    update(outbox)
    .where(outbox.c.seq.in_(bindparam("seqs", expanding=True)))
    .values(published_at=bindparam("now"))
)


class OutboxRelay:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        publish: Publish,
        *,
        broker_reachable: Probe,
        max_attempts: int = 5,
        batch_size: int = 200,
        poll_seconds: float = 1.0,
        first_backoff_seconds: float = 0.1,
        max_backoff_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        discardable: Callable[[str], bool] = lambda _topic: False,
    ) -> None:
        """`discardable(topic)`: whether the rows of `topic` are dropped once it cannot be
        written (see the module's docstring) rather than set aside for an operator."""
        self._session_factory = session_factory
        self._publish = publish
        self._broker_reachable = broker_reachable
        self._max_attempts = max_attempts
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._first_backoff = first_backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._clock = clock
        self._discardable = discardable
        self._lanes: dict[Aggregate, asyncio.Task[LaneOutcome]] = {}
        self._held: dict[Aggregate, Backoff] = {}  # aggregates that failed, until retry
        self._outage = self._backoff()
        self._wakeup = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        # Whether rows may have become ready since the last fetch: a commit, the poll, a
        # held aggregate or the outage pause due, or a fetch that was full.
        self._fetch_due = True
        self._woken = False  # a commit's call into the loop is under way
        # Aggregates a fetch passed over while their lane ran: rows committed meanwhile
        # wait for a fetch once the lane is settled.
        self._passed_over: set[Aggregate] = set()

    def wake(self) -> None:
        """Called after a commit, from any thread: publish now rather than at the next poll.
        Commits close together share one call into the event loop."""
        if self._loop is not None and not self._woken:
            self._woken = True
            self._loop.call_soon_threadsafe(self._committed)

    def _committed(self) -> None:
        self._woken = False  # first: a commit after this point calls again
        self._fetch_due = True
        self._wakeup.set()

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._fetch_due = True
        trouble = self._backoff()  # the database's
        try:
            while True:
                self._wakeup.clear()
                try:
                    more = await self._round()
                    trouble = self._backoff()
                except Exception as error:
                    delay = trouble.failed(self._clock())
                    log.warning("outbox.relay_failed", error=describe(error), retry_in_s=delay)
                    await asyncio.sleep(delay)
                    self._fetch_due = True
                    continue
                if more:
                    self._fetch_due = True
                    continue
                try:
                    await asyncio.wait_for(self._wakeup.wait(), self._idle_seconds())
                except TimeoutError:
                    self._fetch_due = True  # the poll, or a held aggregate or the pause due
        finally:
            for lane in self._lanes.values():
                lane.cancel()
            await asyncio.gather(*self._lanes.values(), return_exceptions=True)
            self._lanes.clear()
            self._passed_over.clear()

    async def publish_pending(self) -> None:
        """One round of `run`, waited out: a lane for each aggregate with rows ready, one
        try of its first failing row, and the outcome recorded."""
        self._fetch_due = True
        await self._round()
        if self._lanes:
            await asyncio.wait(self._lanes.values())
        await self._round(fetch=False)

    def _backoff(self) -> Backoff:
        return Backoff(self._first_backoff, self._max_backoff)

    def _idle_seconds(self) -> float:
        """Until the next poll, or sooner when a held aggregate or the outage pause is due."""
        now = self._clock()
        due = [b.until for b in self._held.values() if b.until > now]
        if self._outage.until > now:
            due.append(self._outage.until)
        return min([self._poll_seconds, *(d - now for d in due)])

    async def _round(self, *, fetch: bool = True) -> bool:
        """Record what the finished lanes did and, when rows may have become ready, start
        lanes for them: one thread hop and one session for both. True if there may be more
        ready rows than there was room for."""
        finished = {a: lane for a, lane in self._lanes.items() if lane.done()}
        outcomes = {aggregate: self._lanes.pop(aggregate).result() for aggregate in finished}
        fetch = fetch and (self._fetch_due or not self._passed_over.isdisjoint(outcomes))
        self._passed_over.difference_update(outcomes)
        room = self._batch_size - len(self._lanes)
        pausing = any(outcome.blame is Blame.OUTAGE for outcome in outcomes.values())
        now = self._clock()
        limit = 0
        if fetch and room > 0 and not pausing and self._outage.until <= now:
            limit = room
        if not outcomes and not limit:
            return False
        # Not the aggregates with a lane, nor those held back (what failed just now will be).
        waiting = set(self._lanes)
        waiting |= {a for a, b in self._held.items() if b.until > now}
        waiting |= {a for a, o in outcomes.items() if o.failed is not None}
        if limit:
            self._fetch_due = False
            self._passed_over |= self._lanes.keys()
        set_aside, fetched = await asyncio.to_thread(
            self._record_and_fetch, list(outcomes.values()), waiting, limit
        )
        self._settle(outcomes, set_aside)
        if isinstance(fetched, Exception):
            self._fetch_due = True
            raise fetched
        self._start_lanes(fetched)
        return bool(limit) and len(fetched) == limit

    def _start_lanes(self, rows: list[PendingRow]) -> None:
        by_aggregate: dict[Aggregate, list[PendingRow]] = {}
        for row in rows:
            by_aggregate.setdefault(row.aggregate, []).append(row)
        for aggregate, lane_rows in by_aggregate.items():
            lane = asyncio.create_task(self._lane(lane_rows))
            # A lane's end is settled at once; it asks for no fetch by itself.
            lane.add_done_callback(lambda _: self._wakeup.set())
            self._lanes[aggregate] = lane

    async def _lane(self, rows: list[PendingRow]) -> LaneOutcome:
        outcome = LaneOutcome()
        handed: list[tuple[PendingRow, Awaitable[object] | None]] = []
        failure: tuple[PendingRow, Exception] | None = None
        for row in rows:
            try:
                handed.append((row, await self._publish(row.message)))
            except Exception as error:
                failure = (row, error)
                break
        refused: tuple[PendingRow, Exception] | None = None
        for row, acknowledged in handed:
            try:
                if acknowledged is not None:
                    await acknowledged
            except Exception as error:
                refused = refused or (row, error)
                continue
            outcome.published.append(row.seq)
        failure = refused or failure
        if failure is not None:
            failed, reason = failure
            outcome.failed, outcome.error = failed, describe(reason)
            outcome.blame = await self._blame(reason)
            if (
                outcome.blame is Blame.ROW
                and isinstance(reason, GONE_FAULTS)
                and self._discardable(failed.message.topic)
            ):
                outcome.blame = Blame.GONE
        return outcome

    async def _blame(self, error: Exception) -> Blame:
        try:
            reachable = await self._broker_reachable()
        except Exception:
            reachable = False
        if not reachable:
            return Blame.OUTAGE
        return Blame.ROW if isinstance(error, ROW_FAULTS) else Blame.UNCLEAR

    def _settle(self, outcomes: dict[Aggregate, LaneOutcome], set_aside: set[int]) -> None:
        """Hold back what failed, now that the lanes' outcomes are recorded."""
        now = self._clock()
        outages = 0
        for aggregate, outcome in outcomes.items():
            row = outcome.failed
            if outcome.published:
                self._outage = self._backoff()  # the broker acknowledged: it is back
            if row is None:
                self._held.pop(aggregate, None)
            elif outcome.blame is Blame.GONE:
                self._held.pop(aggregate, None)
                log.warning(
                    "outbox.discarded",
                    topic=row.message.topic,
                    error=outcome.error,
                    detail="the topic cannot be written any more: what waited for it is dropped",
                )
            elif row.seq in set_aside:
                self._held.pop(aggregate, None)
                log.error(
                    "outbox.set_aside",
                    seq=row.seq,
                    event_id=row.message.event_id,
                    event_type=row.message.headers.get("ce_type"),
                    topic=row.message.topic,
                    aggregate_id=row.message.key,
                    attempts=row.attempts + 1,
                    error=outcome.error,
                    hint="later events of this aggregate wait; see `brobygger outbox failed "
                    "<service>`, and once the cause is fixed, `brobygger outbox retry <service>`",
                )
            elif outcome.blame is Blame.OUTAGE:
                outages += 1
            else:
                delay = self._held.setdefault(aggregate, self._backoff()).failed(now)
                log.warning(
                    "outbox.publish_failed",
                    seq=row.seq,
                    event_id=row.message.event_id,
                    topic=row.message.topic,
                    counted=outcome.blame is Blame.ROW,
                    error=outcome.error,
                    retry_in_s=delay,
                )
        if outages:
            delay = self._outage.failed(now)
            log.warning("outbox.broker_unreachable", failed_publishes=outages, retry_in_s=delay)

    def _record_and_fetch(
        self, outcomes: list[LaneOutcome], waiting: set[Aggregate], limit: int
    ) -> tuple[set[int], list[PendingRow] | Exception]:
        """`_record` the outcomes, then (if `limit`) `_fetch_ready`, in one session. A
        failed fetch is returned, not raised: what was recorded stands and is settled."""
        set_aside: set[int] = set()
        # Core statements on the session's connection: the ORM's execute path adds
        # nothing to them but its cost.
        with self._session_factory() as session:
            if outcomes:
                set_aside = self._record(session.connection(), outcomes)
                session.commit()
            if not limit:
                return set_aside, []
            try:
                return set_aside, self._fetch_ready(session.connection(), waiting, limit)
            except Exception as error:
                return set_aside, error

    def _fetch_ready(
        self, connection: Connection, waiting: set[Aggregate], limit: int
    ) -> list[PendingRow]:
        """The first unpublished rows in `seq` order, but none of an aggregate in `waiting`
        or of one whose earlier row is set aside."""
        if waiting:
            result = connection.execute(_READY_EXCEPT, {"waiting": list(waiting), "limit": limit})
        else:
            result = connection.execute(_READY, {"limit": limit})
        return [
            PendingRow(
                seq=row.seq,
                attempts=row.attempts,
                message=OutgoingMessage(
                    event_id=row.event_id,
                    topic=row.topic,
                    key=row.key,
                    headers=dict(row.headers),
                    value=bytes(row.value),
                ),
            )
            for row in result
        ]

    def _record(self, connection: Connection, outcomes: list[LaneOutcome]) -> set[int]:
        """Mark what was published and count the rows' own failures (the caller commits);
        the seqs set aside."""
        now = utcnow()
        published = [seq for outcome in outcomes for seq in outcome.published]
        set_aside: set[int] = set()
        if published:
            connection.execute(_MARK_PUBLISHED, {"seqs": published, "now": now})
        for outcome in outcomes:
            row = outcome.failed
            if row is None or outcome.blame is Blame.OUTAGE:
                continue
            if outcome.blame is Blame.GONE:
                connection.execute(
                    update(outbox)
                    .where(outbox.c.topic == row.message.topic, outbox.c.published_at.is_(None))
                    .values(published_at=now, last_error=f"discarded: {outcome.error}"[:2000])
                )
                continue
            values: dict[str, object] = {"last_error": outcome.error[:2000]}
            if outcome.blame is Blame.ROW:
                values["attempts"] = row.attempts + 1
                if row.attempts + 1 >= self._max_attempts:
                    values["failed_at"] = now
                    set_aside.add(row.seq)
            connection.execute(update(outbox).where(outbox.c.seq == row.seq).values(values))
        return set_aside


@dataclass(frozen=True)
class SetAsideRow:
    """An outbox row the relay gave up on, as an operator sees it."""

    seq: int
    event_id: str
    event_type: str
    topic: str
    key: str
    attempts: int
    error: str
    failed_at: datetime

    def summary(self) -> str:
        return (
            f"#{self.seq} {self.event_type} id={self.event_id} topic={self.topic} "
            f"key={self.key} set aside {self.failed_at.isoformat(timespec='seconds')} "
            f"after {self.attempts} attempt(s): {self.error}"
        )


def set_aside_rows(session_factory: sessionmaker[Session]) -> list[SetAsideRow]:
    """The rows set aside and not published since, in outbox order."""
    with session_factory() as session:
        rows = session.execute(
            select(outbox)
            .where(outbox.c.failed_at.is_not(None), outbox.c.published_at.is_(None))
            .order_by(outbox.c.seq)
        )
        return [
            SetAsideRow(
                seq=row.seq,
                event_id=row.event_id,
                event_type=row.headers.get("ce_type", "?"),
                topic=row.topic,
                key=row.key,
                attempts=row.attempts,
                error=row.last_error or "",
                failed_at=row.failed_at,
            )
            for row in rows
        ]


def retry_set_aside(session_factory: sessionmaker[Session]) -> list[SetAsideRow]:
    """Put every set-aside row back, its attempts counted from zero again; the relay takes
    them at its next poll. Returns the rows put back."""
    rows = set_aside_rows(session_factory)
    with session_factory() as session:
        session.execute(
            update(outbox)
            .where(outbox.c.seq.in_([row.seq for row in rows]))
            .values(failed_at=None, attempts=0)
        )
        session.commit()
    return rows
