"""A minimal service for exercising the runtime plumbing: no tables but outbox and inbox."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from contracts import IntegrationEvent, NoMatchFound, ReferralSubmitted
from runtime.consumer import EventConsumer, Handler
from runtime.storage import UnitOfWork, inbox, make_engine, outbox, plumbing_metadata
from tests.events import referral_submitted


@dataclass
class PlumbingStore:
    engine: Engine
    session_factory: sessionmaker[Session]

    def start_uow(self) -> UnitOfWork:
        return UnitOfWork(self.session_factory, "/brobygger/test")

    def commit_events(self, *events: IntegrationEvent) -> None:
        """Publish each event in a transaction of its own."""
        for event in events:
            with self.start_uow() as uow:
                uow.publish(event)
                uow.commit()

    def counts(self) -> tuple[int, int]:
        """(inbox rows, outbox rows)."""
        return count(self.engine, inbox), count(self.engine, outbox)


def plumbing_store(tmp_path: Path) -> PlumbingStore:
    return plumbing_store_on(make_engine(f"sqlite:///{tmp_path}/plumbing.db"))


def plumbing_store_on(engine: Engine) -> PlumbingStore:
    plumbing_metadata.create_all(engine)
    return PlumbingStore(engine, sessionmaker(engine, class_=Session, expire_on_commit=False))


def travelling_on(name: str) -> type[ReferralSubmitted]:
    """ReferralSubmitted, sent to the topic `name` instead of its own."""

    class OnTopic(ReferralSubmitted):
        topic = name

    return OnTopic


def answer_with_no_match(event: ReferralSubmitted, uow: UnitOfWork) -> None:
    """A handler that writes something: one outbox row per processed event."""
    uow.publish(NoMatchFound(referral_id=event.referral_id, reason="test"))
    uow.commit()


def submitted(
    referral_id: UUID | None = None,
    *,
    contract: type[ReferralSubmitted] = ReferralSubmitted,
    **changes: Any,
) -> ReferralSubmitted:
    """A ReferralSubmitted, as the `contract` given (one that travels elsewhere, say)."""
    event = referral_submitted(referral_id=referral_id or uuid4(), **changes)
    return contract.model_validate(event.model_dump())


def count(engine: Engine, table: object) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


class DeadLetters:
    """A dead-letter topic double: what the consumer sent there."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, dict[str, str]]] = []

    async def publish(
        self, topic: str, key: bytes | None, value: bytes, headers: dict[str, str]
    ) -> None:
        self.sent.append((topic, value, headers))


def consumer_on(
    store: PlumbingStore, dead: DeadLetters, handler: Handler = answer_with_no_match
) -> EventConsumer:
    return EventConsumer(
        group_id="test",
        handlers={ReferralSubmitted: handler},
        uow_factory=store.start_uow,
        dead_letter_topic="test.deadletter.v1",
        publish_raw=dead.publish,
        max_attempts=2,
        backoff_seconds=0.01,
    )
