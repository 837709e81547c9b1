"""/health (liveness) says whether Kafka answers now; /ready (readiness) is 200 only while
the database and the broker both answer, and a 503 problem naming what is missing."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from runtime.config import ServiceSettings
from runtime.service import CachedProbe, ServiceRuntime
from tests.conftest import (
    TEST_JWKS_FILE,
    TEST_KAFKA_PASSWORDS,
    TEST_KAFKA_PORT,
    control_test_broker,
    script_broker,
)
from tests.kit import wait_for

# A broker of this module's own, which it stops and starts; never the session's.
OWN_BROKER_PORT = TEST_KAFKA_PORT + 10


def bare_service(
    database_url: str, kafka: str, routers: tuple[APIRouter, ...] = (), **settings: Any
) -> tuple[ServiceRuntime, FastAPI]:
    """A service with no tables, consumers or relay: only the runtime's own HTTP side."""
    runtime = ServiceRuntime(
        ServiceSettings.model_validate(
            {
                "service_name": "probe",
                "http_port": 0,
                "database_url": database_url,
                "KAFKA_BOOTSTRAP_SERVERS": kafka,
                "BROBYGGER_JWKS_FILE": str(TEST_JWKS_FILE),
                # A service's own principal: its ACLs are enough to ask for metadata.
                "kafka_username": "referrals",
                "kafka_password": TEST_KAFKA_PASSWORDS["referrals"],
                "relay_enabled": False,
                "migrate_on_start": False,
                **settings,
            }
        ),
        migrations_dir=Path("unused"),
        publishes=[],
    )
    return runtime, runtime.create_app(*routers, description="The runtime alone.")


def kafka_in_health(client: TestClient) -> bool:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    kafka: bool = response.json()["kafka"]
    return kafka


def assert_not_ready(client: TestClient, missing: list[str]) -> None:
    response = client.get("/ready")
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "5"
    problem = response.json()
    assert problem["unavailable"] == missing
    assert all(name in problem["detail"] for name in missing)


def assert_ready(client: TestClient) -> None:
    response = client.get("/ready")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "ready",
        "service": "probe",
        "database": True,
        "kafka": True,
    }


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class CountedCheck:
    def __init__(self) -> None:
        self.answer = True
        self.calls = 0
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self) -> bool:
        self.calls += 1
        self.entered.set()
        await self.release.wait()
        return self.answer


async def test_a_probe_reuses_its_answer_until_it_is_stale() -> None:
    check, clock = CountedCheck(), FakeClock()
    probe = CachedProbe(check, ttl_seconds=2.0, clock=clock)
    assert await probe() is True
    check.answer = False
    clock.now += 1.9
    assert (await probe(), check.calls) == (True, 1)
    clock.now += 0.1
    assert (await probe(), check.calls) == (False, 2)
    probe.forget()
    assert (await probe(), check.calls) == (False, 3)


async def test_callers_arriving_during_a_check_wait_for_its_answer() -> None:
    check = CountedCheck()
    check.release.clear()
    probe = CachedProbe(check, ttl_seconds=2.0, clock=FakeClock())
    waiting = [asyncio.create_task(probe()) for _ in range(5)]
    await check.entered.wait()  # the other callers are queued behind the first by now
    check.release.set()
    assert await asyncio.gather(*waiting) == [True] * 5
    assert check.calls == 1


def test_without_a_broker_health_is_200_with_kafka_false_and_ready_is_503(
    tmp_path: Path,
) -> None:
    _, app = bare_service(f"sqlite:///{tmp_path}/probe.db", "127.0.0.1:1")
    with TestClient(app) as client:
        assert kafka_in_health(client) is False
        assert_not_ready(client, ["kafka"])


@pytest.fixture(scope="module")
def own_broker() -> Iterator[str]:
    with script_broker(OWN_BROKER_PORT) as bootstrap:
        yield bootstrap


@pytest.mark.infra
def test_health_and_readiness_follow_the_broker_going_away_and_coming_back(
    own_broker: str, tmp_path: Path
) -> None:
    _, app = bare_service(f"sqlite:///{tmp_path}/probe.db", own_broker)
    with TestClient(app) as client:
        wait_for(lambda: kafka_in_health(client), "/health sees the broker", 30)
        assert_ready(client)

        control_test_broker("stop", OWN_BROKER_PORT)
        wait_for(lambda: not kafka_in_health(client), "/health sees the broker gone", 15)
        assert_not_ready(client, ["kafka"])

        control_test_broker("start", OWN_BROKER_PORT)
        wait_for(lambda: kafka_in_health(client), "/health sees the broker back", 30)
        assert_ready(client)


class TcpProxy:
    """Forwards a loopback port to `upstream`. `stop()` closes it and every connection
    through it, as a database server that went away would; `start()` opens it again."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0
        self._listener: socket.socket | None = None
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        assert self._listener is not None
        with suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self._listener.close()
        with self._lock:
            for connection in self._connections:
                with suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()
            self._connections.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            with self._lock:
                self._connections |= {client, upstream}
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        with suppress(OSError):
            target.shutdown(socket.SHUT_RDWR)


@pytest.mark.infra
def test_readiness_fails_while_the_database_is_gone_and_recovers(
    postgres_urls: dict[str, str], kafka: str
) -> None:
    real = make_url(postgres_urls["referrals"])
    proxy = TcpProxy((real.host or "127.0.0.1", real.port or 5432))
    proxy.start()
    through_proxy = real.set(host="127.0.0.1", port=proxy.port)
    _, app = bare_service(through_proxy.render_as_string(hide_password=False), kafka)
    try:
        with TestClient(app) as client:
            wait_for(lambda: client.get("/ready").status_code == 200, "ready at first", 30)
            proxy.stop()
            assert_not_ready(client, ["database"])
            assert client.get("/health").status_code == 200
            proxy.start()
            wait_for(lambda: client.get("/ready").status_code == 200, "ready again", 10)
    finally:
        proxy.stop()


def test_the_api_document_describes_both_answers_of_ready(tmp_path: Path) -> None:
    _, app = bare_service(f"sqlite:///{tmp_path}/probe.db", "127.0.0.1:1")
    document = TestClient(app).get("/openapi.json").json()
    ready = document["paths"]["/ready"]["get"]["responses"]
    assert set(ready) >= {"200", "503"}
    assert "Retry-After" in ready["503"]["headers"]
    schemas = document["components"]["schemas"]
    assert schemas["Readiness"]["properties"]["database"]["description"]
    assert schemas["Health"]["properties"]["kafka"]["description"]
    assert "security" not in document["paths"]["/health"]["get"]
