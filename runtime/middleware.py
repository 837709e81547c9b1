"""The HTTP middleware every service shares, as plain ASGI (no BaseHTTPMiddleware: it
costs throughput and keeps the endpoint out of the middleware's context)."""

from __future__ import annotations

import logging
import time
import uuid

import structlog
from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime.envelope import correlation_id_var, trace_id_from, trace_id_var
from runtime.http import MAX_BODY_BYTES
from runtime.logs import get_logger
from runtime.problems import problem_response

log = get_logger(component="http")

PROBE_PATHS = frozenset({"/health", "/ready"})
"""Asked every few seconds by orchestrators: logged at DEBUG only."""


def install_http_middleware(app: FastAPI) -> None:
    """The body size limit, inside one log line per request (the outermost layer)."""
    app.add_middleware(LimitBodySize, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(LogRequests)


class BodyTooLarge(HTTPException):
    """Raised from `receive` once the body passes the limit. An HTTPException, so that
    FastAPI's body parsing lets it through to the problem handlers (anything else it
    turns into a 400)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"The request body may be at most {max_bytes} bytes.")


class LimitBodySize:
    """Refuses a request whose body is over `max_bytes`, as 413 problem+json: at once when
    its Content-Length says so, otherwise (a chunked body) as soon as the bytes received
    pass the limit. The endpoint never sees a truncated body."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and not declared.isdigit():
            await _answer(scope, receive, send, 400, "Content-Length must be a number of bytes.")
            return
        if declared is not None and int(declared) > self.max_bytes:
            await _answer(scope, receive, send, 413, BodyTooLarge(self.max_bytes).detail)
            return

        received = 0
        response_started = False

        async def receive_counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def send_noting_start(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive_counted, send_noting_start)
        except BodyTooLarge as refused:
            # The app's problem handlers answer it; this is for an app without them.
            if response_started:
                raise
            await _answer(scope, receive, send, 413, refused.detail)


async def _answer(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
    await problem_response(Request(scope), status, detail)(scope, receive, send)


class LogRequests:
    """One log line per request; a caller's X-Correlation-ID and W3C trace follow into the
    events it causes. Plain ASGI: the endpoint runs in this context, so what is set here
    reaches it (and structlog's bound values reach every line logged on the way)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = Headers(scope=scope)
        correlation_id = (headers.get("x-correlation-id") or "")[:200] or None
        status = 500  # what the client gets if the app fails before it answers

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        token = correlation_id_var.set(correlation_id)
        trace_token = trace_id_var.set(trace_id_from(headers.get("traceparent")))
        try:
            with structlog.contextvars.bound_contextvars(
                request_id=str(uuid.uuid4()), correlation_id=correlation_id
            ):
                try:
                    await self.app(scope, receive, send_noting_status)
                finally:
                    path = scope["path"]
                    log.log(
                        logging.DEBUG if path in PROBE_PATHS else logging.INFO,
                        "http.request",
                        method=scope["method"],
                        path=path,
                        status=status,
                        duration_ms=round((time.perf_counter() - started) * 1000, 1),
                    )
        finally:
            correlation_id_var.reset(token)
            trace_id_var.reset(trace_token)
