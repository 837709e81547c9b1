"""Issue 13's targets beside the figures: PASS only where the figure meets the target."""

from __future__ import annotations

import re

from benchmarks.report import ColdStart, Measured, Results, render, verdicts
from benchmarks.transport import RawRates
from tests.benchmarks.steps import step_result

MB = 1_000_000


def measured(
    rate: float,
    *,
    p50: float = 0.03,
    p99: float = 0.2,
    lost: int = 0,
    duplicated: int = 0,
    resident: int = 120 * MB,
) -> Measured:
    step = step_result(rate, p50=p50, p99=p99, lost=lost, duplicated=duplicated)
    return Measured(
        step,
        cpu_seconds={"referrals": rate * 0.2, "kafka broker": rate * 0.1},
        resident_peak={"referrals": resident, "kafka broker": 900 * MB},
        settled=True,
    )


def results(*steps: Measured, cold_start: float = 12.0) -> Results:
    return Results(
        database="sqlite",
        replicas=1,
        cores=2,
        cpu_model="AMD EPYC",
        step_seconds=10,
        deadline=10,
        services=["referrals"],
        cold_start=ColdStart(broker=cold_start / 2, services=cold_start / 2, first_offered=None),
        raw=RawRates(messages=1000, size=300, produce=15_000, consume=60_000),
        steps=list(steps),
    )


def passed(found: Results) -> dict[str, bool]:
    return {v.target.split(":")[0].split(" ")[0]: v.passed for v in verdicts(found)}


def test_every_target_passes_when_every_figure_meets_it() -> None:
    found = results(measured(100), measured(300), measured(400, p99=2.0))
    assert all(v.passed for v in verdicts(found)), verdicts(found)


def test_a_sustained_rate_below_300_misses_even_when_the_rest_pass() -> None:
    found = results(measured(100), measured(200), measured(300, lost=3))
    [sustained, *_] = verdicts(found)
    assert not sustained.passed
    assert sustained.measured == "200/s, 0 duplicated"


def test_duplicates_at_the_sustained_rate_miss_the_target() -> None:
    [sustained, *_] = verdicts(results(measured(100), measured(300, duplicated=2)))
    assert not sustained.passed


def test_latencies_at_100_per_second_are_judged_at_that_step_only() -> None:
    found = results(measured(50, p50=0.01), measured(100, p50=0.06, p99=0.3), measured(200))
    by_target = {v.target: v for v in verdicts(found)}
    assert not by_target["at 100/s: POST->offered p50 <= 50 ms"].passed
    assert by_target["at 100/s: POST->offered p50 <= 50 ms"].measured == "60 ms"
    assert not by_target["at 100/s: POST->offered p99 <= 250 ms"].passed


def test_targets_at_100_per_second_miss_when_the_sweep_stopped_before() -> None:
    found = results(measured(10), measured(20, p99=1.2))
    by_target = {v.target: v for v in verdicts(found)}
    p50 = by_target["at 100/s: POST->offered p50 <= 50 ms"]
    assert not p50.passed
    assert p50.measured == "not run (the sweep stopped at 20/s)"
    memory = by_target["each service <= 150 MB resident at 100/s"]
    assert not memory.passed  # measured at 20/s only: no verdict at 100/s
    assert "at 20/s" in memory.measured


def test_memory_counts_the_services_only_and_their_largest_process() -> None:
    found = results(measured(100, resident=151 * MB), measured(300))
    memory = next(v for v in verdicts(found) if v.target.startswith("each service"))
    assert not memory.passed  # the broker's 900 MB is not a service's
    assert memory.measured == "at most 151 MB (referrals)"


def test_a_cold_start_over_20_seconds_misses() -> None:
    assert not verdicts(results(measured(300), cold_start=20.5))[-1].passed
    assert verdicts(results(measured(300), cold_start=19.5))[-1].passed


def test_the_table_shows_each_step_the_ratio_to_raw_kafka_and_the_verdicts() -> None:
    table = render(results(measured(100), measured(300), measured(400, p99=2.0)))
    assert "Sustained rate: 300 referrals/s (first not sustained: 400/s)" in table
    assert "produce 15,000/s, consume 60,000/s" in table
    assert "2 % of the first and 0.5 % of the second" in table
    assert "p99 POST->offered 2.00 s >= 1 s" in table
    # 60 CPU seconds over 3000 referrals offered at 300/s; its peak resident memory.
    assert re.search(r"referrals +20\.0 ms +120 MB", table)
    assert table.count("PASS") == 5


def test_the_profile_names_each_process_s_busiest_threads_and_its_cost_at_rest() -> None:
    step = measured(100)
    profiled = Measured(
        step.step,
        cpu_seconds={"referrals": 30.0, "kafka broker": 10.0},
        resident_peak={"referrals": 140 * MB},
        settled=True,
        threads={
            "referrals": {"other threads": 24.0, "main thread": 6.0, "libuv-worker": 0.0001},
            "kafka broker": {"data-plane-kafk": 6.0, "C2 CompilerThre": 4.0},
        },
    )
    found = results(profiled)
    found.idle_cpu.update({"referrals": 0.008})
    table = render(found)
    # 1000 referrals offered at 100/s for 10 s: 30 CPU seconds are 30 ms each.
    assert re.search(
        r"referrals +30\.0 ms +140 MB +8\.0 ms/s +other threads 24\.0, main thread 6\.0\n", table
    )
    assert re.search(r"kafka broker +10\.0 ms +- +- ms/s +data-plane-kafk 6\.0, C2", table)
    assert "libuv" not in table  # a thread that did next to nothing is left out
