"""A request body over the limit is refused as 413 problem+json, whether it declares its
length or arrives chunked, in process and behind a real uvicorn server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel
from starlette.types import ASGIApp, Receive, Scope, Send

from runtime.http import MAX_BODY_BYTES
from runtime.middleware import LimitBodySize, install_http_middleware
from runtime.problems import install_problem_handlers
from tests.kit import wait_for

CHUNK = 64 * 1024


class Thing(BaseModel):
    text: str


class EchoService:
    """A service-like app whose endpoint records the size of every body it is given."""

    def __init__(self) -> None:
        self.seen: list[int] = []
        self.app = FastAPI()
        install_problem_handlers(self.app)
        install_http_middleware(self.app)

        @self.app.post("/things")
        def create(thing: Thing) -> dict[str, int]:
            self.seen.append(len(thing.text))
            return {"size": len(thing.text)}


def json_body(total_bytes: int) -> bytes:
    """A valid body of exactly `total_bytes`, so only its size can be what is refused."""
    return b'{"text": "' + b"x" * (total_bytes - 12) + b'"}'


def chunks(content: bytes) -> Iterator[bytes]:
    """Sent by httpx as Transfer-Encoding: chunked, without a Content-Length."""
    for start in range(0, len(content), CHUNK):
        yield content[start : start + CHUNK]


def assert_refused(response: httpx.Response, status: int = 413) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == status


@pytest.fixture
def service() -> EchoService:
    return EchoService()


@pytest.fixture
def client(service: EchoService) -> TestClient:
    return TestClient(service.app)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_the_limit_is_refused_before_the_endpoint_sees_it(
    service: EchoService, client: TestClient, chunked: bool
) -> None:
    content = json_body(MAX_BODY_BYTES + 1)
    response = client.post(
        "/things",
        content=chunks(content) if chunked else content,
        headers={"Content-Type": "application/json"},
    )
    assert_refused(response)
    assert str(MAX_BODY_BYTES) in response.json()["detail"]
    assert service.seen == []


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_of_exactly_the_limit_reaches_the_endpoint_whole(
    service: EchoService, client: TestClient, chunked: bool
) -> None:
    content = json_body(MAX_BODY_BYTES)
    response = client.post(
        "/things",
        content=chunks(content) if chunked else content,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert service.seen == [MAX_BODY_BYTES - 12]


def test_a_content_length_that_is_not_a_number_is_a_400(client: TestClient) -> None:
    response = client.post(
        "/things",
        content=json_body(100),
        headers={"Content-Type": "application/json", "Content-Length": "100x"},
    )
    assert_refused(response, 400)


def test_the_limit_answers_problem_json_itself_in_front_of_an_app_without_handlers() -> None:
    read: list[int] = []

    async def bare_app(scope: Scope, receive: Receive, send: Send) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        read.append(len(body))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    client = TestClient(LimitBodySize(bare_app, max_bytes=10))
    assert_refused(client.post("/", content=chunks(b"x" * 11)))
    assert client.post("/", content=chunks(b"x" * 10)).status_code == 204
    assert read == [10]


@contextmanager
def served(app: ASGIApp) -> Iterator[tuple[str, int]]:
    """`app` behind a real uvicorn server on a free loopback port: (host, port)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="off", log_level="warning", log_config=None)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive(), "uvicorn to start", 10)
    assert server.started, "uvicorn did not start"
    try:
        yield listener.getsockname()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


def test_a_real_server_refuses_a_chunked_body_over_the_limit_and_takes_the_next_one(
    service: EchoService,
) -> None:
    with (
        served(service.app) as (host, port),
        httpx.Client(base_url=f"http://{host}:{port}", timeout=10) as client,
    ):
        headers = {"Content-Type": "application/json"}
        too_large = client.post(
            "/things", content=chunks(json_body(2 * MAX_BODY_BYTES)), headers=headers
        )
        assert "content-length" not in too_large.request.headers
        assert too_large.request.headers["transfer-encoding"] == "chunked"
        assert_refused(too_large)
        within = client.post("/things", content=chunks(json_body(MAX_BODY_BYTES)), headers=headers)
        assert within.status_code == 200, within.text
    assert service.seen == [MAX_BODY_BYTES - 12]


def test_a_real_server_answers_413_as_soon_as_a_stream_passes_the_limit(
    service: EchoService,
) -> None:
    """The body never ends: only an answer given while it is still arriving can come."""
    with served(service.app) as address, socket.create_connection(address, timeout=10) as sock:
        sock.sendall(
            b"POST /things HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        for piece in chunks(json_body(MAX_BODY_BYTES + 1)):
            sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer:
            received = sock.recv(4096)
            assert received, f"connection closed without an answer: {answer!r}"
            answer += received
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"content-type: application/problem+json" in answer.lower()
    assert service.seen == []
