"""Wires one service process: database, Kafka broker, outbox relay, consumers and HTTP app.

HTTP is up before Kafka answers: requests keep committing to the outbox, and the relay
and consumers start as soon as the broker is reachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import structlog
import uvicorn
from fastapi import APIRouter, FastAPI, Request, Response
from faststream.kafka import KafkaBroker
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from contracts import IntegrationEvent
from runtime.asyncapi import asyncapi_document
from runtime.config import ServiceSettings
from runtime.consumer import EventConsumer, Handler
from runtime.envelope import OutgoingMessage, correlation_id_var, trace_id_from, trace_id_var
from runtime.logs import configure_logging, get_logger
from runtime.migrations import upgrade
from runtime.openapi import document_api
from runtime.problems import install_problem_handlers, problem_response
from runtime.relay import OutboxRelay
from runtime.storage import UnitOfWork, make_engine, prune_plumbing

U = TypeVar("U", bound=UnitOfWork)

log = get_logger(component="service")


class ServiceRuntime:
    def __init__(
        self,
        settings: ServiceSettings,
        *,
        migrations_dir: Path,
        publishes: Iterable[type[IntegrationEvent]],
    ) -> None:
        configure_logging(settings.service_name, settings.log_level)
        self.settings = settings
        self.name = settings.service_name
        self.source = f"/brobygger/{self.name}"
        self.migrations_dir = migrations_dir
        self.publishes = list(publishes)
        self.engine = make_engine(settings.effective_database_url())
        self.session_factory = sessionmaker(self.engine, class_=Session, expire_on_commit=False)
        self.broker = KafkaBroker(
            settings.kafka_bootstrap_servers,
            client_id=f"brobygger-{self.name}",
            enable_idempotence=True,  # acks=all, no duplicates from producer retries
            logger=logging.getLogger("brobygger.faststream"),  # our JSON lines, not its colours
            # FastStream's "received"/"processed" lines only at DEBUG: the consumer logs
            # each message with its event context at INFO already.
            log_level=logging.DEBUG,
        )
        self.relay = OutboxRelay(self.session_factory, self.publish)
        self.consumers: list[EventConsumer] = []
        self._workers: list[Callable[[], Coroutine[Any, Any, None]]] = [self._housekeeping]
        self._startup: list[Callable[[], None]] = []
        self.kafka_ready = asyncio.Event()

    def uow_factory(self, uow_class: Callable[..., U]) -> Callable[[], U]:
        """A factory of the service's unit of work, waking the relay after each commit."""
        return lambda: uow_class(self.session_factory, self.source, self.relay.wake)

    def consume(
        self,
        handlers: Mapping[type[IntegrationEvent], Handler],
        uow_factory: Callable[[], UnitOfWork],
    ) -> EventConsumer:
        consumer = EventConsumer(
            group_id=f"brobygger-{self.name}",
            handlers=handlers,
            uow_factory=uow_factory,
            dead_letter_topic=f"{self.name}.deadletter.v1",
            publish_raw=self._publish_raw,
            max_attempts=self.settings.consumer_max_attempts,
            backoff_seconds=self.settings.consumer_backoff_seconds,
        )
        consumer.attach(self.broker)
        self.consumers.append(consumer)
        return consumer

    def on_startup(self, step: Callable[[], None]) -> None:
        """Run `step` once after the migrations and before serving (e.g. seeding demo data)."""
        self._startup.append(step)

    def run_in_background(self, worker: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run `worker()` for the life of the process (e.g. a delivery dispatcher)."""
        self._workers.append(worker)

    async def publish(self, message: OutgoingMessage) -> None:
        await self._publish_raw(message.topic, message.key.encode(), message.value, message.headers)

    async def _publish_raw(
        self, topic: str, key: bytes | None, value: bytes, headers: dict[str, str]
    ) -> None:
        await self.broker.publish(
            value,
            topic=topic,
            key=key,
            headers=headers,
            # FastStream adds a correlation_id header of its own; make it say the same.
            correlation_id=headers.get("ce_correlationid"),
        )

    def asyncapi(self) -> dict[str, Any]:
        consumed = [event for consumer in self.consumers for event in consumer.handled_events]
        return asyncapi_document(
            self.name,
            publishes=self.publishes,
            consumes=consumed,
            kafka_url=self.settings.kafka_bootstrap_servers,
        )

    async def _housekeeping(self) -> None:
        """Hourly: forget published outbox rows and old inbox ids, so neither grows forever."""
        while True:
            try:
                published, processed = await asyncio.to_thread(
                    prune_plumbing,
                    self.session_factory,
                    now=datetime.now(UTC),
                    keep_published=timedelta(days=self.settings.keep_published_events_days),
                    keep_processed=timedelta(days=self.settings.keep_processed_event_ids_days),
                )
                log.info("housekeeping.pruned", outbox_rows=published, inbox_rows=processed)
            except Exception as error:
                log.warning("housekeeping.failed", error=repr(error))
            await asyncio.sleep(3600)

    async def _connect_kafka(self) -> None:
        delay = 0.5
        while True:
            try:
                await self.broker.start()
                break
            except Exception as error:
                log.warning(
                    "kafka.unavailable",
                    bootstrap=self.settings.kafka_bootstrap_servers,
                    error=repr(error),
                    retry_in_s=delay,
                )
                with contextlib.suppress(Exception):
                    await self.broker.stop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        self.kafka_ready.set()
        log.info("kafka.connected", bootstrap=self.settings.kafka_bootstrap_servers)
        if self.settings.relay_enabled:
            await self.relay.run()

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        if self.settings.migrate_on_start:
            await asyncio.to_thread(upgrade, self.migrations_dir, self.engine)
        for step in self._startup:
            await asyncio.to_thread(step)
        tasks = [asyncio.create_task(self._connect_kafka(), name=f"{self.name}-kafka")]
        tasks += [asyncio.create_task(worker()) for worker in self._workers]
        log.info("service.started", port=self.settings.http_port)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.broker.stop()
            self.engine.dispose()
            log.info("service.stopped")

    def create_app(self, *routers: APIRouter, description: str) -> FastAPI:
        app = FastAPI(
            title=f"Brobygger {self.name}",
            description=description,
            version="1.0.0",
            lifespan=self.lifespan,
        )
        app.state.jwt_secret = self.settings.jwt_secret.get_secret_value()
        install_problem_handlers(app)
        app.middleware("http")(refuse_large_bodies)
        app.middleware("http")(log_request)

        @app.get("/health", tags=["operations"], summary="Liveness and Kafka connection")
        def health() -> dict[str, object]:
            return {"status": "ok", "service": self.name, "kafka": self.kafka_ready.is_set()}

        @app.get("/asyncapi.json", tags=["operations"], summary="AsyncAPI 3.0 document")
        def asyncapi() -> dict[str, Any]:
            return self.asyncapi()

        for router in routers:
            app.include_router(router)
        document_api(app)
        return app


MAX_BODY_BYTES = 1024 * 1024


async def refuse_large_bodies(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """No request of these APIs needs more than a megabyte; refuse before reading it."""
    declared = request.headers.get("content-length", "0")
    if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
        return problem_response(
            request, 413, f"The request body may be at most {MAX_BODY_BYTES} bytes."
        )
    return await call_next(request)


async def log_request(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """One log line per request; a caller's X-Correlation-ID follows into the events it causes."""
    started = time.perf_counter()
    correlation_id = (request.headers.get("x-correlation-id") or "")[:200] or None
    token = correlation_id_var.set(correlation_id)
    # A caller's W3C trace continues into the events this request causes.
    trace_token = trace_id_var.set(trace_id_from(request.headers.get("traceparent")))
    try:
        with structlog.contextvars.bound_contextvars(
            request_id=str(uuid.uuid4()), correlation_id=correlation_id
        ):
            response = await call_next(request)
            level = logging.DEBUG if request.url.path == "/health" else logging.INFO
            log.log(
                level,
                "http.request",
                method=request.method,
                path=request.url.path,
                status=response.status_code,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )
            return response
    finally:
        correlation_id_var.reset(token)
        trace_id_var.reset(trace_token)


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    """Run one service's HTTP server in this process (`python -m <service>`)."""
    # log_config=None: uvicorn's records reach our JSON handler instead of its own.
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_level="warning",
        log_config=None,
    )
