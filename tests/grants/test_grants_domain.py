"""Rules of the grant pool, without I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from grants.domain import GrantPool, InvalidPool, InvalidTransition, PoolStatus
from tests.grants.support import TERMS

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def open_pool(**overrides: Any) -> GrantPool:
    return GrantPool.open(**(TERMS | {"now": NOW} | overrides))


def test_a_new_pool_is_open_at_once_and_keeps_its_terms() -> None:
    pool = open_pool(name="  New communities 2026 ")

    assert pool.status is PoolStatus.OPEN
    assert pool.name == "New communities 2026"
    assert pool.budget_dkk == 500_000
    assert (pool.opens_on, pool.closes_on) == (date(2026, 3, 1), date(2026, 4, 30))
    assert pool.small_grant_limit_dkk == 25_000
    assert pool.created_by == "operator-1"
    assert pool.created_at == NOW


def test_each_new_pool_gets_its_own_id() -> None:
    assert open_pool().id != open_pool().id


def test_a_pool_cannot_close_before_it_opens() -> None:
    with pytest.raises(InvalidPool, match="closes_on: the pool cannot close before it opens"):
        open_pool(opens_on=date(2026, 5, 1), closes_on=date(2026, 4, 30))


def test_a_pool_may_open_and_close_on_the_same_day() -> None:
    pool = open_pool(opens_on=date(2026, 5, 1), closes_on=date(2026, 5, 1))

    assert pool.opens_on == pool.closes_on


@pytest.mark.parametrize("budget", [0, -1])
def test_a_pool_needs_a_budget_of_more_than_zero(budget: int) -> None:
    with pytest.raises(InvalidPool, match="budget_dkk"):
        open_pool(budget_dkk=budget, small_grant_limit_dkk=None)


def test_a_pool_must_publish_its_criteria() -> None:
    with pytest.raises(InvalidPool, match="criteria"):
        open_pool(criteria="   ")


def test_a_pool_needs_a_name() -> None:
    with pytest.raises(InvalidPool, match="name"):
        open_pool(name=" ")


@pytest.mark.parametrize("limit", [0, 500_001])
def test_the_short_form_limit_lies_between_zero_and_the_budget(limit: int) -> None:
    with pytest.raises(InvalidPool, match="small_grant_limit_dkk"):
        open_pool(budget_dkk=500_000, small_grant_limit_dkk=limit)


def test_a_pool_may_have_no_short_form_or_one_up_to_the_whole_budget() -> None:
    assert open_pool(small_grant_limit_dkk=None).small_grant_limit_dkk is None
    assert open_pool(budget_dkk=1000, small_grant_limit_dkk=1000).small_grant_limit_dkk == 1000


def test_closing_an_open_pool_closes_it() -> None:
    pool = open_pool()

    pool.close()

    assert pool.status is PoolStatus.CLOSED


def test_a_closed_pool_cannot_be_closed_again() -> None:
    pool = open_pool()
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
    pool = open_pool(opens_on=date(2026, 3, 1), closes_on=date(2026, 4, 30))

    assert pool.status is PoolStatus.OPEN
    assert pool.accepting_applications(today) is accepting


def test_a_closed_pool_takes_no_applications_even_within_its_window() -> None:
    pool = open_pool(opens_on=date(2026, 3, 1), closes_on=date(2026, 4, 30))
    pool.close()

    assert pool.accepting_applications(date(2026, 3, 15)) is False
