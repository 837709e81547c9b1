"""Wakes the outbox relay when another replica commits outbox rows.

A replica that commits wakes its own relay in-process (`UnitOfWork`'s `on_commit`); but
only the leading replica's relay runs, so what the others commit would wait for its next
poll. On PostgreSQL each commit that writes the outbox also sends `NOTIFY` on
`OUTBOX_CHANNEL` (delivered at commit, to listeners of that database only), and every
replica listens, waking its relay at once. SQLite has no such signal: its replicas poll.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

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
