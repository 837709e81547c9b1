"""Database engine, the outbox and inbox tables, and the unit of work services commit through.

The outbox and inbox live in each service's own database, next to its tables, so that a
state change, the events it causes and the record of the event that caused it commit in
one transaction.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    CursorResult,
    DateTime,
    Dialect,
    Engine,
    Executable,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    bindparam,
    create_engine,
    delete,
    event,
    insert,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from contracts import IntegrationEvent
from runtime.clock import utcnow as utcnow  # re-exported for older imports
from runtime.commit_signal import OUTBOX_CHANNEL
from runtime.envelope import OutgoingMessage, envelope, forwarded


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC, also on SQLite (which drops zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime: store timezone-aware UTC timestamps only")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


plumbing_metadata = MetaData()

outbox = Table(
    "outbox",
    plumbing_metadata,
    # Integer on SQLite so it is the rowid alias and autoincrements; BIGINT elsewhere.
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("topic", String(200), nullable=False),
    Column("key", String(200), nullable=False),
    Column("headers", JSON, nullable=False),
    Column("value", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("published_at", UTCDateTime(), nullable=True, index=True),
    # Failed attempts that were the row's own fault (not the broker's); at the relay's
    # cap the row is set aside (failed_at) until an operator retries it.
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Column("failed_at", UTCDateTime(), nullable=True, index=True),
)

MAX_EVENT_ID_LENGTH = 1000
"""CloudEvents allow any non-empty `id` and `source`; longer ones are refused as malformed."""

inbox = Table(
    "inbox",
    plumbing_metadata,
    # An id is unique only within its source, and of any length: the key is a digest of both.
    Column("event_key", String(64), primary_key=True),
    Column("event_source", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("event_type", String(200), nullable=False),
    Column("processed_at", UTCDateTime(), nullable=False),
)


def inbox_key(source: str, event_id: str) -> str:
    """The inbox key of the event `event_id` from `source` (length-prefixed: unambiguous)."""
    return hashlib.sha256(f"{len(source)}:{source}{event_id}".encode()).hexdigest()


idempotency_keys = Table(
    "idempotency_key",
    plumbing_metadata,
    Column("principal", String(200), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("resource_id", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)


# The statements of every transaction, built once with their values bound per call:
# building one anew (coercing its arguments, its cache key) cost more than running it.
def _new_inbox_row(dialect: Any) -> Any:
    return (
        dialect.insert(inbox)
        .values({c.name: bindparam(c.name) for c in inbox.c})
        .on_conflict_do_nothing(index_elements=[inbox.c.event_key])
        # psycopg reports no rowcount for it: the row it returns says it was inserted.
        .returning(inbox.c.event_key)
    )


_NEW_INBOX_ROW = {"postgresql": _new_inbox_row(postgresql), "sqlite": _new_inbox_row(sqlite)}
_IDEMPOTENCY_KEY = select(idempotency_keys.c.fingerprint, idempotency_keys.c.resource_id).where(
    idempotency_keys.c.principal == bindparam("principal"),
    idempotency_keys.c.key == bindparam("key"),
)
_NEW_IDEMPOTENCY_KEY = insert(idempotency_keys)
_NEW_OUTBOX_ROWS = insert(outbox)
_OUTBOX_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('brobygger.outbox'))")
_OUTBOX_NOTIFY = text(f"NOTIFY {OUTBOX_CHANNEL}")


def prune_plumbing(
    session_factory: sessionmaker[Session],
    *,
    now: datetime,
    keep_published: timedelta,
    keep_processed: timedelta,
) -> tuple[int, int]:
    """Forget published outbox rows and inbox ids older than their keep-times.

    The inbox must outlive any redelivery, so keep processed ids longer than the topics'
    retention. Returns the numbers of (outbox, inbox) rows deleted.
    """
    with session_factory() as session:
        published = session.execute(
            delete(outbox).where(outbox.c.published_at < now - keep_published)
        )
        processed = session.execute(
            delete(inbox).where(inbox.c.processed_at < now - keep_processed)
        )
        session.commit()
    return published.rowcount, processed.rowcount  # type: ignore[attr-defined]


def make_engine(
    url: str, *, pool_size: int = 10, pool_timeout: float = 3.0, **kwargs: Any
) -> Engine:
    """An engine for PostgreSQL or SQLite; SQLite gets WAL so readers never block the writer,
    and durable commits.

    On PostgreSQL, `pool_size` connections are kept open (and up to 5 more under load); a
    checkout that finds them all busy for `pool_timeout` seconds raises
    `sqlalchemy.exc.TimeoutError`, which the API answers with 503.
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={
                "check_same_thread": False,
                "timeout": SQLITE_BUSY_SECONDS,
                "factory": _one_writer_at_a_time(),
            },
            **kwargs,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # FULL: each commit is fsynced, so an answered 201 survives a power loss (and
            # an offset committed after a handler's commit never runs ahead of it). In WAL
            # NORMAL would survive a crash of the process only; FULL costs ~0.3 ms a commit.
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=5,
        pool_timeout=pool_timeout,
        # The services ask short questions: a parallel worker takes longer to start (some
        # milliseconds) than such a query runs, and PostgreSQL plans one when its estimate
        # of a skewed column is high.
        connect_args={"options": "-c max_parallel_workers_per_gather=0"},
        **kwargs,
    )


SQLITE_BUSY_SECONDS = 30.0
"""How long a SQLite writer waits for the database's write lock before it fails."""

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def _one_writer_at_a_time() -> type[sqlite3.Connection]:
    """A connection class whose connections (one engine's) write one transaction at a time,
    queued on a lock in this process.

    SQLite has one write lock per database. A second writer that asks for it while it is
    held does not queue: SQLite's busy handler puts it to sleep for 1, 2, 5 ... up to
    100 ms and tries again, so under load writers sleep through most of the moments the
    lock is free. Here a transaction takes this lock at its first write (where the driver
    begins it and SQLite takes its own) and gives it back once its commit or rollback has
    returned, so this process's writers take SQLite's lock one after the other. Other
    processes on the same file (a second replica, a CLI) still meet SQLite's busy handler,
    and a writer that waits here as long as SQLite would have goes on to SQLite's.
    """
    lock = threading.Lock()

    class Cursor(sqlite3.Cursor):
        def execute(self, sql: str, parameters: Any = (), /) -> Self:
            connection: Connection = self.connection  # type: ignore[assignment]
            connection.before(sql)
            try:
                return super().execute(sql, parameters)
            finally:
                connection.after()

        def executemany(self, sql: str, parameters: Any, /) -> Self:
            connection: Connection = self.connection  # type: ignore[assignment]
            connection.before(sql)
            try:
                return super().executemany(sql, parameters)
            finally:
                connection.after()

    class Connection(sqlite3.Connection):
        writing = False

        def cursor(self, factory: Any = Cursor) -> Any:
            return super().cursor(factory)

        def before(self, sql: str) -> None:
            if not self.writing and sql.lstrip()[:7].upper().startswith(_WRITES):
                self.writing = lock.acquire(timeout=SQLITE_BUSY_SECONDS)

        def after(self) -> None:
            if not self.in_transaction:  # a statement that failed, or outside a transaction
                self._done()

        def commit(self) -> None:
            try:
                super().commit()
            finally:
                self._done()

        def rollback(self) -> None:
            try:
                super().rollback()
            finally:
                self._done()

        def close(self) -> None:
            try:
                super().close()
            finally:
                self._done()

        def _done(self) -> None:
            if self.writing:
                self.writing = False
                lock.release()

    return Connection


@dataclass(frozen=True)
class ConsumedEvent:
    """The event a consumer handles in this unit of work (handlers get only its data)."""

    id: str
    type: str
    source: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)
    """Its CloudEvents attributes as they came (`ce_` headers): what a forward repeats."""


class UnitOfWork:
    """One transaction: the service's writes, the outbox rows of the events they cause,
    and (for consumers) the inbox row of the event being handled.

    Services subclass it to add their repositories in `_open`. `commit` is called by the
    service layer only; leaving the block without it rolls everything back.
    """

    session: Session

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        source: str,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self._session_factory = session_factory
        self._source = source
        self._on_commit = on_commit
        self.consumed: ConsumedEvent | None = None
        self.committed = False
        self._outgoing: list[dict[str, Any]] = []

    def __enter__(self) -> Self:
        self.session = self._session_factory()
        self._open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._outgoing.clear()  # queued with what is rolled back
        self.session.rollback()
        self.session.close()

    def _open(self) -> None:
        """Hook for subclasses to create repositories on `self.session`."""

    def _execute(self, statement: Executable, parameters: Any = None) -> CursorResult[Any]:
        """A Core statement in this transaction, on its connection: the ORM's execute path
        adds nothing to it but its cost."""
        return self.session.connection().execute(statement, parameters)

    def publish(self, event: IntegrationEvent) -> None:
        """Queue `event` for Kafka; it is written to the outbox by `commit`, in this
        transaction. (The envelope is made now, with this moment's correlation and trace.)"""
        self._queue(envelope(event, self._source))

    def forward(self, event: IntegrationEvent, topic: str) -> None:
        """Queue the event being consumed for `topic`, as the CloudEvent it came in (its
        id, source, type and time), with `event` as its data: the original, or a copy
        showing only what that topic's readers may see."""
        if self.consumed is None:
            raise RuntimeError("only an event being consumed can be forwarded")
        self._queue(forwarded(event, topic, self.consumed.attributes))

    def _queue(self, message: OutgoingMessage) -> None:
        self._outgoing.append(
            {
                "event_id": message.event_id,
                "topic": message.topic,
                "key": message.key,
                "headers": message.headers,
                "value": message.value,
                "created_at": utcnow(),
                "attempts": 0,
            }
        )

    def record_processed(
        self,
        event_id: str,
        event_type: str,
        source: str,
        attributes: Mapping[str, str] | None = None,
    ) -> bool:
        """Remember a consumed event in this transaction, so a redelivery changes nothing;
        False (and nothing written) if it was processed already. `attributes`: its
        CloudEvents headers, for `forward`.

        One statement that inserts unless the key is there: no read before the write. On
        PostgreSQL, another transaction inserting the same key makes it wait for that one's
        outcome, so a concurrent redelivery is seen as a duplicate, not as a key violation.
        """
        connection = self.session.connection()
        inserted = connection.execute(
            _NEW_INBOX_ROW[connection.dialect.name],
            {
                "event_key": inbox_key(source, event_id),
                "event_source": source,
                "event_id": event_id,
                "event_type": event_type,
                "processed_at": utcnow(),
            },
        )
        if inserted.first() is None:
            return False
        self.consumed = ConsumedEvent(event_id, event_type, source, dict(attributes or {}))
        return True

    def find_idempotency_key(self, principal: str, key: str) -> tuple[str, str] | None:
        """(fingerprint, resource id) of what `principal` created under `key`, if anything."""
        row = self._execute(_IDEMPOTENCY_KEY, {"principal": principal, "key": key}).first()
        return (row.fingerprint, row.resource_id) if row else None

    def record_idempotency_key(
        self, principal: str, key: str, fingerprint: str, resource_id: str
    ) -> None:
        self._execute(
            _NEW_IDEMPOTENCY_KEY,
            {
                "principal": principal,
                "key": key,
                "fingerprint": fingerprint,
                "resource_id": resource_id,
                "created_at": utcnow(),
            },
        )

    def commit(self) -> None:
        publishing = bool(self._outgoing)
        if publishing:
            self._write_outbox()
        self.session.commit()
        self._outgoing.clear()
        self.committed = True
        if publishing:  # a commit without outbox rows gives the relay nothing to do
            self._on_commit()

    def _write_outbox(self) -> None:
        """Insert the queued outbox rows, as the last statements before the commit.

        The relay publishes in `seq` order, so `seq` must follow commit order; a sequence
        value taken at insert does not (a transaction that inserted first may commit last).
        On PostgreSQL every outbox writer therefore takes the same transaction lock from
        its insert to its commit; SQLite holds its single write lock that long anyway.
        """
        if self.session.get_bind().dialect.name == "postgresql":
            self._execute(_OUTBOX_LOCK)
            # Heard at commit by every replica (`runtime.commit_signal`): the leader's relay
            # publishes what another replica committed without waiting for its next poll.
            self._execute(_OUTBOX_NOTIFY)
        self._execute(_NEW_OUTBOX_ROWS, self._outgoing)
