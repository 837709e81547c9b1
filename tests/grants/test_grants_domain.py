"""Rules of the grant pool, without I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from grants.domain import GrantPool, InvalidPool, InvalidTransition, PoolChange, PoolStatus
from tests.grants.support import BEFORE, TERMS

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
TODAY = NOW.date()
"""The opening day of TERMS' window (1 March to 30 April 2026)."""


def new_pool(**overrides: Any) -> GrantPool:
    """A pool announced on TODAY, inside its window: open at once."""
    return GrantPool.announce(**(TERMS | {"now": NOW, "today": TODAY} | overrides))


def announced_pool(**overrides: Any) -> GrantPool:
    """A pool announced before its window, its announcement already published."""
    pool = new_pool(today=BEFORE.date(), **overrides)
    pool.changes.clear()
    return pool


def test_a_new_pool_inside_its_window_is_announced_and_open_at_once_and_keeps_its_terms() -> None:
    pool = new_pool(name="  New communities 2026 ")

    assert pool.status is PoolStatus.OPEN
    assert pool.changes == [PoolChange.ANNOUNCED, PoolChange.OPENED]
    assert pool.name == "New communities 2026"
    assert pool.budget_dkk == 500_000
    assert (pool.opens_on, pool.closes_on) == (date(2026, 3, 1), date(2026, 4, 30))
    assert pool.small_grant_limit_dkk == 25_000
    assert pool.created_by == "operator-1"
    assert pool.created_at == NOW


def test_a_pool_created_before_its_opening_day_is_announced_only() -> None:
    pool = new_pool(today=date(2026, 2, 28))

    assert pool.status is PoolStatus.ANNOUNCED
    assert pool.changes == [PoolChange.ANNOUNCED]
    assert pool.accepting_applications(date(2026, 2, 28)) is False


def test_each_new_pool_gets_its_own_id() -> None:
    assert new_pool().id != new_pool().id


def test_a_pool_cannot_close_before_it_opens() -> None:
    with pytest.raises(InvalidPool, match="closes_on: the pool cannot close before it opens"):
        new_pool(opens_on=date(2026, 5, 1), closes_on=date(2026, 4, 30))


def test_a_pool_may_open_and_close_on_the_same_day() -> None:
    pool = new_pool(opens_on=date(2026, 5, 1), closes_on=date(2026, 5, 1))

    assert pool.opens_on == pool.closes_on


def test_a_pool_whose_window_would_have_ended_already_is_refused() -> None:
    with pytest.raises(InvalidPool, match="closes_on: the window would have ended already"):
        new_pool(opens_on=date(2026, 2, 1), closes_on=date(2026, 2, 28))


def test_a_pool_created_on_its_closing_day_opens_for_that_day() -> None:
    pool = new_pool(opens_on=date(2026, 2, 1), closes_on=TODAY)

    assert pool.status is PoolStatus.OPEN
    assert pool.accepting_applications(TODAY) is True


@pytest.mark.parametrize("budget", [0, -1])
def test_a_pool_needs_a_budget_of_more_than_zero(budget: int) -> None:
    with pytest.raises(InvalidPool, match="budget_dkk"):
        new_pool(budget_dkk=budget, small_grant_limit_dkk=None)


def test_a_pool_must_publish_its_criteria() -> None:
    with pytest.raises(InvalidPool, match="criteria"):
        new_pool(criteria="   ")


def test_a_pool_needs_a_name() -> None:
    with pytest.raises(InvalidPool, match="name"):
        new_pool(name=" ")


@pytest.mark.parametrize("limit", [0, 500_001])
def test_the_short_form_limit_lies_between_zero_and_the_budget(limit: int) -> None:
    with pytest.raises(InvalidPool, match="small_grant_limit_dkk"):
        new_pool(budget_dkk=500_000, small_grant_limit_dkk=limit)


def test_a_pool_may_have_no_short_form_or_one_up_to_the_whole_budget() -> None:
    assert new_pool(small_grant_limit_dkk=None).small_grant_limit_dkk is None
    assert new_pool(budget_dkk=1000, small_grant_limit_dkk=1000).small_grant_limit_dkk == 1000


def test_an_announced_pool_opens_on_its_opening_day_and_not_before() -> None:
    pool = announced_pool()

    pool.advance(date(2026, 2, 28))
    assert (pool.status, pool.changes) == (PoolStatus.ANNOUNCED, [])

    pool.advance(date(2026, 3, 1))
    assert (pool.status, pool.changes) == (PoolStatus.OPEN, [PoolChange.OPENED])


def test_an_open_pool_opens_only_once() -> None:
    pool = announced_pool()
    pool.advance(date(2026, 3, 1))

    pool.advance(date(2026, 3, 2))

    assert pool.changes == [PoolChange.OPENED]


def test_an_open_pool_closes_the_day_after_its_closing_day() -> None:
    pool = new_pool()
    pool.changes.clear()

    pool.advance(date(2026, 4, 30))
    assert (pool.status, pool.changes) == (PoolStatus.OPEN, [])

    pool.advance(date(2026, 5, 1))
    assert (pool.status, pool.changes) == (PoolStatus.CLOSED, [PoolChange.WINDOW_ENDED])


def test_a_pool_whose_whole_window_passed_unseen_closes_without_opening() -> None:
    pool = announced_pool()

    pool.advance(date(2026, 5, 1))

    assert (pool.status, pool.changes) == (PoolStatus.CLOSED, [PoolChange.WINDOW_ENDED])


def test_a_closed_pool_stays_closed_whatever_the_day() -> None:
    pool = new_pool()
    pool.close()
    pool.changes.clear()

    pool.advance(date(2026, 5, 1))

    assert (pool.status, pool.changes) == (PoolStatus.CLOSED, [])


def test_closing_an_open_pool_closes_it_early() -> None:
    pool = new_pool()
    pool.changes.clear()

    pool.close()

    assert (pool.status, pool.changes) == (PoolStatus.CLOSED, [PoolChange.CLOSED_EARLY])


def test_an_operator_may_close_an_announced_pool_before_it_opens() -> None:
    pool = announced_pool()

    pool.close()
    pool.advance(date(2026, 3, 1))

    assert (pool.status, pool.changes) == (PoolStatus.CLOSED, [PoolChange.CLOSED_EARLY])


def test_a_closed_pool_cannot_be_closed_again() -> None:
    pool = new_pool()
    pool.close()

    with pytest.raises(InvalidTransition, match="already closed"):
        pool.close()


@pytest.mark.parametrize(
    ("today", "accepting"),
    [
        (date(2026, 2, 28), False),  # the day before the window
        (date(2026, 3, 1), True),  # opens_on
        (date(2026, 4, 30), True),  # closes_on
        (date(2026, 5, 1), False),  # the day after the window
    ],
)
def test_an_open_pool_takes_applications_only_within_its_window_both_ends_included(
    today: date, accepting: bool
) -> None:
    # Not advanced since TODAY: the window counts, whether or not the scheduler has run.
    pool = new_pool(opens_on=date(2026, 3, 1), closes_on=date(2026, 4, 30))

    assert pool.status is PoolStatus.OPEN
    assert pool.accepting_applications(today) is accepting


def test_an_announced_pool_takes_no_applications_even_within_its_window() -> None:
    assert announced_pool().accepting_applications(date(2026, 3, 15)) is False


def test_a_closed_pool_takes_no_applications_even_within_its_window() -> None:
    pool = new_pool(opens_on=date(2026, 3, 1), closes_on=date(2026, 4, 30))
    pool.close()

    assert pool.accepting_applications(date(2026, 3, 15)) is False
