"""Storage of grant pools: SQLModel tables and the repository the service layer uses."""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol
from uuid import UUID

from sqlalchemy import BigInteger, Column, Text
from sqlalchemy.orm import registry
from sqlmodel import Field, Session, SQLModel, and_, col, or_, select

from grants.domain import GrantPool, PoolStatus
from runtime.storage import UnitOfWork, UTCDateTime


class Base(SQLModel, registry=registry()):
    """This service's tables only; the outbox and inbox come from `runtime.storage`."""


class GrantPoolRow(Base, table=True):
    __tablename__ = "grant_pool"
    id: UUID = Field(primary_key=True)
    created_by: str = Field(max_length=200)
    name: str = Field(max_length=200)
    description: str = Field(sa_column=Column(Text, nullable=False))
    # BIGINT: a city-wide pool may pass the 2.1 billion of a 32-bit integer.
    budget_dkk: int = Field(sa_column=Column(BigInteger, nullable=False))
    opens_on: date
    closes_on: date
    criteria: str = Field(sa_column=Column(Text, nullable=False))
    small_grant_limit_dkk: int | None = Field(default=None, sa_column=Column(BigInteger))
    status: str = Field(index=True, max_length=20)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class GrantPoolRepository(Protocol):
    def add(self, pool: GrantPool) -> None: ...

    def get(self, pool_id: UUID, for_update: bool = False) -> GrantPool | None:
        """The pool; `for_update`: locked until the unit of work ends, so that what is
        decided on it (closing it) cannot cross the scheduler's change of it."""
        ...

    def all(self, status: PoolStatus | None = None) -> list[GrantPool]:
        """Pools, newest first; only those in `status` when given."""
        ...

    def save(self, pool: GrantPool) -> None: ...

    def due_to_advance(self, today: date, limit: int) -> list[GrantPool]:
        """Announced pools whose opening day has come, open ones whose closing day has
        passed; the ones waiting longest first."""
        ...


class SqlGrantPoolRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, pool: GrantPool) -> None:
        self.session.add(
            GrantPoolRow(
                id=pool.id,
                created_by=pool.created_by,
                name=pool.name,
                description=pool.description,
                budget_dkk=pool.budget_dkk,
                opens_on=pool.opens_on,
                closes_on=pool.closes_on,
                criteria=pool.criteria,
                small_grant_limit_dkk=pool.small_grant_limit_dkk,
                status=pool.status.value,
                created_at=pool.created_at,
            )
        )

    def get(self, pool_id: UUID, for_update: bool = False) -> GrantPool | None:
        row = self.session.get(GrantPoolRow, pool_id, with_for_update=for_update)
        return _to_domain(row) if row else None

    def all(self, status: PoolStatus | None = None) -> list[GrantPool]:
        query = select(GrantPoolRow).order_by(
            col(GrantPoolRow.created_at).desc(), col(GrantPoolRow.id)
        )
        if status is not None:
            query = query.where(GrantPoolRow.status == status.value)
        return [_to_domain(row) for row in self.session.exec(query)]

    def save(self, pool: GrantPool) -> None:
        row = self.session.get(GrantPoolRow, pool.id)
        if row is None:
            raise LookupError(f"pool {pool.id} was never added")
        row.status = pool.status.value
        self.session.add(row)

    def due_to_advance(self, today: date, limit: int) -> list[GrantPool]:
        announced = and_(
            GrantPoolRow.status == PoolStatus.ANNOUNCED.value,
            col(GrantPoolRow.opens_on) <= today,
        )
        open_past = and_(
            GrantPoolRow.status == PoolStatus.OPEN.value, col(GrantPoolRow.closes_on) < today
        )
        query = (
            select(GrantPoolRow)
            .where(or_(announced, open_past))
            .order_by(col(GrantPoolRow.opens_on), col(GrantPoolRow.id))
            .limit(limit)
            # Two replicas advance different pools rather than wait for each other.
            .with_for_update(skip_locked=True)
        )
        return [_to_domain(row) for row in self.session.exec(query)]


def _to_domain(row: GrantPoolRow) -> GrantPool:
    return GrantPool(
        id=row.id,
        name=row.name,
        description=row.description,
        budget_dkk=row.budget_dkk,
        opens_on=row.opens_on,
        closes_on=row.closes_on,
        criteria=row.criteria,
        small_grant_limit_dkk=row.small_grant_limit_dkk,
        created_by=row.created_by,
        created_at=row.created_at,
        status=PoolStatus(row.status),
    )


class GrantsUnitOfWork(UnitOfWork):
    def _open(self) -> None:
        self._pools = SqlGrantPoolRepository(self.session)

    @property
    def pools(self) -> GrantPoolRepository:
        return self._pools
