"""Clocks for demonstrations and tests: one that starts at a chosen moment runs on as the
clock beneath it runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from runtime.clock import starting_at
from tests.fakes import FakeClock


def test_a_clock_starting_at_a_moment_reads_it_and_then_runs_as_the_clock_beneath() -> None:
    beneath = FakeClock(datetime(2026, 11, 30, 12, 0, tzinfo=UTC))
    moment = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)

    clock = starting_at(moment, beneath)
    first = clock()
    beneath.advance(timedelta(minutes=5))

    assert (first, clock()) == (moment, moment + timedelta(minutes=5))
