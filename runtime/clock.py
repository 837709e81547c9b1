"""Time as a dependency: use cases and schedulers take a clock, so tests set and move it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
"""The time now, timezone-aware UTC."""


def utcnow() -> datetime:
    return datetime.now(UTC)
