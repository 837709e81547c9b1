"""Citizens in the database: the blind index and the sealed identity."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import Table, bindparam, delete, insert, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from referrals.store.ports import StoredCitizen
from referrals.store.tables import CitizenRow


class SqlCitizenRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def find(self, blind_index: str) -> StoredCitizen | None:
        # Columns, not the entity, by a statement built once: on every submission, setting
        # up the ORM's loading of a CitizenRow, or building the statement, cost more than
        # the query.
        row = self.session.connection().execute(_FIND, {"blind_index": blind_index}).first()
        return StoredCitizen(*row) if row else None

    def get(self, citizen_id: UUID) -> StoredCitizen | None:
        row = self.session.get(CitizenRow, citizen_id)
        return _citizen(row) if row else None

    def add(self, citizen: StoredCitizen, *, now: datetime) -> None:
        # A second citizen of the same blind index fails here.
        self.session.connection().execute(
            _ADD,
            {
                "id": citizen.id,
                "blind_index": citizen.blind_index,
                "identity_ciphertext": citizen.identity,
                "created_at": now,
                "updated_at": now,
            },
        )

    def update_identity(self, citizen_id: UUID, identity: bytes, *, now: datetime) -> None:
        self.session.connection().execute(
            _UPDATE_IDENTITY,
            {"_id": citizen_id, "identity_ciphertext": identity, "updated_at": now},
        )

    def remove(self, citizen_id: UUID) -> None:
        self.session.execute(
            delete(CitizenRow)
            .where(col(CitizenRow.id) == citizen_id)
            .execution_options(synchronize_session=False)
        )


def _citizen(row: CitizenRow) -> StoredCitizen:
    return StoredCitizen(row.id, row.blind_index, row.identity_ciphertext)


_CITIZEN: Table = CitizenRow.__table__  # type: ignore[attr-defined]
_FIND = (
    sa_select(_CITIZEN.c.id, _CITIZEN.c.blind_index, _CITIZEN.c.identity_ciphertext)
    .where(_CITIZEN.c.blind_index == bindparam("blind_index"))
    .with_for_update()
)
_ADD = insert(_CITIZEN)
_UPDATE_IDENTITY = update(_CITIZEN).where(_CITIZEN.c.id == bindparam("_id"))
