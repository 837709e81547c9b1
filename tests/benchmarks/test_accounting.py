"""What came of a step's referrals: percentiles, lost and duplicated ones, the verdict."""

from __future__ import annotations

import pytest

from benchmarks.openloop import Seen, Spread, Submission, percentile, summarize

OFFERED = "offered"
ESCALATED = "escalated"
SUBMITTED = "submitted"


def submitted(referral_id: str | None, due: float, answered: float, refusal: str | None = None):
    return Submission(
        due=due, started=due, answered=answered, referral_id=referral_id, refusal=refusal
    )


def step(submissions: list[Submission], seen: dict[str, list[Seen]], deadline: float = 10.0):
    return summarize(
        10,
        1,
        submissions,
        seen,
        offered_type=OFFERED,
        escalated_type=ESCALATED,
        deadline=deadline,
    )


def test_percentiles_are_nearest_rank_values_that_occurred() -> None:
    values = [float(v) for v in range(1, 101)]  # 1 .. 100
    assert percentile(values, 50) == 50
    assert percentile(values, 90) == 90
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([3.0, 1.0, 2.0], 50) == 2  # order of arrival does not matter
    # Few values: the 99th percentile is the worst, never something between two of them.
    assert percentile([0.1, 0.2, 0.9], 99) == 0.9


def test_a_percentile_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_spread_of_latencies_reads_them_all() -> None:
    assert Spread.of([0.3, 0.1, 0.2, 0.4]) == Spread(p50=0.2, p90=0.4, p99=0.4, max=0.4)
    assert Spread.of([]) is None


def test_latencies_count_from_when_each_post_was_due() -> None:
    result = step(
        [submitted("a", due=0.0, answered=0.05), submitted("b", due=0.1, answered=0.4)],
        {
            "a": [Seen(SUBMITTED, "e1", 0.2), Seen(OFFERED, "e2", 0.25)],
            "b": [Seen(SUBMITTED, "e3", 0.5), Seen(OFFERED, "e4", 0.6)],
        },
    )
    assert result.post == Spread(
        p50=0.05, p90=pytest.approx(0.3), p99=pytest.approx(0.3), max=pytest.approx(0.3)
    )
    assert result.offered_latency is not None
    assert result.offered_latency.p50 == pytest.approx(0.25)
    assert result.offered_latency.max == pytest.approx(0.5)
    assert (result.arrivals, result.accepted, result.offered, result.lost) == (2, 2, 2, 0)
    assert result.passed


def test_a_referral_never_offered_or_offered_after_the_deadline_is_lost() -> None:
    result = step(
        [
            submitted("on-time", 0.0, 0.01),
            submitted("late", 0.1, 0.11),
            submitted("never", 0.2, 0.21),
            submitted("escalated", 0.3, 0.31),
        ],
        {
            "on-time": [Seen(OFFERED, "e1", 0.5)],
            "late": [Seen(OFFERED, "e2", 0.1 + 10.5)],
            "escalated": [Seen(ESCALATED, "e3", 0.9)],
        },
    )
    assert (result.offered, result.lost, result.escalated) == (1, 3, 1)
    assert not result.passed
    assert "3 lost" in result.failures


def test_a_refused_post_is_counted_by_its_reason_and_fails_the_step() -> None:
    result = step(
        [
            submitted("a", 0.0, 0.01),
            submitted(None, 0.1, 0.2, refusal="HTTP 503"),
            submitted(None, 0.2, 0.3, refusal="HTTP 503"),
            submitted(None, 0.3, 30.3, refusal="ReadTimeout"),
        ],
        {"a": [Seen(OFFERED, "e1", 0.1)]},
    )
    assert result.accepted == 1
    assert result.refused == {"HTTP 503": 2, "ReadTimeout": 1}
    assert result.lost == 0  # never taken, so never lost: refused instead
    assert result.failures == ["3 refused"]


def test_a_referral_offered_twice_or_an_event_seen_twice_is_duplicated() -> None:
    result = step(
        [
            submitted("twice", 0.0, 0.01),
            submitted("same-id", 0.1, 0.11),
            submitted("once", 0.2, 0.21),
        ],
        {
            "twice": [Seen(OFFERED, "e1", 0.3), Seen(OFFERED, "e2", 0.4)],
            # One outbox row published twice: the same ce_id, here on the submitted event.
            "same-id": [
                Seen(SUBMITTED, "e3", 0.2),
                Seen(SUBMITTED, "e3", 0.21),
                Seen(OFFERED, "e4", 0.3),
            ],
            "once": [Seen(OFFERED, "e5", 0.3)],
        },
    )
    assert result.duplicated == 2
    assert result.duplicate_events == 1
    assert result.offered == 3  # offered all the same: the first offer counts
    assert result.passed  # the sweep's rule is latency and loss; duplicates go to the targets


def test_events_of_referrals_of_another_step_are_not_counted() -> None:
    result = step(
        [submitted("mine", 0.0, 0.01)],
        {"mine": [Seen(OFFERED, "e1", 0.2)], "earlier": [Seen(OFFERED, "e2", 0.1)] * 2},
    )
    assert (result.offered, result.duplicated, result.duplicate_events) == (1, 0, 0)


def test_a_p99_of_a_second_or_more_is_not_sustained() -> None:
    submissions = [submitted(str(i), float(i), i + 0.01) for i in range(100)]

    def offered_after(slowest: float) -> dict[str, list[Seen]]:
        # The two slowest of 100: the 99th percentile is the second worst.
        return {
            str(i): [Seen(OFFERED, f"e{i}", i + (slowest if i >= 98 else 0.1))] for i in range(100)
        }

    assert step(submissions, offered_after(1.0)).failures == ["p99 POST->offered 1.00 s >= 1 s"]
    assert step(submissions, offered_after(0.999)).passed


def test_the_completed_rate_counts_offers_from_the_first_arrival_to_the_last_offer() -> None:
    submissions = [submitted(str(i), i * 0.1, i * 0.1 + 0.01) for i in range(10)]
    # Ten offered by 2 s after the first arrival: 5 per second, though they came at 10/s.
    seen = {str(i): [Seen(OFFERED, f"e{i}", 2.0 if i == 9 else i * 0.1 + 0.05)] for i in range(10)}
    assert step(submissions, seen).completed_rate == pytest.approx(5.0)


def test_the_generator_lag_is_how_late_a_post_started_at_worst() -> None:
    late = Submission(due=1.0, started=1.25, answered=1.3, referral_id="b")
    result = step([submitted("a", 0.0, 0.01), late], {})
    assert result.generator_lag == pytest.approx(0.25)
