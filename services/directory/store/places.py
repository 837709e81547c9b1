"""The places accepted referrals hold, until they end."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from sqlalchemy import delete
from sqlmodel import Session, col, select

from directory.store.tables import PlaceHoldRow


class PlaceHoldRepository(Protocol):
    def add(self, referral_id: UUID, service_id: UUID) -> None: ...

    def held_by(self, referral_id: UUID) -> UUID | None:
        """The service whose place the referral holds, if any."""
        ...

    def release(self, referral_id: UUID) -> UUID | None:
        """Drop the referral's hold; the service whose place it held, if any."""
        ...


class SqlPlaceHoldRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, referral_id: UUID, service_id: UUID) -> None:
        self.session.add(PlaceHoldRow(referral_id=referral_id, service_id=service_id))
        self.session.flush()

    def held_by(self, referral_id: UUID) -> UUID | None:
        return self.session.exec(
            select(PlaceHoldRow.service_id).where(PlaceHoldRow.referral_id == referral_id)
        ).first()

    def release(self, referral_id: UUID) -> UUID | None:
        # One statement: of two transactions releasing the same hold, one gets it.
        released: UUID | None = self.session.execute(
            delete(PlaceHoldRow)
            .where(col(PlaceHoldRow.referral_id) == referral_id)
            .returning(col(PlaceHoldRow.service_id))
            .execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        return released
