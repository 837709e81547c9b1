"""A benchmark step's result as the tests need it: `rate` per second for 10 seconds."""

from __future__ import annotations

from benchmarks.openloop import Spread, StepResult


def step_result(
    rate: float, *, p50: float = 0.05, p99: float = 0.2, lost: int = 0, duplicated: int = 0
) -> StepResult:
    return StepResult(
        rate=rate,
        seconds=10,
        arrivals=int(rate * 10),
        accepted=int(rate * 10),
        refused={},
        offered=int(rate * 10) - lost,
        lost=lost,
        escalated=0,
        duplicated=duplicated,
        duplicate_events=duplicated,
        post=Spread(0.01, 0.02, 0.03, 0.04),
        offered_latency=Spread(p50, p99, p99, p99),
        completed_rate=rate,
        generator_lag=0.0,
        deadline=10,
    )
