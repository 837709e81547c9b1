"""The grants repository and unit of work on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlmodel
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import sessionmaker

import grants.app
from grants import events, services
from grants.domain import GrantPool, PoolStatus
from grants.store import GrantsUnitOfWork
from runtime.migrations import upgrade
from runtime.storage import outbox
from tests.grants.support import TERMS

UowFactory = Callable[[], GrantsUnitOfWork]


@pytest.fixture
def engine(engine_for: Callable[[str], Engine]) -> Engine:
    engine = engine_for("grants")
    upgrade(grants.app.MIGRATIONS, engine)
    return engine


@pytest.fixture
def start_uow(engine: Engine) -> UowFactory:
    session_factory = sessionmaker(engine, class_=sqlmodel.Session, expire_on_commit=False)
    return lambda: GrantsUnitOfWork(session_factory, "/brobygger/grants")


def new_pool(**overrides: Any) -> GrantPool:
    terms = TERMS | {
        "budget_dkk": 5_000_000_000,  # beyond a 32-bit integer
        "now": datetime.now(UTC),
    }
    return GrantPool.open(**(terms | overrides))


def add(start_uow: UowFactory, pool: GrantPool) -> None:
    with start_uow() as uow:
        uow.pools.add(pool)
        uow.commit()


def outbox_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(outbox)).scalar_one()


def test_a_pool_reads_back_as_it_was_stored(start_uow: UowFactory) -> None:
    pool = new_pool()
    add(start_uow, pool)

    with start_uow() as uow:
        stored = uow.pools.get(pool.id)

    assert stored == pool
    assert stored is not None
    assert stored.created_at.tzinfo is not None


def test_a_pool_without_a_short_form_keeps_none(start_uow: UowFactory) -> None:
    pool = new_pool(small_grant_limit_dkk=None)
    add(start_uow, pool)

    with start_uow() as uow:
        stored = uow.pools.get(pool.id)

    assert stored is not None
    assert stored.small_grant_limit_dkk is None


def test_a_closed_pool_stays_closed(start_uow: UowFactory) -> None:
    pool = new_pool()
    add(start_uow, pool)

    with start_uow() as uow:
        loaded = uow.pools.get(pool.id)
        assert loaded is not None
        loaded.close()
        uow.pools.save(loaded)
        uow.commit()

    with start_uow() as uow:
        stored = uow.pools.get(pool.id)
    assert stored is not None
    assert stored.status is PoolStatus.CLOSED


def test_pools_are_listed_newest_first_and_filtered_by_status(start_uow: UowFactory) -> None:
    now = datetime.now(UTC)
    older = new_pool(name="Older", now=now - timedelta(days=1))
    newer = new_pool(name="Newer", now=now)
    newer.close()
    add(start_uow, older)
    add(start_uow, newer)

    with start_uow() as uow:
        everything = [p.name for p in uow.pools.all()]
        open_ones = [p.name for p in uow.pools.all(PoolStatus.OPEN)]
        closed_ones = [p.name for p in uow.pools.all(PoolStatus.CLOSED)]

    assert everything == ["Newer", "Older"]
    assert open_ones == ["Older"]
    assert closed_ones == ["Newer"]


def test_opening_a_pool_writes_it_and_its_event_in_one_transaction(
    engine: Engine, start_uow: UowFactory
) -> None:
    command = services.OpenPool(
        created_by="operator-1",
        name="New communities 2026",
        description="",
        budget_dkk=500_000,
        opens_on=date(2026, 3, 1),
        closes_on=date(2026, 4, 30),
        criteria="Open to associations in Copenhagen.",
        idempotency_key="key-1",
    )

    pool, created = services.open_pool(command, start_uow)
    again, created_again = services.open_pool(command, start_uow)

    assert (created, created_again) == (True, False)
    assert again == pool
    with engine.connect() as connection:
        rows = connection.execute(select(outbox)).all()
    assert [(row.topic, row.key) for row in rows] == [("grants.pool.v1", str(pool.id))]
    assert rows[0].headers["ce_type"] == "dk.brobygger.grants.pool.opened.v1"
    assert rows[0].headers["ce_source"] == "/brobygger/grants"
    assert rows[0].published_at is None


def test_leaving_without_commit_writes_neither_pool_nor_event(
    engine: Engine, start_uow: UowFactory
) -> None:
    pool = new_pool()
    with start_uow() as uow:
        uow.pools.add(pool)
        uow.publish(events.pool_opened(pool))

    with start_uow() as uow:
        assert uow.pools.get(pool.id) is None
    assert outbox_count(engine) == 0
