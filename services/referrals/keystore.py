"""The key store: citizens' data keys, wrapped under master keys, in a database of their own
(`REFERRALS_KEYSTORE_URL`). A copy of the referrals database alone therefore decrypts
nothing, and destroying a citizen's key here makes every copy of their data unreadable."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import (
    Column,
    Engine,
    LargeBinary,
    MetaData,
    String,
    Table,
    Uuid,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)

from referrals.privacy import WrappedKey
from runtime.clock import utcnow
from runtime.storage import UTCDateTime

keystore_metadata = MetaData()

data_keys = Table(
    "data_key",
    keystore_metadata,
    Column("citizen_id", Uuid(), primary_key=True),
    Column("kid", String(64), nullable=False, index=True),
    Column("wrapped", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

_ADD = insert(data_keys)
"""Built once: a key is added for every new citizen."""


class SqlDataKeyStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        if engine.dialect.name == "sqlite":
            # A deleted key is overwritten in the file, not left in a free page.
            event.listen(engine, "connect", _secure_delete)

    def create_table(self) -> None:
        """Create the one table if it is missing; replicas starting together take turns."""
        with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('keystore'))"))
            keystore_metadata.create_all(connection)

    def add(self, citizen_id: UUID, wrapped: WrappedKey) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                _ADD,
                {
                    "citizen_id": citizen_id,
                    "kid": wrapped.kid,
                    "wrapped": wrapped.sealed,
                    "created_at": utcnow(),
                },
            )

    def get(self, citizen_id: UUID) -> WrappedKey | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(data_keys.c.kid, data_keys.c.wrapped).where(
                    data_keys.c.citizen_id == citizen_id
                )
            ).first()
        return WrappedKey(row.kid, row.wrapped) if row else None

    def not_under(
        self, kid: str, *, after: UUID | None, limit: int
    ) -> list[tuple[UUID, WrappedKey]]:
        query = select(data_keys.c.citizen_id, data_keys.c.kid, data_keys.c.wrapped).where(
            data_keys.c.kid != kid
        )
        if after is not None:
            query = query.where(data_keys.c.citizen_id > after)
        with self.engine.connect() as connection:
            rows = connection.execute(query.order_by(data_keys.c.citizen_id).limit(limit)).all()
        return [(row.citizen_id, WrappedKey(row.kid, row.wrapped)) for row in rows]

    def replace(self, citizen_id: UUID, old: WrappedKey, new: WrappedKey) -> bool:
        with self.engine.begin() as connection:
            changed = connection.execute(
                update(data_keys)
                .where(
                    data_keys.c.citizen_id == citizen_id,
                    data_keys.c.kid == old.kid,
                    data_keys.c.wrapped == old.sealed,
                )
                .values(kid=new.kid, wrapped=new.sealed)
            )
        return bool(changed.rowcount == 1)

    def remove(self, citizen_id: UUID) -> bool:
        with self.engine.begin() as connection:
            removed = connection.execute(
                delete(data_keys).where(data_keys.c.citizen_id == citizen_id)
            )
        if self.engine.dialect.name == "sqlite":
            # Until a checkpoint the write-ahead log still holds the page with the key in it.
            with self.engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return bool(removed.rowcount == 1)

    def count(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(data_keys)).scalar_one())


def _secure_delete(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()
