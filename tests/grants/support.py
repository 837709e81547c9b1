"""What the grants tests share: the terms an operator opens a pool on, and moments before
and inside its window."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

TERMS: dict[str, Any] = {
    "created_by": "operator-1",
    "name": "New communities 2026",
    "description": "For associations that start something new.",
    "budget_dkk": 500_000,
    "opens_on": date(2026, 3, 1),
    "closes_on": date(2026, 4, 30),
    "criteria": "Open to associations in Copenhagen that reach lonely older citizens.",
    "small_grant_limit_dkk": 25_000,
}

BEFORE = datetime(2026, 2, 20, 9, 0, tzinfo=UTC)
"""Before TERMS' window: a pool created now is announced only."""
DURING = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
"""Inside TERMS' window: a pool created now opens at once."""
