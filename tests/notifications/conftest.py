"""Fixtures of the notifications tests."""

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from notifications.app import MIGRATIONS, create_app
from notifications.config import Settings
from runtime.migrations import upgrade
from runtime.partner_feeds import PartnerFeeds
from tests.notifications.mail import smtp_server as smtp_server
from tests.notifications.support import StartUow, units_of_work


@pytest.fixture
def start_uow(engine_for: Callable[[str], Engine]) -> StartUow:
    """Units of work on an empty, migrated notifications database, on each backend."""
    engine = engine_for("notifications")
    upgrade(MIGRATIONS, engine)
    return units_of_work(engine)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/notifications.db"


@pytest.fixture
def start(
    offline_service_env: pytest.MonkeyPatch, database_url: str
) -> Iterator[Callable[..., TestClient]]:
    """`start(**settings)`: the running service on its own SQLite file."""
    with ExitStack() as stack:

        def make(**settings: Any) -> TestClient:
            app = create_app(
                Settings(database_url=database_url, **settings),
                partner_feeds=PartnerFeeds.none(),  # no broker to ask
            )
            return stack.enter_context(TestClient(app))

        yield make


@pytest.fixture
def client(start: Callable[..., TestClient]) -> TestClient:
    return start()
