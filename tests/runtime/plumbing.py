"""A minimal service for exercising the runtime plumbing: no tables but outbox and inbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from contracts import NoMatchFound, ReferralSubmitted
from runtime.storage import UnitOfWork, inbox, make_engine, outbox, plumbing_metadata


@dataclass
class PlumbingStore:
    engine: Engine
    session_factory: sessionmaker[Session]

    def start_uow(self) -> UnitOfWork:
        return UnitOfWork(self.session_factory, "/brobygger/test")

    def counts(self) -> tuple[int, int]:
        """(inbox rows, outbox rows)."""
        return count(self.engine, inbox), count(self.engine, outbox)


def plumbing_store(tmp_path: Path) -> PlumbingStore:
    engine = make_engine(f"sqlite:///{tmp_path}/plumbing.db")
    plumbing_metadata.create_all(engine)
    return PlumbingStore(engine, sessionmaker(engine, class_=Session, expire_on_commit=False))


def answer_with_no_match(event: ReferralSubmitted, uow: UnitOfWork) -> None:
    """A handler that writes something: one outbox row per processed event."""
    uow.publish(NoMatchFound(referral_id=event.referral_id, reason="test"))
    uow.commit()


def submitted(referral_id: UUID | None = None) -> ReferralSubmitted:
    return ReferralSubmitted(
        referral_id=referral_id or uuid4(),
        citizen_ref="cit_1",
        age_band="80-84",
        district="Nørrebro",
        interests=["walking"],
        languages=["da"],
        submitted_at=datetime.now(UTC),
    )


def count(engine: Engine, table: object) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())
