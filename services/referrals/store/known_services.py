"""Directory's services as referrals last heard of them."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlmodel import Session, col, select

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
        rows = self.session.exec(
            select(KnownServiceRow).where(col(KnownServiceRow.service_id).in_(service_ids))
        ).all()
        return {
            r.service_id: KnownService(r.service_id, r.organization_id, r.active, r.free_places)
            for r in rows
        }

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
