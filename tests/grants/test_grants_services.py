"""Use cases of grants on fakes: what is written, what is published, and when."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

import pytest

from contracts import PoolOpened
from grants import services
from grants.domain import InvalidPool, InvalidTransition, PoolStatus
from runtime.idempotency import IdempotencyConflict
from tests.grants.fakes import FakeUnitOfWork
from tests.grants.support import TERMS


def open_command(**overrides: Any) -> services.OpenPool:
    return services.OpenPool(**(TERMS | overrides))


def test_opening_a_pool_stores_it_and_publishes_pool_opened_once_on_commit() -> None:
    uow = FakeUnitOfWork()

    pool, created = services.open_pool(open_command(), uow)

    assert created
    assert uow.commits == 1
    assert uow.pools.get(pool.id) == pool
    assert uow.committed_events == [
        PoolOpened(
            pool_id=pool.id,
            name="New communities 2026",
            budget_dkk=500_000,
            opens_on=date(2026, 3, 1),
            closes_on=date(2026, 4, 30),
            criteria="Open to associations in Copenhagen that reach lonely older citizens.",
        )
    ]


def test_a_new_pool_is_open_and_stamped_with_its_creator_and_an_aware_utc_time() -> None:
    pool, _ = services.open_pool(open_command(created_by="operator-7"), FakeUnitOfWork())

    assert pool.status is PoolStatus.OPEN
    assert pool.created_by == "operator-7"
    assert pool.created_at.tzinfo is UTC
    assert abs((datetime.now(UTC) - pool.created_at).total_seconds()) < 5


def test_invalid_terms_write_nothing_and_publish_nothing() -> None:
    uow = FakeUnitOfWork()

    with pytest.raises(InvalidPool, match="closes_on"):
        services.open_pool(
            open_command(opens_on=date(2026, 5, 1), closes_on=date(2026, 4, 30)), uow
        )

    assert uow.commits == 0
    assert uow.committed_events == []
    assert uow.pools.rows == {}
    assert uow.keys == {}


def test_a_retry_with_the_same_key_returns_the_first_pool_and_publishes_nothing_more() -> None:
    uow = FakeUnitOfWork()
    first, _ = services.open_pool(open_command(idempotency_key="key-1"), uow)

    again, created = services.open_pool(open_command(idempotency_key="key-1"), uow)

    assert not created
    assert again.id == first.id
    assert len(uow.pools.rows) == 1
    assert len(uow.committed_events) == 1


def test_the_same_key_with_a_different_body_is_a_conflict() -> None:
    uow = FakeUnitOfWork()
    services.open_pool(open_command(idempotency_key="key-1"), uow)

    with pytest.raises(IdempotencyConflict):
        services.open_pool(open_command(idempotency_key="key-1", budget_dkk=600_000), uow)

    assert len(uow.pools.rows) == 1
    assert len(uow.committed_events) == 1


def test_another_operators_key_is_their_own() -> None:
    uow = FakeUnitOfWork()
    first, _ = services.open_pool(open_command(idempotency_key="key-1"), uow)

    other, created = services.open_pool(
        open_command(idempotency_key="key-1", created_by="operator-2"), uow
    )

    assert created
    assert other.id != first.id
    assert len(uow.committed_events) == 2


def test_without_a_key_every_request_opens_a_new_pool() -> None:
    uow = FakeUnitOfWork()

    services.open_pool(open_command(), uow)
    services.open_pool(open_command(), uow)

    assert len(uow.pools.rows) == 2
    assert len(uow.committed_events) == 2


def test_closing_a_pool_commits_its_new_status() -> None:
    uow = FakeUnitOfWork()
    pool, _ = services.open_pool(open_command(), uow)

    closed = services.close_pool(pool.id, uow)

    assert closed.status is PoolStatus.CLOSED
    assert services.get_pool(pool.id, uow).status is PoolStatus.CLOSED
    assert uow.commits == 2


def test_closing_a_closed_pool_fails_and_commits_nothing() -> None:
    uow = FakeUnitOfWork()
    pool, _ = services.open_pool(open_command(), uow)
    services.close_pool(pool.id, uow)

    with pytest.raises(InvalidTransition):
        services.close_pool(pool.id, uow)

    assert uow.commits == 2


def test_an_unknown_pool_is_not_found() -> None:
    uow = FakeUnitOfWork()

    with pytest.raises(services.PoolNotFound):
        services.get_pool(uuid4(), uow)
    with pytest.raises(services.PoolNotFound):
        services.close_pool(uuid4(), uow)
    assert uow.commits == 0


def test_pools_can_be_listed_by_status() -> None:
    uow = FakeUnitOfWork()
    kept, _ = services.open_pool(open_command(name="Kept open"), uow)
    closed, _ = services.open_pool(open_command(name="Closed early"), uow)
    services.close_pool(closed.id, uow)

    assert {p.id for p in services.list_pools(uow)} == {kept.id, closed.id}
    assert [p.id for p in services.list_pools(uow, PoolStatus.OPEN)] == [kept.id]
    assert [p.id for p in services.list_pools(uow, PoolStatus.CLOSED)] == [closed.id]
