"""The open-loop schedule: arrivals on time whatever the server does."""

from __future__ import annotations

import asyncio

import pytest

from benchmarks.openloop import open_loop
from tests.kit import eventually


class FakeTime:
    """A clock that moves only when the schedule sleeps."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        # One turn of the loop: the arrivals already created start before time moves on.
        await asyncio.sleep(0)
        self.now += seconds


async def test_arrivals_start_on_schedule_while_every_answer_is_still_outstanding() -> None:
    time = FakeTime()
    never_answered = asyncio.Event()
    started: list[tuple[int, float, float]] = []

    async def slow_server(index: int, due: float) -> None:
        started.append((index, due, time()))
        await never_answered.wait()

    tasks = await asyncio.wait_for(
        open_loop(50, 20, slow_server, clock=time, sleep=time.sleep), timeout=5
    )
    await eventually(lambda: len(started) == 20, "the last arrival's task to start")
    try:
        assert [index for index, _, _ in started] == list(range(20))
        for index, due, at in started:
            assert due == pytest.approx(100.0 + index / 50)
            assert at == pytest.approx(due)
        assert not any(task.done() for task in tasks)  # none of them was answered
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_generator_that_fell_behind_sends_at_once_and_keeps_the_later_due_times() -> None:
    time = FakeTime()
    due_times: list[float] = []

    async def send(index: int, due: float) -> None:
        due_times.append(due)
        if index == 2:
            time.now += 1.0  # the generator stalls for a second at the third arrival

    tasks = await open_loop(10, 20, send, clock=time, sleep=time.sleep)
    await asyncio.gather(*tasks)
    # The schedule does not shift: arrivals keep t0 + i / rate, those overdue go at once.
    assert due_times == pytest.approx([100.0 + i / 10 for i in range(20)])
    assert time() == pytest.approx(100.0 + 1.9)


async def test_a_rate_of_nothing_is_refused() -> None:
    async def send(index: int, due: float) -> None:
        raise AssertionError("nothing should be sent")

    with pytest.raises(ValueError, match="positive"):
        await open_loop(0, 10, send)
