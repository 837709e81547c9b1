"""Time as a dependency: use cases and schedulers take a clock, so tests set and move it."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]
"""The time now, timezone-aware UTC."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def running_fast(speed: float, clock: Clock = utcnow) -> Clock:
    """A clock that starts at `clock`'s now and runs `speed` times as fast: for
    demonstrations and tests of what takes weeks, never for a deployment."""
    started = clock()
    real_start = time.monotonic()

    def now() -> datetime:
        return started + timedelta(seconds=(time.monotonic() - real_start) * speed)

    return now


def starting_at(moment: datetime, clock: Clock = utcnow) -> Clock:
    """A clock that reads `moment` when made and then runs as `clock` runs: for
    demonstrations and tests of what happens on a given day, never for a deployment."""
    offset = moment - clock()
    return lambda: clock() + offset
