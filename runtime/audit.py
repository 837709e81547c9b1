"""An append-only, hash-chained audit log of who read or changed personal data, and why.

A service writes an entry with `append` in the same transaction as what it audits (a read
of contact details, a consent change, an erasure), so that neither happens without the
other. The log never holds personal data: it names the actor, the referral, the field
NAMES and the purpose, never a value, nor whose data it was.

Tamper evidence, twice over: the database refuses UPDATE, DELETE (and on PostgreSQL
TRUNCATE) on the table (`install_audit_log`, called from a service's Alembic revision), and
each entry carries the hash of the one before, so that `verify` (`brobygger audit verify
<service>`) finds an entry changed or removed by someone who dropped the triggers first.
Removing the newest entries leaves an intact, shorter chain: compare the count and head
`verify` reports with ones recorded elsewhere to see that.

Operators read the log with `GET /audit` (`audit_router`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import sqlalchemy as sa
from alembic import op
from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    MetaData,
    String,
    Table,
    Uuid,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from runtime.auth import Principal, Role, require
from runtime.http import Name, unit_of_work_factory
from runtime.openapi import rules
from runtime.problems import Problem
from runtime.storage import UnitOfWork, UTCDateTime

audit_metadata = MetaData()

audit_log = Table(
    "audit_log",
    audit_metadata,
    # Given by `append` (the last seq + 1, under its lock), not by a sequence: the chain has
    # no gaps, and two appenders that both read the same last entry cannot both insert.
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", UTCDateTime(), nullable=False, index=True),
    Column("subject", String(200), nullable=False, index=True),
    Column("role", String(40), nullable=False),
    Column("organization_id", Uuid, nullable=True),
    Column("action", String(100), nullable=False),
    Column("referral_id", Uuid, nullable=True, index=True),
    Column("fields", JSON, nullable=False),
    Column("purpose", String(100), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("entry_hash", String(64), nullable=False),
)

GENESIS_HASH = "0" * 64
"""The `prev_hash` of the first entry."""

_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('brobygger.audit_log'))")
_ACTION = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+")
_CODE = re.compile(r"[a-z0-9]+(?:[_.-][a-z0-9]+)*")
_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*")
_SUBJECT = re.compile(r"[^\x00-\x1f\x7f]+")


# -- the table, created by a service's Alembic revision ------------------------------------
#
# `install_audit_log` and `uninstall_audit_log` are released revisions once a service
# calls them: never change them, add the next one.

_SQLITE_GUARDS = [
    f"CREATE TRIGGER audit_log_refuse_{verb.lower()} BEFORE {verb} ON audit_log "
    f"BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: {verb} refused'); END"
    for verb in ("UPDATE", "DELETE")
]
_POSTGRESQL_GUARDS = [
    """CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END
    $$""",
    "CREATE TRIGGER audit_log_refuse_change BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change()",
    # TRUNCATE fires no row triggers.
    "CREATE TRIGGER audit_log_refuse_truncate BEFORE TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change()",
]


def install_audit_log() -> None:
    """Create `audit_log` and the triggers by which the database refuses to change it.

    Call it from a service's Alembic revision (its `upgrade`)."""
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("referral_id", sa.Uuid(), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("purpose", sa.String(length=100), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    for column in ("at", "subject", "referral_id"):
        op.create_index(op.f(f"ix_audit_log_{column}"), "audit_log", [column], unique=False)
    dialect = op.get_bind().dialect.name
    guards = _POSTGRESQL_GUARDS if dialect == "postgresql" else _SQLITE_GUARDS
    for statement in guards:
        op.execute(statement)


def uninstall_audit_log() -> None:
    """Drop `audit_log` with its triggers (a service revision's `downgrade`)."""
    op.drop_table("audit_log")  # its triggers go with it
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION audit_log_refuse_change()")


# -- writing and checking -------------------------------------------------------------------


@dataclass(frozen=True)
class AuditEntry:
    """What one audited act was: who (`subject` in `role`, of `organization_id`), when,
    what (`action`, e.g. `contact_details.read`), on which referral, which fields (their
    names, e.g. `phone`), and for what `purpose` (a code, e.g. `first_contact`).

    Codes, not free text, so that no personal data can slip into the log."""

    at: datetime
    subject: str
    role: str
    action: str
    purpose: str
    fields: tuple[str, ...] = ()
    organization_id: UUID | None = None
    referral_id: UUID | None = None

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("an audit entry's `at` must be timezone-aware")
        _check("subject", self.subject, _SUBJECT, 200)
        _check("role", self.role, _CODE, 40)
        _check("action", self.action, _ACTION, 100)
        _check("purpose", self.purpose, _CODE, 100)
        for name in self.fields:
            _check("field name", name, _FIELD_NAME, 100)
        if len(set(self.fields)) != len(self.fields):
            raise ValueError("an audit entry names each field once")


def _check(what: str, value: str, pattern: re.Pattern[str], max_length: int) -> None:
    # Only the kind, never the value, in the message: it may be what must not be logged.
    if len(value) > max_length or not pattern.fullmatch(value):
        raise ValueError(
            f"an audit entry's {what} must match {pattern.pattern} (at most {max_length} "
            "characters)"
        )


@dataclass(frozen=True)
class AuditRecord:
    """An entry as stored, with its place in the chain and the hashes that bind it there."""

    seq: int
    at: datetime
    subject: str
    role: str
    organization_id: UUID | None
    action: str
    referral_id: UUID | None
    fields: list[str]
    purpose: str
    prev_hash: str
    entry_hash: str


_HASHED = (
    "seq",
    "at",
    "subject",
    "role",
    "organization_id",
    "action",
    "referral_id",
    "fields",
    "purpose",
)


def _canonical(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, UUID):
        return str(value)
    return value


def _digest(prev_hash: str, content: Mapping[Any, Any]) -> str:
    """SHA-256 over the previous entry's hash and the canonical encoding of an entry's
    `_HASHED` columns. The encoding is in every stored hash: never change it."""
    canonical = json.dumps(
        {name: _canonical(content[name]) for name in _HASHED},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    # prev_hash has a fixed length, so the concatenation is unambiguous.
    return hashlib.sha256(f"{prev_hash}{canonical}".encode()).hexdigest()


def append(session: Session, entry: AuditEntry) -> AuditRecord:
    """Write `entry` in the caller's transaction, chained to the last entry.

    On PostgreSQL the transaction holds a lock from here to its end, so that concurrent
    appenders take turns instead of both chaining to the same entry: append as the last
    thing before the commit. (SQLite lets one transaction write at a time anyway; should an
    appender have read a last entry another has appended to since, its insert fails on the
    primary key rather than forking the chain.)
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_ADVISORY_LOCK)
    last = session.execute(
        select(audit_log.c.seq, audit_log.c.entry_hash).order_by(audit_log.c.seq.desc()).limit(1)
    ).first()
    seq, prev_hash = (last.seq + 1, last.entry_hash) if last else (1, GENESIS_HASH)
    content: dict[str, Any] = {
        "seq": seq,
        "at": entry.at,
        "subject": entry.subject,
        "role": entry.role,
        "organization_id": entry.organization_id,
        "action": entry.action,
        "referral_id": entry.referral_id,
        "fields": list(entry.fields),
        "purpose": entry.purpose,
    }
    record = AuditRecord(**content, prev_hash=prev_hash, entry_hash=_digest(prev_hash, content))
    session.execute(insert(audit_log).values(asdict(record)))
    return record


@dataclass(frozen=True)
class Verification:
    """What `verify` found: `entries` intact from the first; `head`, the hash of the last
    of them (record it elsewhere to notice the newest entries removed); where the chain
    first breaks, and why."""

    ok: bool
    entries: int
    head: str
    first_broken_seq: int | None = None
    reason: str | None = None


def verify(session: Session) -> Verification:
    """Walk the chain from the first entry: each must hash to its `entry_hash` (else its
    content, `seq` among it, was changed) and name the entry before it in `prev_hash` (else
    an entry was removed, or the entries re-ordered). Stops at the first break."""
    expected_prev, count = GENESIS_HASH, 0
    with session.execute(
        select(audit_log).order_by(audit_log.c.seq), execution_options={"yield_per": 1000}
    ) as rows:
        for row in rows:
            # Hashed as read, not as an AuditEntry: a changed row need not be a valid entry.
            if _digest(row.prev_hash, row._mapping) != row.entry_hash:
                return _broken(count, expected_prev, row.seq, "its content was changed")
            if row.prev_hash != expected_prev:
                reason = "the entry before it was removed, or the entries were re-ordered"
                return _broken(count, expected_prev, row.seq, reason)
            expected_prev, count = row.entry_hash, count + 1
    return Verification(ok=True, entries=count, head=expected_prev)


def _broken(count: int, head: str, seq: int, reason: str) -> Verification:
    return Verification(ok=False, entries=count, head=head, first_broken_seq=seq, reason=reason)


@dataclass(frozen=True)
class AuditQuery:
    """Which entries: of a referral, by a subject, at or after `since`, before `until`."""

    referral_id: UUID | None = None
    subject: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def read_entries(
    session: Session, query: AuditQuery, *, offset: int, limit: int
) -> tuple[list[AuditRecord], int]:
    """One page of the matching entries, newest first, and how many match in all."""
    conditions: list[ColumnElement[bool]] = []
    if query.referral_id is not None:
        conditions.append(audit_log.c.referral_id == query.referral_id)
    if query.subject is not None:
        conditions.append(audit_log.c.subject == query.subject)
    if query.since is not None:
        conditions.append(audit_log.c.at >= query.since)
    if query.until is not None:
        conditions.append(audit_log.c.at < query.until)
    total = session.execute(
        select(func.count()).select_from(audit_log).where(*conditions)
    ).scalar_one()
    rows = session.execute(
        select(audit_log)
        .where(*conditions)
        .order_by(audit_log.c.seq.desc())
        .offset(offset)
        .limit(limit)
    )
    return [AuditRecord(**row._mapping) for row in rows], total


# -- GET /audit -----------------------------------------------------------------------------


class AuditEntryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int = Field(ge=1, description="The entry's place in the chain, from 1, without gaps.")
    at: datetime = Field(description="When it happened.")
    subject: str = Field(description="Who did it: the token's subject.")
    role: str = Field(description="In which role: `care_system`, `partner`, `operator`, ….")
    organization_id: UUID | None = Field(description="A partner's organisation.")
    action: str = Field(
        description="What was done, e.g. `contact_details.read`, `consent.withdrawn`, "
        "`citizen.erased`."
    )
    referral_id: UUID | None = Field(description="The referral it concerned, if one.")
    fields: list[str] = Field(description="The names of the fields read or changed.")
    purpose: str = Field(description="Why, as a code.")
    prev_hash: str = Field(description="SHA-256 (hex) of the entry before; 64 zeros for the first.")
    entry_hash: str = Field(description="SHA-256 (hex) over `prev_hash` and this entry.")


class AuditPage(BaseModel):
    data: list[AuditEntryPublic] = Field(description="The entries, newest first.")
    total: int = Field(ge=0, description="How many entries match in all.")
    offset: int = Field(ge=0)
    limit: int = Field(ge=1)


SINCE_BEFORE_UNTIL = "`until`, when given with `since`, is after it."

_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _rfc3339(value: object) -> object:
    """Only what `format: date-time` means: pydantic alone would also take a number of
    seconds since 1970, or a time without its seconds."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("Input should be a date-time as 2026-11-22T09:30:00+01:00")
    return value


Moment = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]


def audit_router() -> APIRouter:
    """`GET /audit` for operators, reading the service's own audit log."""
    router = APIRouter(tags=["audit"])

    @router.get("/audit", summary="Read the audit log", responses=rules(SINCE_BEFORE_UNTIL))
    def read_audit_log(
        start_uow: Annotated[Callable[[], UnitOfWork], Depends(unit_of_work_factory)],
        _operator: Annotated[Principal, Depends(require(Role.OPERATOR))],
        referral_id: Annotated[
            UUID | None, Query(description="Only entries about this referral.")
        ] = None,
        subject: Annotated[
            Name | None, Query(description="Only entries of this actor (a token's subject).")
        ] = None,
        since: Annotated[
            Moment | None,
            Query(description="Only entries at or after this time (with its UTC offset)."),
        ] = None,
        until: Annotated[
            Moment | None,
            Query(description="Only entries before this time (with its UTC offset)."),
        ] = None,
        offset: Annotated[int, Query(ge=0, le=1_000_000, description="How many to skip.")] = 0,
        limit: Annotated[int, Query(ge=1, le=200, description="At most this many.")] = 50,
    ) -> AuditPage:
        """Who read or changed personal data, when, about which referral, which fields and
        why; newest first. The entries hold no personal data themselves."""
        if since is not None and until is not None and until <= since:
            raise Problem(
                422, f"No time is both at or after `since` and before `until`: {SINCE_BEFORE_UNTIL}"
            )
        query = AuditQuery(referral_id, subject, since, until)
        with start_uow() as uow:
            found, total = read_entries(uow.session, query, offset=offset, limit=limit)
        return AuditPage(
            data=[AuditEntryPublic.model_validate(record) for record in found],
            total=total,
            offset=offset,
            limit=limit,
        )

    return router
