"""What the tests of every service and of the runtime share."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from uuid import UUID, uuid4

from pydantic import SecretStr
from sqlalchemy import Engine, text

from contracts import IntegrationEvent
from runtime.auth import Role
from runtime.cli import mint_token
from runtime.consumer import IncomingRecord
from runtime.envelope import envelope
from runtime.kafka_security import KafkaLogin
from tests.conftest import TEST_KAFKA_PASSWORDS, TEST_SIGNING_KEY

T = TypeVar("T")


def record_of(
    event: IntegrationEvent, offset: int = 0, source: str | None = None
) -> IncomingRecord:
    """`event` as a consumer receives it from Kafka: a CloudEvent in binary mode, from the
    service that owns its type unless `source` says otherwise."""
    message = envelope(event, source or event.source())
    return IncomingRecord(
        topic=message.topic,
        partition=0,
        offset=offset,
        key=message.key.encode(),
        headers=message.headers,
        value=message.value,
    )


def kafka_login(principal: str = "admin") -> KafkaLogin:
    """How a test's own Kafka client logs in to the test broker: as the super user `admin`
    (it reads and writes any topic), or as a service's principal to meet its ACLs."""
    return KafkaLogin(username=principal, password=SecretStr(TEST_KAFKA_PASSWORDS[principal]))


def kafka_options(principal: str = "admin") -> dict[str, Any]:
    """The login keyword options of a test's raw aiokafka client (producer, consumer,
    admin), e.g. `AIOKafkaConsumer(bootstrap_servers=kafka, **kafka_options())`."""
    return kafka_login(principal).aiokafka_options()


def wait_for(check: Callable[[], T], what: str, timeout: float = 30) -> T:
    """Poll `check` until it returns something true, and return that; fail after `timeout`
    seconds naming `what` was awaited. For conditions with no signal to wait on."""
    deadline = time.monotonic() + timeout
    while not (outcome := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)
    return outcome


async def eventually(
    check: Callable[[], object] | Callable[[], Awaitable[object]],
    what: str = "the condition",
    timeout: float = 30,
) -> None:
    """`wait_for` inside an event loop: `check` may be a coroutine function."""
    deadline = time.monotonic() + timeout
    while True:
        outcome = check()
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if outcome:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


def token(role: Role, *, subject: str | None = None, organization_id: UUID | None = None) -> str:
    """A bearer token the services under test accept: of `subject` (`<role>-1`, unless
    given) in `role`; a partner's names `organization_id` (a new organisation, unless given)."""
    if role is Role.PARTNER and organization_id is None:
        organization_id = uuid4()
    return mint_token(
        TEST_SIGNING_KEY,
        subject=subject or f"{role.value}-1",
        role=role,
        organization_id=organization_id,
    )


def auth_header(
    role: Role, *, subject: str | None = None, organization_id: UUID | None = None
) -> dict[str, str]:
    """The `Authorization` header of a `token` with these claims."""
    bearer = token(role, subject=subject, organization_id=organization_id)
    return {"Authorization": f"Bearer {bearer}"}


def waiting_for_a_lock(engine: Engine) -> bool:
    """Whether a session of the engine's PostgreSQL database waits for a lock: the signal
    that a second writer is blocked behind the first."""
    with engine.connect() as connection:
        return bool(
            connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        )
