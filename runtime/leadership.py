"""One leader among a service's replicas, for what must not run in two of them at once: the
outbox relay (two relays would publish the same rows twice).

The lock is one the database or the operating system lets go of by itself when the leader's
process dies, however it dies:

- PostgreSQL: a session-level advisory lock, held on a connection of its own for as long as
  the replica leads; the server releases it the moment that connection ends.
- SQLite (replicas on one machine, sharing the file): an exclusive `flock` on a file beside
  the database, released by the kernel with the process.

A follower asks again every `retry_seconds`, so it takes over within that long of the
leader's death. A leader checks every `check_seconds` that it still holds the lock (the
connection may have been cut) and stops its work at once when it does not.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from runtime.logs import get_logger

log = get_logger(component="leadership")


class Lock(Protocol):
    def acquire(self) -> bool:
        """Take the lock if no one holds it; True if this replica holds it now."""
        ...

    def held(self) -> bool:
        """Whether this replica still holds the lock it took."""
        ...

    def release(self) -> None: ...


class AdvisoryLock:
    """PostgreSQL's session advisory lock on `name`, on a connection kept for it."""

    def __init__(self, engine: Engine, name: str) -> None:
        self._engine = engine
        self._name = name
        self._connection: Connection | None = None

    def acquire(self) -> bool:
        connection = self._engine.connect()
        try:
            taken = connection.execute(
                text("SELECT pg_try_advisory_lock(hashtext(:name))"), {"name": self._name}
            ).scalar_one()
            connection.commit()  # the lock is the session's, not the transaction's
        except BaseException:
            connection.close()
            raise
        if not taken:
            connection.close()
            return False
        self._connection = connection
        return True

    def held(self) -> bool:
        if self._connection is None:
            return False
        try:
            self._connection.execute(text("SELECT 1"))
            self._connection.commit()
        except SQLAlchemyError:
            # The session is gone, and the server released its locks with it.
            self._drop()
            return False
        return True

    def release(self) -> None:
        if self._connection is None:
            return
        with contextlib.suppress(SQLAlchemyError):
            self._connection.execute(
                text("SELECT pg_advisory_unlock(hashtext(:name))"), {"name": self._name}
            )
            self._connection.commit()
        self._drop()

    def _drop(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._connection.invalidate()  # never back to the pool holding a lock
                self._connection.close()
            self._connection = None


class FileLock:
    """An exclusive `flock` on `path`, kept by an open descriptor."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing lets go of the lock
            self._fd = None


class SoleLock:
    """A database in this process's memory has no other replica to share it."""

    def acquire(self) -> bool:
        return True

    def held(self) -> bool:
        return True

    def release(self) -> None:
        pass


def lock_for(engine: Engine, name: str) -> Lock:
    """The lock named `name` of the replicas sharing `engine`'s database."""
    if engine.dialect.name == "postgresql":
        return AdvisoryLock(engine, name)
    database = engine.url.database
    if not database or database == ":memory:":
        return SoleLock()
    return FileLock(Path(f"{database}.{name}.lock"))


class Leadership:
    def __init__(
        self, lock: Lock, *, retry_seconds: float = 2.0, check_seconds: float = 2.0
    ) -> None:
        self._lock = lock
        self._retry_seconds = retry_seconds
        self._check_seconds = check_seconds
        self.leading = False

    async def run(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run `work` whenever this replica leads, for the life of the process; when the
        lock is lost, `work` is cancelled and the replica goes back to waiting."""
        try:
            while True:
                try:
                    taken = await asyncio.to_thread(self._lock.acquire)
                except Exception as error:
                    log.warning("leadership.unknown", error=type(error).__name__)
                    taken = False
                if taken:
                    await self._lead(work)
                await asyncio.sleep(self._retry_seconds)
        finally:
            self.leading = False
            await asyncio.to_thread(self._lock.release)

    async def _lead(self, work: Callable[[], Awaitable[None]]) -> None:
        self.leading = True
        log.info("leadership.taken")
        task = asyncio.ensure_future(work())
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=self._check_seconds)
                if not task.done() and not await asyncio.to_thread(self._lock.held):
                    log.warning("leadership.lost", detail="another replica may lead now")
                    break
        finally:
            self.leading = False
            task.cancel()
            outcome = await asyncio.gather(task, return_exceptions=True)
            await asyncio.to_thread(self._lock.release)
        if isinstance(outcome[0], Exception):
            log.error("leadership.work_failed", error=repr(outcome[0]))
