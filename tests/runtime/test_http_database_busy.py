"""A request that finds every PostgreSQL connection of the pool busy is answered 503 with
Retry-After after the configured pool timeout, never a 500 after half a minute."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from runtime.service import ServiceRuntime
from tests.runtime.test_health import bare_service

pytestmark = pytest.mark.infra


@pytest.fixture
def service(postgres_urls: dict[str, str]) -> Iterator[tuple[ServiceRuntime, TestClient]]:
    router = APIRouter()
    runtime: ServiceRuntime

    @router.get("/now")
    def now() -> str:
        with runtime.session_factory() as session:
            return str(session.execute(text("SELECT now()")).scalar_one())

    runtime, app = bare_service(
        postgres_urls["referrals"],
        "127.0.0.1:1",
        (router,),
        BROBYGGER_DB_POOL_SIZE=1,
        BROBYGGER_DB_POOL_TIMEOUT_SECONDS=0.5,
    )
    # No lifespan: nothing else (housekeeping, Kafka) takes connections from the pool.
    yield runtime, TestClient(app, raise_server_exceptions=False)
    runtime.engine.dispose()


def hold_every_connection(engine: Engine, stack: ExitStack) -> int:
    """Check out connections until the pool has none left; how many it had."""
    for held in range(50):
        try:
            stack.enter_context(engine.connect())
        except PoolTimeoutError:
            return held
    raise AssertionError("the pool never ran out of connections")


def test_the_pool_settings_reach_the_engine(
    service: tuple[ServiceRuntime, TestClient],
) -> None:
    runtime, _ = service
    assert (runtime.engine.pool.size(), runtime.engine.pool.timeout()) == (1, 0.5)  # type: ignore[attr-defined]


def test_a_request_finding_the_pool_exhausted_is_a_503_with_retry_after(
    service: tuple[ServiceRuntime, TestClient],
) -> None:
    runtime, client = service
    with ExitStack() as stack:
        assert hold_every_connection(runtime.engine, stack) > 1  # the pool's and overflow
        busy = client.get("/now")
    assert busy.status_code == 503, busy.text
    assert busy.headers["content-type"] == "application/problem+json"
    assert busy.headers["retry-after"] == "2"
    assert "QueuePool" not in busy.text
    assert client.get("/now").status_code == 200  # connections back: served again
