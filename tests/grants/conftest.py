"""What the grants store tests share: grants' database, migrated, on each backend the test
asks for (`engine_for`), and units of work on it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlmodel
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

import grants.app
from grants.store import GrantsUnitOfWork
from runtime.migrations import upgrade

SOURCE = "/brobygger/grants"
UowFactory = Callable[[], GrantsUnitOfWork]


@pytest.fixture
def engine(engine_for: Callable[[str], Engine]) -> Engine:
    engine = engine_for("grants")
    upgrade(grants.app.MIGRATIONS, engine)
    return engine


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[sqlmodel.Session]:
    return sessionmaker(engine, class_=sqlmodel.Session, expire_on_commit=False)


@pytest.fixture
def start_uow(sessions: sessionmaker[sqlmodel.Session]) -> UowFactory:
    return lambda: GrantsUnitOfWork(sessions, SOURCE)
