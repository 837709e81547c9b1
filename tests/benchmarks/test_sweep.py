"""The sweep that finds the sustained rate."""

from __future__ import annotations

from benchmarks.openloop import StepResult, sweep
from tests.benchmarks.steps import step_result


def result(rate: float, *, p99: float = 0.2, lost: int = 0) -> StepResult:
    return step_result(rate, p50=0.05, p99=p99, lost=lost)


async def test_the_sweep_steps_up_and_stops_at_the_first_rate_not_sustained() -> None:
    outcomes = {10: result(10), 50: result(50), 100: result(100, p99=1.5), 200: result(200)}
    tried: list[float] = []

    async def run(rate: float) -> StepResult:
        tried.append(rate)
        return outcomes[int(rate)]

    found = await sweep([100, 10, 200, 50], run)
    assert tried == [10, 50, 100]  # lowest first; 200 never tried
    assert found.sustained is outcomes[50]
    assert found.first_failing is outcomes[100]


async def test_a_lost_referral_ends_the_sweep_however_fast_the_rest_were() -> None:
    async def run(rate: float) -> StepResult:
        return result(rate, lost=1 if rate == 20 else 0)

    found = await sweep([10, 20, 30], run)
    assert [s.rate for s in found.steps] == [10, 20]
    assert found.sustained is not None and found.sustained.rate == 10


async def test_when_even_the_lowest_rate_fails_nothing_is_sustained() -> None:
    async def run(rate: float) -> StepResult:
        return result(rate, p99=3.0)

    found = await sweep([5, 10], run)
    assert found.sustained is None
    assert [s.rate for s in found.steps] == [5]


async def test_when_every_rate_passes_the_highest_is_sustained() -> None:
    async def run(rate: float) -> StepResult:
        return result(rate)

    found = await sweep([10, 20, 20], run)
    assert [s.rate for s in found.steps] == [10, 20]  # each rate once
    assert found.sustained is not None and found.sustained.rate == 20
    assert found.first_failing is None
