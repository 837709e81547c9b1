"""Fixtures of the notifications tests."""

from collections.abc import Callable

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from notifications.app import MIGRATIONS
from notifications.store import NotificationsUnitOfWork
from runtime.migrations import upgrade
from tests.notifications.mail import smtp_server as smtp_server
from tests.notifications.support import StartUow


@pytest.fixture
def start_uow(engine_for: Callable[[str], Engine]) -> StartUow:
    """Units of work on an empty, migrated notifications database, on each backend."""
    engine = engine_for("notifications")
    upgrade(MIGRATIONS, engine)
    factory = sessionmaker(engine, class_=Session, expire_on_commit=False)
    return lambda: NotificationsUnitOfWork(factory, "/brobygger/notifications")
