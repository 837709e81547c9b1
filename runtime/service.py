"""Wires one service process: database, Kafka broker, outbox relay, consumers and HTTP app.

HTTP is up before Kafka answers: requests keep committing to the outbox, and the relay
and consumers start as soon as the broker is reachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

import anyio.to_thread
import uvicorn
from fastapi import APIRouter, FastAPI
from faststream.kafka import KafkaBroker
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from contracts import IntegrationEvent
from runtime.asyncapi import asyncapi_document
from runtime.commit_signal import SqliteCommits, wake_on_commits
from runtime.config import ServiceSettings
from runtime.consumer import EventConsumer, Handler
from runtime.envelope import OutgoingMessage
from runtime.leadership import Leadership, lock_for
from runtime.logs import configure_logging, describe_error, get_logger
from runtime.middleware import install_http_middleware
from runtime.migrations import upgrade
from runtime.openapi import RETRY_AFTER, document_api
from runtime.problems import Problem, install_problem_handlers
from runtime.relay import OutboxRelay
from runtime.storage import UnitOfWork, make_engine, prune_plumbing

U = TypeVar("U", bound=UnitOfWork)

log = get_logger(component="service")

KAFKA_PROBE_TIMEOUT_SECONDS = 1.0
KAFKA_PROBE_CACHE_SECONDS = 2.0
HTTP_WORKER_THREADS = 4
"""Threads that run synchronous endpoints at once (anyio's default is 40). More only queue
on the GIL and the database's write lock, and crowd out the thread that handles consumed
events: past capacity the work already taken would stall while more was taken in."""


class CachedProbe:
    """An async yes/no check whose answer is reused for `ttl_seconds`, so that however
    often it is asked, the checked dependency sees at most one check per period. Callers
    arriving while a check runs wait for its answer instead of starting their own."""

    def __init__(
        self,
        check: Callable[[], Awaitable[bool]],
        *,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._check = check
        self._ttl = ttl_seconds
        self._clock = clock
        self._answer: tuple[float, bool] | None = None  # (fresh until, answer)
        self._lock = asyncio.Lock()

    async def __call__(self) -> bool:
        async with self._lock:
            if self._answer is None or self._clock() >= self._answer[0]:
                answer = await self._check()
                self._answer = (self._clock() + self._ttl, answer)
            return self._answer[1]

    def forget(self) -> None:
        """Drop the cached answer: the next call checks again."""
        self._answer = None


class Health(BaseModel):
    status: Literal["ok"] = Field(description="Always `ok`: the process is up and answers.")
    service: str = Field(description="The service's name, e.g. `referrals`.")
    kafka: bool = Field(
        description="Whether the Kafka broker answered a metadata request; the answer is "
        f"at most {KAFKA_PROBE_CACHE_SECONDS:g} seconds old."
    )
    relay_leader: bool = Field(
        description="Whether this replica publishes the service's outbox now: of the "
        "replicas sharing a database, one at a time does."
    )


class Readiness(BaseModel):
    status: Literal["ready"] = Field(
        description="Always `ready`: when a dependency is missing the answer is a 503 problem."
    )
    service: str = Field(description="The service's name, e.g. `referrals`.")
    database: bool = Field(description="The service's database answered `SELECT 1`.")
    kafka: bool = Field(description="The Kafka broker answered a metadata request.")


class ServiceRuntime:
    def __init__(
        self,
        settings: ServiceSettings,
        *,
        migrations_dir: Path,
        publishes: Iterable[type[IntegrationEvent]],
        forwards_to_partners: Iterable[type[IntegrationEvent]] = (),
        discardable: Callable[[str], bool] = lambda _topic: False,
    ) -> None:
        """`forwards_to_partners`: consumed events it writes on partners' own topics (for
        its AsyncAPI document); `discardable`: topics whose waiting events the relay drops
        once it may no longer write them (see `runtime.relay`)."""
        configure_logging(settings.service_name, settings.log_level)
        self.settings = settings
        self.name = settings.service_name
        self.source = f"/brobygger/{self.name}"
        self.migrations_dir = migrations_dir
        self.publishes = list(publishes)
        self.forwards_to_partners = list(forwards_to_partners)
        self.engine = make_engine(
            settings.effective_database_url(),
            pool_size=settings.db_pool_size,
            pool_timeout=settings.db_pool_timeout_seconds,
        )
        self.session_factory = sessionmaker(self.engine, class_=Session, expire_on_commit=False)
        self.broker = KafkaBroker(
            settings.kafka_bootstrap_servers,
            client_id=f"brobygger-{self.name}",
            # As the service's own principal: the ACLs let it write only its own topics.
            security=settings.kafka_login().faststream_security(),
            # Topics are declared in infra/topics.toml; a service may not create any.
            allow_auto_create_topics=False,
            enable_idempotence=True,  # acks=all, no duplicates from producer retries
            logger=logging.getLogger("brobygger.faststream"),  # our JSON lines, not its colours
            # FastStream's "received"/"processed" lines only at DEBUG: the consumer logs
            # each message with its event context at INFO already.
            log_level=logging.DEBUG,
        )
        # Of the replicas sharing the database, one publishes the outbox: two would send
        # every row twice.
        self.relay_leadership = Leadership(
            lock_for(self.engine, f"brobygger-relay-{self.name}"),
            retry_seconds=settings.leader_retry_seconds,
            check_seconds=settings.leader_retry_seconds,
        )
        self._sqlite_commits = SqliteCommits(self.engine)
        self.relay = OutboxRelay(
            self.session_factory,
            self.publish,
            broker_reachable=self.kafka_reachable,
            max_attempts=settings.outbox_max_attempts,
            discardable=discardable,
        )
        self.consumers: list[EventConsumer] = []
        self._workers: list[Callable[[], Coroutine[Any, Any, None]]] = [
            self._housekeeping,
            lambda: wake_on_commits(self.engine, self.relay.wake),
        ]
        self._startup: list[Callable[[], None]] = []
        self._kafka_probe = CachedProbe(self._ping_kafka, ttl_seconds=KAFKA_PROBE_CACHE_SECONDS)

    def uow_factory(self, uow_class: Callable[..., U]) -> Callable[[], U]:
        """A factory of the service's unit of work, waking the relay after each commit."""
        return lambda: uow_class(self.session_factory, self.source, self._committed)

    def _committed(self) -> None:
        """After a commit that wrote the outbox: wake the relay, this replica's if it leads,
        else (on SQLite) the leading replica's; on PostgreSQL the commit's NOTIFY does."""
        if self.relay_leadership.leading:
            self.relay.wake()
        else:
            self._sqlite_commits.announce()

    async def _publish_outbox(self) -> None:
        """The relay, while this replica leads, hearing the other replicas' commits. Either
        failing stops both: a relay left running after its leadership ended would publish
        beside the next leader's."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self.relay.run())
            group.create_task(self._sqlite_commits.listen(self.relay.wake))

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
            commit_interval_seconds=self.settings.consumer_commit_interval_seconds,
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

    async def publish(self, message: OutgoingMessage) -> Awaitable[object]:
        """Hand `message` to the producer; returns what completes once the broker
        acknowledged it (the relay waits for several at once)."""
        acknowledged: Awaitable[object] = await self._publish_raw(
            message.topic, message.key.encode(), message.value, message.headers, confirm=False
        )
        return acknowledged

    async def _publish_raw(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: dict[str, str],
        *,
        confirm: bool = True,
    ) -> Any:
        return await self.broker.publish(
            value,
            topic=topic,
            key=key,
            headers=headers,
            # FastStream adds a correlation_id header of its own; make it say the same.
            correlation_id=headers.get("ce_correlationid"),
            no_confirm=not confirm,
        )

    async def kafka_reachable(self) -> bool:
        """Whether the broker answers now (a metadata request, at most a second), the
        answer reused for two seconds so that /health and the relay cannot flood it."""
        return await self._kafka_probe()

    async def _ping_kafka(self) -> bool:
        # False at once while the broker's clients are not started.
        return bool(await self.broker.ping(timeout=KAFKA_PROBE_TIMEOUT_SECONDS))

    async def database_answers(self) -> bool:
        """Whether the database answers a trivial query (waiting at most the pool timeout)."""

        def select_one() -> None:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))

        try:
            await asyncio.to_thread(select_one)
        except SQLAlchemyError as error:
            log.warning("database.unavailable", error=describe_error(error))
            return False
        return True

    def asyncapi(self) -> dict[str, Any]:
        consumed = [event for consumer in self.consumers for event in consumer.handled_events]
        return asyncapi_document(
            self.name,
            publishes=self.publishes,
            consumes=consumed,
            forwards_to_partners=self.forwards_to_partners,
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
        self._kafka_probe.forget()  # an "unreachable" cached before connecting is stale now
        log.info("kafka.connected", bootstrap=self.settings.kafka_bootstrap_servers)
        if self.settings.relay_enabled:
            await self.relay_leadership.run(self._publish_outbox)

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = HTTP_WORKER_THREADS
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
            await self._stop_kafka()
            self.engine.dispose()
            log.info("service.stopped")

    async def _stop_kafka(self) -> None:
        """Stop the Kafka clients, waiting at most `shutdown_seconds`: with the broker away,
        aiokafka's producer would wait for ever to flush what it holds."""
        try:
            await asyncio.wait_for(self._commit_and_stop_kafka(), self.settings.shutdown_seconds)
        except TimeoutError:
            log.warning(
                "service.kafka_stop_timed_out",
                after_s=self.settings.shutdown_seconds,
                detail="events not acknowledged stay in the outbox and go out after the "
                "restart; offsets not committed are delivered again and skipped",
            )

    async def _commit_and_stop_kafka(self) -> None:
        # The consumers' last positions while their clients are still open: aiokafka does
        # not commit on stop with manual commits.
        for consumer in self.consumers:
            await consumer.stop()
        await self.broker.stop()

    def create_app(self, *routers: APIRouter, description: str) -> FastAPI:
        app = FastAPI(
            title=f"Brobygger {self.name}",
            description=description,
            version="1.0.0",
            lifespan=self.lifespan,
        )
        app.state.token_verifier = self.settings.token_verifier()
        install_problem_handlers(app)
        install_http_middleware(app)

        @app.get("/health", tags=["operations"], summary="Liveness and Kafka connection")
        async def health() -> Health:
            """200 while the process runs, even when a dependency is down (restarting the
            process would not bring it back); `kafka` says whether the broker answers now."""
            return Health(
                status="ok",
                service=self.name,
                kafka=await self.kafka_reachable(),
                relay_leader=self.relay_leadership.leading,
            )

        @app.get(
            "/ready",
            tags=["operations"],
            summary="Readiness: the database and Kafka answer",
            responses={
                503: {
                    "description": "A dependency does not answer: send work elsewhere and "
                    "ask again after `Retry-After` seconds. `unavailable` lists which: "
                    "`database`, `kafka`.",
                    "headers": RETRY_AFTER,
                }
            },
        )
        async def ready() -> Readiness:
            """200 when the service can take work: its database answers a trivial query
            and the Kafka broker is reachable."""
            database, kafka = await asyncio.gather(self.database_answers(), self.kafka_reachable())
            unavailable = [
                name for name, up in (("database", database), ("kafka", kafka)) if not up
            ]
            if unavailable:
                raise Problem(
                    503,
                    f"Not ready to take work; not answering: {', '.join(unavailable)}.",
                    headers={"Retry-After": "5"},
                    unavailable=unavailable,
                )
            return Readiness(status="ready", service=self.name, database=True, kafka=True)

        @app.get("/asyncapi.json", tags=["operations"], summary="AsyncAPI 3.0 document")
        def asyncapi() -> dict[str, Any]:
            return self.asyncapi()

        for router in routers:
            app.include_router(router)
        document_api(app)
        return app


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    """Run one service's HTTP server in this process (`python -m <service>`)."""
    # What the imports made (about 185,000 objects) lives as long as the process: out of
    # the collector's sight, a full collection takes well under a millisecond instead of
    # about 100 ms, each of which stalled every request and event in flight.
    gc.collect()
    gc.freeze()
    # log_config=None: uvicorn's records reach our JSON handler instead of its own.
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_level="warning",
        log_config=None,
        timeout_graceful_shutdown=math.ceil(settings.shutdown_seconds),
    )
