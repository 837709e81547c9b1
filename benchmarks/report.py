"""What a throughput run found, beside issue 13's targets: one table, and the same as JSON."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.openloop import Spread, StepResult, Sweep
from benchmarks.transport import RawRates

SUSTAINED_TARGET = 300.0
"""Referrals per second, end to end, with nothing lost or duplicated."""
LATENCY_RATE = 100.0
"""The arrival rate at which the latency and memory targets hold."""
P50_TARGET = 0.050
P99_TARGET = 0.250
RESIDENT_TARGET = 150_000_000
"""Bytes (150 MB) per service process."""
COLD_START_TARGET = 20.0
MB = 1_000_000


@dataclass(frozen=True)
class Measured:
    """One step of the sweep, and what each process spent on it."""

    step: StepResult
    cpu_seconds: dict[str, float]
    """CPU time of each watched process (or group) from the step's start until the
    services had caught up after it."""
    resident_peak: dict[str, int]
    """The highest resident memory (bytes) each process showed during the step."""
    settled: bool
    """Whether the services' consumer groups had caught up after it."""
    threads: dict[str, dict[str, float]] = field(default_factory=dict)
    """CPU time of each process's threads, by group (main thread, other threads, the JVM's
    named pools), over the same time as `cpu_seconds`."""


@dataclass(frozen=True)
class ColdStart:
    broker: float
    """From `kafka.sh start` (empty data directory, jars cached) to topics and ACLs made."""
    services: float
    """From then until every replica answered /ready."""
    first_offered: float | None
    """From the broker's start to the first referral offered."""

    @property
    def total(self) -> float:
        return self.broker + self.services


@dataclass(frozen=True)
class Results:
    database: str
    replicas: int
    cores: int
    cpu_model: str
    step_seconds: float
    deadline: float
    services: list[str]
    """The labels of the service processes (`referrals`, `referrals#2`...)."""
    cold_start: ColdStart
    raw: RawRates | None
    steps: list[Measured]
    idle_cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds per second each process spent with no load: what it costs to be up."""
    notes: list[str] = field(default_factory=list)

    @property
    def sweep(self) -> Sweep:
        return Sweep([m.step for m in self.steps])

    @property
    def sustained(self) -> Measured | None:
        step = self.sweep.sustained
        return next((m for m in self.steps if m.step is step), None)

    @property
    def profiled(self) -> Measured | None:
        """The step whose CPU and memory the table shows: the sustained one, or else the
        first run."""
        return self.sustained or (self.steps[0] if self.steps else None)

    def at(self, rate: float) -> Measured | None:
        return next((m for m in self.steps if m.step.rate == rate), None)


@dataclass(frozen=True)
class Verdict:
    target: str
    measured: str
    passed: bool


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def verdicts(results: Results) -> list[Verdict]:
    """Each of issue 13's targets, what was measured, and whether it was met."""
    found = []
    sustained = results.sustained
    rate = sustained.step.rate if sustained else 0.0
    duplicated = sustained.step.duplicated if sustained else 0
    found.append(
        Verdict(
            f"sustained >= {SUSTAINED_TARGET:.0f}/s, 0 lost, 0 duplicated",
            f"{rate:g}/s, {duplicated} duplicated",
            rate >= SUSTAINED_TARGET and duplicated == 0,
        )
    )
    at_rate = results.at(LATENCY_RATE)
    last_rate = results.steps[-1].step.rate if results.steps else 0.0
    not_run = f"not run (the sweep stopped at {last_rate:g}/s)"
    latency = at_rate.step.offered_latency if at_rate else None
    for name, target, value in (
        ("p50", P50_TARGET, latency.p50 if latency else None),
        ("p99", P99_TARGET, latency.p99 if latency else None),
    ):
        found.append(
            Verdict(
                f"at {LATENCY_RATE:g}/s: POST->offered {name} <= {_ms(target)}",
                not_run
                if at_rate is None
                else ("nothing offered" if value is None else _ms(value)),
                value is not None and value <= target,
            )
        )
    # Under the load the target names, or else the highest the sweep reached.
    memory_step = at_rate or (results.steps[-1] if results.steps else None)
    memory = f"each service <= {RESIDENT_TARGET // MB} MB resident at {LATENCY_RATE:g}/s"
    peaks = {
        label: peak
        for label, peak in (memory_step.resident_peak if memory_step else {}).items()
        if label in results.services
    }
    if memory_step is None or not peaks:
        found.append(Verdict(memory, "not measured", False))
    else:
        label = max(peaks, key=peaks.__getitem__)
        where = "" if at_rate else f" at {memory_step.step.rate:g}/s; {not_run}"
        found.append(
            Verdict(
                memory,
                f"at most {peaks[label] / MB:.0f} MB ({label}){where}",
                at_rate is not None and peaks[label] <= RESIDENT_TARGET,
            )
        )
    found.append(
        Verdict(
            f"cold start, jars cached, <= {COLD_START_TARGET:.0f} s",
            f"{results.cold_start.total:.1f} s",
            results.cold_start.total <= COLD_START_TARGET,
        )
    )
    return found


def _spread(spread: Spread | None) -> str:
    if spread is None:
        return "-"
    return "/".join(f"{v * 1000:.0f}" for v in (spread.p50, spread.p90, spread.p99, spread.max))


def step_line(step: StepResult) -> str:
    """One step in words, for progress lines."""
    refused = sum(step.refused.values())
    return (
        f"{step.rate:g}/s for {step.seconds:g} s: {step.arrivals} arrived, {step.accepted} "
        f"taken, {refused} refused, {step.offered} offered, {step.lost} lost "
        f"({step.escalated} escalated), {step.duplicated} duplicated ({step.duplicate_events} "
        f"events seen twice); POST p50/p90/p99/max "
        f"{_spread(step.post)} ms; POST->offered {_spread(step.offered_latency)} ms; "
        f"{step.completed_rate:.1f} offered/s; generator lag {step.generator_lag * 1000:.0f} ms"
        f" -> {'sustained' if step.passed else 'NOT sustained: ' + ', '.join(step.failures)}"
    )


def render(results: Results) -> str:
    """The results table."""
    database = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[results.database]
    replicas = "1 replica" if results.replicas == 1 else f"{results.replicas} replicas"
    lines = [
        f"Brobygger throughput: {database}, {replicas} per service; {results.cores} cores "
        f"({results.cpu_model}); steps of {results.step_seconds:g} s, a referral not offered "
        f"within {results.deadline:g} s counts as lost; latencies in ms from when each POST "
        "was due; lag: how late the load generator started a POST at worst",
        "",
        f"{'rate/s':>7} {'arrived':>8} {'taken':>6} {'offered':>8} {'lost':>5} {'dup':>4} "
        f"{'POST ms p50/p90/p99/max':>24} {'POST->offered ms p50/p90/p99/max':>33} "
        f"{'done/s':>7} {'lag ms':>6}  verdict",
    ]
    for measured in results.steps:
        step = measured.step
        lines.append(
            f"{step.rate:>7g} {step.arrivals:>8} {step.accepted:>6} {step.offered:>8} "
            f"{step.lost:>5} {step.duplicated:>4} {_spread(step.post):>24} "
            f"{_spread(step.offered_latency):>33} {step.completed_rate:>7.1f} "
            f"{step.generator_lag * 1000:>6.0f}  "
            + ("sustained" if step.passed else "; ".join(step.failures))
        )
    sustained = results.sustained
    failing = results.sweep.first_failing
    rate = sustained.step.rate if sustained else 0.0
    if sustained is None:
        tried = results.steps[0].step.rate if results.steps else 0.0
        lines += ["", f"Sustained rate: none (not even the lowest rate tried, {tried:g}/s)"]
    else:
        lines += [
            "",
            f"Sustained rate: {rate:g} referrals/s"
            + (f" (first not sustained: {failing.rate:g}/s)" if failing else " (highest tried)"),
        ]
    if results.raw is not None:
        raw = results.raw
        lines.append(
            f"Raw aiokafka on the same broker ({raw.messages} records of {raw.size} bytes, "
            f"acks=all, idempotent): produce {raw.produce:,.0f}/s, consume {raw.consume:,.0f}/s"
            + (
                f"; the sustained rate is {100 * rate / raw.produce:.2g} % of the first and "
                f"{100 * rate / raw.consume:.2g} % of the second"
                if sustained
                else ""
            )
        )
    cold = results.cold_start
    first = (
        f"; first referral offered {cold.first_offered:.1f} s after the broker's start"
        if cold.first_offered is not None
        else ""
    )
    lines.append(
        f"Cold start, jars cached: {cold.total:.1f} s (broker with an empty data directory, "
        f"topics and ACLs {cold.broker:.1f} s, then every service ready {cold.services:.1f} s)"
        + first
    )
    profiled = results.profiled
    if profiled is not None:
        lines += ["", *profile(profiled, results.idle_cpu)]
    lines += ["", "Issue 13's targets on this machine"]
    for verdict in verdicts(results):
        lines.append(
            f"  {verdict.target:<48} {verdict.measured:<44} "
            + ("PASS" if verdict.passed else "MISS")
        )
    if results.notes:
        lines += ["", *(f"Note: {note}" for note in results.notes)]
    return "\n".join(lines)


HOT_THREADS = 3


def profile(measured: Measured, idle: dict[str, float]) -> list[str]:
    """Where the CPU went during a step, per referral offered: by process, with its
    resident memory, its CPU when idle, and its busiest threads."""
    offered = max(measured.step.offered, 1)

    def per_referral(seconds: float) -> str:
        return f"{seconds * 1000 / offered:.1f}"

    lines = [
        f"At {measured.step.rate:g}/s"
        + ("" if measured.step.passed else " (not sustained)")
        + ": CPU ms per referral offered; resident memory (peak during the step); CPU ms per "
        "second with no load; the busiest threads (ms per referral)",
    ]
    for label, seconds in measured.cpu_seconds.items():
        peak = measured.resident_peak.get(label)
        memory = f"{peak / MB:5.0f} MB" if peak is not None else "       -"
        at_rest = f"{idle[label] * 1000:6.1f}" if label in idle else "     -"
        threads = measured.threads.get(label, {})
        busiest = [
            name
            for name in sorted(threads, key=threads.__getitem__, reverse=True)[:HOT_THREADS]
            if threads[name] * 1000 / offered >= 0.05  # less rounds to nothing
        ]
        hot = ", ".join(f"{name} {per_referral(threads[name])}" for name in busiest)
        lines.append(f"  {label:<20} {per_referral(seconds):>7} ms {memory} {at_rest} ms/s  {hot}")
    total = sum(measured.cpu_seconds.values())
    lines.append(f"  {'all of them':<20} {per_referral(total):>7} ms")
    return lines


def as_json(results: Results) -> dict[str, Any]:
    document = dataclasses.asdict(results)
    document["sustained_rate"] = results.sustained.step.rate if results.sustained else 0.0
    document["targets"] = [dataclasses.asdict(v) for v in verdicts(results)]
    for measured, step in zip(document["steps"], results.steps, strict=True):
        measured["step"]["passed"] = step.step.passed
        measured["step"]["failures"] = step.step.failures
    return document


def write_json(results: Results, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(as_json(results), indent=2) + "\n")
