"""Citizens in the database: the blind index and the sealed identity."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, insert, update
from sqlmodel import Session, col, select

from referrals.store.ports import StoredCitizen
from referrals.store.tables import CitizenRow


class SqlCitizenRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def find(self, blind_index: str) -> StoredCitizen | None:
        # Columns, not the entity: on every submission, and setting up the ORM's loading
        # of a CitizenRow cost more than the query.
        row = self.session.exec(
            select(CitizenRow.id, CitizenRow.blind_index, CitizenRow.identity_ciphertext)
            .where(CitizenRow.blind_index == blind_index)
            .with_for_update()
        ).first()
        return StoredCitizen(*row) if row else None

    def get(self, citizen_id: UUID) -> StoredCitizen | None:
        row = self.session.get(CitizenRow, citizen_id)
        return _citizen(row) if row else None

    def add(self, citizen: StoredCitizen, *, now: datetime) -> None:
        # A second citizen of the same blind index fails here.
        self.session.execute(
            insert(CitizenRow).values(
                id=citizen.id,
                blind_index=citizen.blind_index,
                identity_ciphertext=citizen.identity,
                created_at=now,
                updated_at=now,
            )
        )

    def update_identity(self, citizen_id: UUID, identity: bytes, *, now: datetime) -> None:
        self.session.execute(
            update(CitizenRow)
            .where(col(CitizenRow.id) == citizen_id)
            .values(identity_ciphertext=identity, updated_at=now)
            .execution_options(synchronize_session=False)
        )

    def remove(self, citizen_id: UUID) -> None:
        self.session.execute(
            delete(CitizenRow)
            .where(col(CitizenRow.id) == citizen_id)
            .execution_options(synchronize_session=False)
        )


def _citizen(row: CitizenRow) -> StoredCitizen:
    return StoredCitizen(row.id, row.blind_index, row.identity_ciphertext)
