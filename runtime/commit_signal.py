"""Wakes the outbox relay when another replica commits outbox rows.

A replica that commits wakes its own relay in-process (`UnitOfWork`'s `on_commit`); but
only the leading replica's relay runs, so what the others commit would wait for its next
poll. On PostgreSQL each commit that writes the outbox also sends `NOTIFY` on
`OUTBOX_CHANNEL` (delivered at commit, to listeners of that database only), and every
replica listens, waking its relay at once. SQLite has no such signal, and its replicas
share one machine: there the leader listens on a datagram socket named after the
database file, and the others send it a byte after each commit that wrote the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
from collections.abc import Callable
from pathlib import Path

import psycopg
from sqlalchemy import Engine

from runtime.logs import get_logger

OUTBOX_CHANNEL = "brobygger_outbox"

log = get_logger(component="commit-signal")


async def wake_on_commits(
    engine: Engine, wake: Callable[[], None], *, retry_seconds: float = 2.0
) -> None:
    """Call `wake` whenever a transaction that wrote the outbox commits, for the life of the
    process; a lost connection is made again (and `wake` called, in case one was missed)."""
    if engine.dialect.name != "postgresql":
        return
    conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(
                conninfo, autocommit=True
            ) as connection:
                await connection.execute(f"LISTEN {OUTBOX_CHANNEL}")
                wake()
                async for _ in connection.notifies():
                    wake()
        except psycopg.Error as error:
            log.warning("commit_signal.lost", error=type(error).__name__, retry_in_s=retry_seconds)
        await asyncio.sleep(retry_seconds)


class SqliteCommits:
    """What replicas of one SQLite database tell its leading replica: that they committed
    outbox rows. The address is in Linux's abstract socket namespace (no file to leave
    behind; freed with the process that holds it); elsewhere, and on other databases,
    there is none and replicas poll."""

    def __init__(self, engine: Engine) -> None:
        self.address = _address_of(engine)
        self._sender: socket.socket | None = None

    def announce(self) -> None:
        """Tell the leading replica, if one listens, from any thread; never blocks."""
        if self.address is None:
            return
        if self._sender is None:
            self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sender.setblocking(False)
        # Refused: no leader listens (it polls once it leads). Full: it is due to wake anyway.
        with contextlib.suppress(OSError):
            self._sender.sendto(b"\x01", self.address)

    async def listen(self, wake: Callable[[], None], *, retry_seconds: float = 2.0) -> None:
        """Call `wake` for each announcement, for as long as this is awaited (by the leading
        replica's relay); `wake` is called once when listening starts, in case one was
        missed. Returns at once where there is no address."""
        if self.address is None:
            return
        while True:
            receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            receiver.setblocking(False)
            try:
                receiver.bind(self.address)
                break
            except OSError as error:
                # A leader that lost its lock may hold the address for a moment more.
                receiver.close()
                log.warning("commit_signal.unbound", error=str(error), retry_in_s=retry_seconds)
                await asyncio.sleep(retry_seconds)
        loop = asyncio.get_running_loop()

        def drain() -> None:
            with contextlib.suppress(BlockingIOError):
                while receiver.recv(64):
                    pass
            wake()

        loop.add_reader(receiver.fileno(), drain)
        try:
            wake()
            await asyncio.Future()  # until cancelled
        finally:
            loop.remove_reader(receiver.fileno())
            receiver.close()


def _address_of(engine: Engine) -> str | None:
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    if not hasattr(socket, "AF_UNIX") or not Path("/proc/net/unix").exists():
        return None  # no abstract namespace (not Linux)
    digest = hashlib.sha256(str(Path(database).resolve()).encode()).hexdigest()[:32]
    return f"\0brobygger-outbox-{digest}"
