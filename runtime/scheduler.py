"""A service's own clock: acts on its durable timers (deadlines stored in its database)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from runtime.logs import describe_error, get_logger

log = get_logger(component="scheduler")


async def run_timers(fire_due: Callable[[], int], *, poll_seconds: float, batch: int) -> None:
    """Call `fire_due` (blocking; returns how many timers it fired, at most `batch`) in a
    worker thread for the life of the process: again at once after a full batch, otherwise
    after `poll_seconds`. A failure is logged and retried at the next poll; the timers it
    did not fire stay in the database."""
    while True:
        try:
            fired = await asyncio.to_thread(fire_due)
        except Exception as error:
            log.warning("timers.failed", error=describe_error(error))
            fired = 0
        if fired:
            log.info("timers.fired", count=fired)
        if fired < batch:
            await asyncio.sleep(poll_seconds)
