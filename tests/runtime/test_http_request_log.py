"""One log line per request, with the caller's correlation id and W3C trace carried into
what the request does."""

from __future__ import annotations

from typing import Any

import pytest
import structlog
from fastapi import FastAPI
from fastapi.testclient import TestClient

from runtime.envelope import correlation_id_var, trace_id_var
from runtime.logs import configure_logging
from runtime.middleware import install_http_middleware
from runtime.problems import install_problem_handlers
from tests.conftest import log_events

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def context() -> dict[str, Any]:
    return {
        "correlation_id": correlation_id_var.get(),
        "trace_id": trace_id_var.get(),
        "request_id": structlog.contextvars.get_contextvars().get("request_id"),
    }


@pytest.fixture
def client(caplog: pytest.LogCaptureFixture) -> TestClient:
    configure_logging("test")
    caplog.set_level("INFO")
    app = FastAPI()
    install_problem_handlers(app)
    install_http_middleware(app)

    @app.get("/async")
    async def in_the_event_loop() -> dict[str, Any]:
        return context()

    @app.get("/sync")
    def in_a_worker_thread() -> dict[str, Any]:
        return context()

    @app.get("/bug")
    def bug() -> None:
        raise RuntimeError("boom")

    @app.post("/upload")
    async def upload(body: dict[str, str]) -> None:
        raise AssertionError("a refused body never reaches the endpoint")

    return TestClient(app, raise_server_exceptions=False)


def request_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [line for line in log_events(caplog) if line["event"] == "http.request"]


@pytest.mark.parametrize("path", ["/async", "/sync"])
def test_the_endpoint_runs_with_the_callers_correlation_id_and_trace(
    client: TestClient, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    response = client.get(path, headers={"X-Correlation-ID": "visit-7", "traceparent": TRACEPARENT})
    seen = response.json()
    assert (seen["correlation_id"], seen["trace_id"]) == ("visit-7", TRACE_ID)
    [line] = request_lines(caplog)
    assert line["request_id"] == seen["request_id"]
    assert (line["method"], line["path"], line["status"]) == ("GET", path, 200)
    assert line["correlation_id"] == "visit-7"
    assert isinstance(line["duration_ms"], float)


def test_a_request_without_them_gets_neither_and_a_request_id_of_its_own(
    client: TestClient,
) -> None:
    first, second = client.get("/async").json(), client.get("/async").json()
    assert (first["correlation_id"], first["trace_id"]) == (None, None)
    assert first["request_id"] != second["request_id"]


def test_a_request_that_fails_is_logged_as_the_500_it_gets(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    response = client.get("/bug", headers={"X-Correlation-ID": "visit-8"})
    assert response.status_code == 500
    [line] = request_lines(caplog)
    assert (line["path"], line["status"], line["correlation_id"]) == ("/bug", 500, "visit-8")


def test_a_refused_body_is_logged_with_its_413(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    response = client.post("/upload", content=b"x" * (1024 * 1024 + 1))
    assert response.status_code == 413
    [line] = request_lines(caplog)
    assert (line["path"], line["status"]) == ("/upload", 413)
