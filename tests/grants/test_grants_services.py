"""Use cases of grants on fakes: what is written, what is published, and when."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

import pytest

from contracts import IntegrationEvent, PoolAnnounced, PoolClosed, PoolOpened
from grants import services
from grants.domain import GrantPool, InvalidPool, InvalidTransition, PoolStatus
from runtime.idempotency import IdempotencyConflict
from tests.fakes import FakeClock
from tests.grants.fakes import FakeUnitOfWork
from tests.grants.support import BEFORE, DURING, TERMS


def open_command(**overrides: Any) -> services.OpenPool:
    return services.OpenPool(**(TERMS | overrides))


def terms_of(pool: GrantPool) -> dict[str, Any]:
    """What `pool.announced` and `pool.opened` say of TERMS' pool."""
    return {
        "pool_id": pool.id,
        "name": "New communities 2026",
        "budget_dkk": 500_000,
        "opens_on": date(2026, 3, 1),
        "closes_on": date(2026, 4, 30),
        "criteria": "Open to associations in Copenhagen that reach lonely older citizens.",
    }


def published_since(uow: FakeUnitOfWork, before: list[IntegrationEvent]) -> list[IntegrationEvent]:
    assert uow.committed_events[: len(before)] == before
    return uow.committed_events[len(before) :]


def test_a_pool_opened_inside_its_window_is_announced_and_opened_on_one_commit() -> None:
    uow = FakeUnitOfWork()

    pool, created = services.open_pool(open_command(), uow, FakeClock(DURING))

    assert created
    assert uow.commits == 1
    assert uow.pools.get(pool.id) == pool
    assert pool.status is PoolStatus.OPEN
    assert uow.committed_events == [
        PoolAnnounced(**terms_of(pool)),
        PoolOpened(**terms_of(pool)),
    ]


def test_a_pool_created_before_its_opening_day_is_announced_only() -> None:
    uow = FakeUnitOfWork()

    pool, _ = services.open_pool(open_command(), uow, FakeClock(BEFORE))

    assert pool.status is PoolStatus.ANNOUNCED
    assert services.get_pool(pool.id, uow).status is PoolStatus.ANNOUNCED
    assert uow.committed_events == [PoolAnnounced(**terms_of(pool))]


def test_a_pool_opens_when_its_opening_day_begins_in_copenhagen_not_at_utc_midnight() -> None:
    uow = FakeUnitOfWork()
    clock = FakeClock(BEFORE)
    pool, _ = services.open_pool(open_command(), uow, clock)
    announced = list(uow.committed_events)

    clock.now = datetime(2026, 2, 28, 22, 59, tzinfo=UTC)  # 23:59 in Copenhagen (CET)
    assert services.advance_pools(uow, clock) == 0
    clock.now = datetime(2026, 2, 28, 23, 30, tzinfo=UTC)  # 00:30 on 1 March in Copenhagen
    assert services.advance_pools(uow, clock) == 1
    assert services.advance_pools(uow, clock) == 0

    assert published_since(uow, announced) == [PoolOpened(**terms_of(pool))]
    assert services.get_pool(pool.id, uow).status is PoolStatus.OPEN


def test_an_open_pool_closes_the_day_after_its_closing_day_publishing_window_ended() -> None:
    uow = FakeUnitOfWork()
    clock = FakeClock(DURING)
    pool, _ = services.open_pool(open_command(), uow, clock)
    opened = list(uow.committed_events)

    clock.now = datetime(2026, 4, 30, 21, 59, tzinfo=UTC)  # 23:59 on 30 April (CEST)
    assert services.advance_pools(uow, clock) == 0
    clock.now = datetime(2026, 4, 30, 22, 0, tzinfo=UTC)  # midnight into 1 May
    assert services.advance_pools(uow, clock) == 1
    assert services.advance_pools(uow, clock) == 0

    assert published_since(uow, opened) == [
        PoolClosed(pool_id=pool.id, closed_on=date(2026, 5, 1), reason="window_ended")
    ]
    assert services.get_pool(pool.id, uow).status is PoolStatus.CLOSED


def test_a_pool_whose_whole_window_passed_unseen_closes_without_opening() -> None:
    uow = FakeUnitOfWork()
    clock = FakeClock(BEFORE)
    pool, _ = services.open_pool(open_command(), uow, clock)
    announced = list(uow.committed_events)

    clock.now = datetime(2026, 5, 5, 9, 0, tzinfo=UTC)
    assert services.advance_pools(uow, clock) == 1

    assert published_since(uow, announced) == [
        PoolClosed(pool_id=pool.id, closed_on=date(2026, 5, 5), reason="window_ended")
    ]


def test_advancing_pools_changes_at_most_the_limit_and_leaves_the_rest_for_the_next_call() -> None:
    uow = FakeUnitOfWork()
    clock = FakeClock(BEFORE)
    for n in range(3):
        services.open_pool(open_command(name=f"Pool {n}"), uow, clock)

    clock.now = DURING
    assert [services.advance_pools(uow, clock, limit=2) for _ in range(3)] == [2, 1, 0]
    assert len(services.list_pools(uow, PoolStatus.OPEN)) == 3


def test_a_new_pool_is_stamped_with_its_creator_and_the_clocks_time() -> None:
    pool, _ = services.open_pool(
        open_command(created_by="operator-7"), FakeUnitOfWork(), FakeClock(DURING)
    )

    assert pool.created_by == "operator-7"
    assert pool.created_at == DURING
    assert pool.created_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("window", "rule"),
    [
        ((date(2026, 5, 1), date(2026, 4, 30)), "closes_on: the pool cannot close before"),
        ((date(2026, 2, 1), date(2026, 3, 9)), "closes_on: the window would have ended already"),
    ],
)
def test_invalid_terms_write_nothing_and_publish_nothing(
    window: tuple[date, date], rule: str
) -> None:
    uow = FakeUnitOfWork()
    opens_on, closes_on = window

    with pytest.raises(InvalidPool, match=rule):
        services.open_pool(
            open_command(opens_on=opens_on, closes_on=closes_on), uow, FakeClock(DURING)
        )

    assert uow.commits == 0
    assert uow.committed_events == []
    assert uow.pools.rows == {}
    assert uow.keys == {}


def test_a_retry_with_the_same_key_returns_the_first_pool_and_publishes_nothing_more() -> None:
    uow = FakeUnitOfWork()
    clock = FakeClock(DURING)
    first, _ = services.open_pool(open_command(idempotency_key="key-1"), uow, clock)
    published = list(uow.committed_events)

    again, created = services.open_pool(open_command(idempotency_key="key-1"), uow, clock)

    assert not created
    assert again.id == first.id
    assert len(uow.pools.rows) == 1
    assert uow.committed_events == published


def test_the_same_key_with_a_different_body_is_a_conflict() -> None:
    uow = FakeUnitOfWork()
    clock = FakeClock(DURING)
    services.open_pool(open_command(idempotency_key="key-1"), uow, clock)
    published = list(uow.committed_events)

    with pytest.raises(IdempotencyConflict):
        services.open_pool(open_command(idempotency_key="key-1", budget_dkk=600_000), uow, clock)

    assert len(uow.pools.rows) == 1
    assert uow.committed_events == published


def test_another_operators_key_is_their_own() -> None:
    uow = FakeUnitOfWork()
    clock = FakeClock(DURING)
    first, _ = services.open_pool(open_command(idempotency_key="key-1"), uow, clock)

    other, created = services.open_pool(
        open_command(idempotency_key="key-1", created_by="operator-2"), uow, clock
    )

    assert created
    assert other.id != first.id
    assert {e.pool_id for e in uow.committed_events if isinstance(e, PoolOpened)} == {
        first.id,
        other.id,
    }


def test_without_a_key_every_request_opens_a_new_pool() -> None:
    uow = FakeUnitOfWork()
    clock = FakeClock(DURING)

    services.open_pool(open_command(), uow, clock)
    services.open_pool(open_command(), uow, clock)

    assert len(uow.pools.rows) == 2
    assert len([e for e in uow.committed_events if isinstance(e, PoolOpened)]) == 2


def test_an_operator_closing_a_pool_early_commits_it_closed_and_publishes_closed_early() -> None:
    uow = FakeUnitOfWork()
    clock = FakeClock(DURING)
    pool, _ = services.open_pool(open_command(), uow, clock)
    opened = list(uow.committed_events)

    closed = services.close_pool(pool.id, uow, clock)

    assert closed.status is PoolStatus.CLOSED
    assert services.get_pool(pool.id, uow).status is PoolStatus.CLOSED
    assert uow.commits == 2
    assert published_since(uow, opened) == [
        PoolClosed(pool_id=pool.id, closed_on=DURING.date(), reason="closed_early")
    ]


def test_a_pool_closed_early_is_not_closed_again_when_its_window_ends() -> None:
    uow = FakeUnitOfWork()
    clock = FakeClock(DURING)
    pool, _ = services.open_pool(open_command(), uow, clock)
    services.close_pool(pool.id, uow, clock)
    closed = list(uow.committed_events)

    clock.now = datetime(2026, 5, 5, 9, 0, tzinfo=UTC)

    assert services.advance_pools(uow, clock) == 0
    assert uow.committed_events == closed


def test_closing_a_closed_pool_fails_and_commits_nothing() -> None:
    uow = FakeUnitOfWork()
    clock = FakeClock(DURING)
    pool, _ = services.open_pool(open_command(), uow, clock)
    services.close_pool(pool.id, uow, clock)
    published = list(uow.committed_events)

    with pytest.raises(InvalidTransition):
        services.close_pool(pool.id, uow, clock)

    assert uow.commits == 2
    assert uow.committed_events == published


def test_an_unknown_pool_is_not_found() -> None:
    uow = FakeUnitOfWork()

    with pytest.raises(services.PoolNotFound):
        services.get_pool(uuid4(), uow)
    with pytest.raises(services.PoolNotFound):
        services.close_pool(uuid4(), uow, FakeClock(DURING))
    assert uow.commits == 0


def test_pools_can_be_listed_by_status() -> None:
    uow = FakeUnitOfWork()
    clock = FakeClock(BEFORE)
    ahead, _ = services.open_pool(open_command(name="Ahead"), uow, clock)
    clock.now = DURING
    kept, _ = services.open_pool(open_command(name="Kept open"), uow, clock)
    closed, _ = services.open_pool(open_command(name="Closed early"), uow, clock)
    services.close_pool(closed.id, uow, clock)

    assert {p.id for p in services.list_pools(uow)} == {ahead.id, kept.id, closed.id}
    assert [p.id for p in services.list_pools(uow, PoolStatus.ANNOUNCED)] == [ahead.id]
    assert [p.id for p in services.list_pools(uow, PoolStatus.OPEN)] == [kept.id]
    assert [p.id for p in services.list_pools(uow, PoolStatus.CLOSED)] == [closed.id]
