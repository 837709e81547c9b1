"""Directory's services as referrals last heard of them."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import Table, bindparam, select
from sqlmodel import Session

from referrals.domain import (
    KnownService,
)
from referrals.store.tables import KnownServiceRow


class SqlServiceBook:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get_many(self, service_ids: set[UUID]) -> dict[UUID, KnownService]:
        if not service_ids:
            return {}
        # Core rows by a statement built once: on every referral's candidates, the ORM's
        # entities and building the statement cost more than the query.
        rows = self.session.connection().execute(_GET_MANY, {"ids": list(service_ids)})
        return {row.service_id: KnownService(*row) for row in rows}

    def put(self, service: KnownService, *, changed_at: datetime) -> None:
        row = self.session.get(KnownServiceRow, service.service_id)
        if row is not None and row.changed_at > changed_at:
            return  # an older change arriving late must not undo a newer one
        self.session.merge(
            KnownServiceRow(
                service_id=service.service_id,
                organization_id=service.organization_id,
                active=service.active,
                free_places=service.free_places,
                changed_at=changed_at,
            )
        )


_KNOWN: Table = KnownServiceRow.__table__  # type: ignore[attr-defined]
_GET_MANY = select(
    _KNOWN.c.service_id, _KNOWN.c.organization_id, _KNOWN.c.active, _KNOWN.c.free_places
).where(_KNOWN.c.service_id.in_(bindparam("ids", expanding=True)))
"""As `KnownService`'s fields, in its order."""
