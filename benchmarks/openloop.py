"""The open-loop load and its accounting, free of I/O: arrivals on a fixed schedule whatever
the server does, what came of each referral, and the sweep that finds the sustained rate.

Open loop: arrival i is due at t0 + i / rate and starts then, each in a task of its own, so
a slow server cannot slow the arrivals (a closed loop, sending the next request when the
last is answered, would let a struggling server set its own pace and hide its queue).
Latencies count from the moment an arrival was due, so time a request spent waiting for
the load generator or a free connection counts against the system, not hidden from it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
Send = Callable[[int, float], Coroutine[Any, Any, None]]
"""`send(index, due)`: make arrival `index`, due at `due` on the clock."""

P99_LIMIT_SECONDS = 1.0
"""A rate is sustained while POST -> offered stays under this at the 99th percentile."""


async def open_loop(
    rate: float,
    count: int,
    send: Send,
    *,
    clock: Clock = time.perf_counter,
    sleep: Sleep = asyncio.sleep,
) -> list[asyncio.Task[None]]:
    """Start `send(i, due)` for each of `count` arrivals at its due time `t0 + i / rate`,
    each as a task of its own, and return the tasks once the last has started. The schedule
    never waits for an answer; an arrival that is late (the generator fell behind) starts at
    once, and those after it keep their own due times."""
    if rate <= 0:
        raise ValueError("the rate must be positive")
    start = clock()
    tasks: list[asyncio.Task[None]] = []
    for index in range(count):
        due = start + index / rate
        # Also when it is due already: a yield lets the arrivals started so far send.
        await sleep(max(due - clock(), 0.0))
        tasks.append(asyncio.create_task(send(index, due)))
    return tasks


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank percentile: the smallest value at least `p` % of them do not exceed."""
    if not values:
        raise ValueError("no values")
    if not 0 < p <= 100:
        raise ValueError("p must be in (0, 100]")
    ordered = sorted(values)
    return ordered[math.ceil(p / 100 * len(ordered)) - 1]


@dataclass(frozen=True)
class Spread:
    """Seconds at the 50th, 90th and 99th percentile, and the worst."""

    p50: float
    p90: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread | None:
        if not values:
            return None
        return cls(
            p50=percentile(values, 50),
            p90=percentile(values, 90),
            p99=percentile(values, 99),
            max=max(values),
        )


@dataclass
class Submission:
    """One arrival: when it was due, and what its POST came to."""

    due: float
    started: float | None = None
    """When its POST really started: later than `due` when the generator fell behind."""
    answered: float | None = None
    """When the answer (or the error) came."""
    referral_id: str | None = None
    """Set when the referral was taken (200 or 201)."""
    refusal: str | None = None
    """Why it was not: `HTTP 503`, `ReadTimeout`..."""


@dataclass(frozen=True)
class Seen:
    """An event of one referral the observer read on Kafka, and when."""

    type: str
    event_id: str
    at: float


@dataclass(frozen=True)
class StepResult:
    rate: float
    seconds: float
    arrivals: int
    accepted: int
    refused: dict[str, int]
    """Arrivals whose POST was not taken, by why."""
    offered: int
    """Accepted referrals offered within the deadline."""
    lost: int
    """Accepted referrals not offered within the deadline."""
    escalated: int
    """Of the lost, those escalated instead (nothing fitted, or no place free)."""
    duplicated: int
    """Referrals offered more than once, or with an event published twice (a `ce_id` seen
    twice)."""
    duplicate_events: int
    """Events seen more than once (the same `ce_id`)."""
    post: Spread | None
    offered_latency: Spread | None
    """From due to the first `offered` event."""
    completed_rate: float
    """Referrals offered per second, from the first arrival to the last offer."""
    generator_lag: float
    """The latest any POST started after its due time: the load generator's own delay."""
    deadline: float

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list[str]:
        """Why this rate is not sustained, in words; empty when it is."""
        reasons = []
        if self.arrivals == 0:
            reasons.append("no arrivals")
        if refused := sum(self.refused.values()):
            reasons.append(f"{refused} refused")
        if self.lost:
            reasons.append(f"{self.lost} lost")
        if self.offered_latency is not None and self.offered_latency.p99 >= P99_LIMIT_SECONDS:
            reasons.append(f"p99 POST->offered {self.offered_latency.p99:.2f} s >= 1 s")
        return reasons


def summarize(
    rate: float,
    seconds: float,
    submissions: Sequence[Submission],
    seen: Mapping[str, Sequence[Seen]],
    *,
    offered_type: str,
    escalated_type: str,
    deadline: float,
) -> StepResult:
    """What came of one step's arrivals: `seen` holds each referral's events as the observer
    read them; a referral counts as offered when its first `offered_type` event came within
    `deadline` seconds of its due time, and as lost otherwise."""
    accepted = [s for s in submissions if s.referral_id is not None]
    refused = Counter(s.refusal or "unknown" for s in submissions if s.referral_id is None)
    posts = [s.answered - s.due for s in submissions if s.answered is not None]
    latencies: list[float] = []
    offered_at: list[float] = []
    lost = escalated = duplicated = 0
    for submission in accepted:
        events = seen.get(submission.referral_id or "", ())
        offers = sorted(e.at for e in events if e.type == offered_type)
        if offers and offers[0] - submission.due <= deadline:
            latencies.append(offers[0] - submission.due)
            offered_at.append(offers[0])
        else:
            lost += 1
            escalated += any(e.type == escalated_type for e in events)
        ids = Counter(e.event_id for e in events)
        duplicated += len(offers) > 1 or any(n > 1 for n in ids.values())
    every_id = Counter(e.event_id for s in accepted for e in seen.get(s.referral_id or "", ()))
    first_due = min((s.due for s in submissions), default=0.0)
    span = max(offered_at, default=first_due) - first_due
    lag = max((s.started - s.due for s in submissions if s.started is not None), default=0.0)
    return StepResult(
        rate=rate,
        seconds=seconds,
        arrivals=len(submissions),
        accepted=len(accepted),
        refused=dict(refused),
        offered=len(latencies),
        lost=lost,
        escalated=escalated,
        duplicated=duplicated,
        duplicate_events=sum(n - 1 for n in every_id.values() if n > 1),
        post=Spread.of(posts),
        offered_latency=Spread.of(latencies),
        completed_rate=len(latencies) / span if span > 0 else 0.0,
        generator_lag=max(lag, 0.0),
        deadline=deadline,
    )


@dataclass(frozen=True)
class Sweep:
    """The steps run, lowest rate first; all passed but perhaps the last."""

    steps: list[StepResult] = field(default_factory=list)

    @property
    def sustained(self) -> StepResult | None:
        """The highest rate that passed."""
        passed = [step for step in self.steps if step.passed]
        return passed[-1] if passed else None

    @property
    def first_failing(self) -> StepResult | None:
        return next((step for step in self.steps if not step.passed), None)


async def sweep(
    rates: Sequence[float], run_step: Callable[[float], Awaitable[StepResult]]
) -> Sweep:
    """Run the rates from the lowest up, and stop at the first that is not sustained: a
    higher one would only pile a longer queue onto the same verdict."""
    steps: list[StepResult] = []
    for rate in sorted(set(rates)):
        step = await run_step(rate)
        steps.append(step)
        if not step.passed:
            break
    return Sweep(steps)
