"""Revisions of the plumbing tables (outbox, inbox, idempotency keys) that every service's
migrations apply, in the service's own database: written once here instead of four times.

A function here is a released revision: never change it, add the next one.

0002: the relay sets aside an outbox row that can never be published (`failed_at`), after
capped attempts, for an operator to retry. The inbox is keyed by a digest of the event's
source and id: a CloudEvents id is any non-empty string, unique only within its source.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

from runtime.storage import UTCDateTime


def _inbox_key(source: str, event_id: str) -> str:
    # inbox_key as of this revision, kept here so that the revision never changes.
    return hashlib.sha256(f"{len(source)}:{source}{event_id}".encode()).hexdigest()


def _inbox_columns() -> sa.TableClause:
    """The inbox columns both revisions have, typed, so timestamps come back as such."""
    return sa.table(
        "inbox",
        sa.column("event_id", sa.Text()),
        sa.column("event_type", sa.String()),
        sa.column("processed_at", UTCDateTime()),
    )


def _swap_inbox(new_name: str) -> None:
    """Replace the inbox by the table `new_name` (already filled), keeping the key's name."""
    op.drop_table("inbox")
    op.rename_table(new_name, "inbox")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE inbox RENAME CONSTRAINT {new_name}_pkey TO inbox_pkey")


def upgrade_0002() -> None:
    """The outbox gets `failed_at`; the inbox is keyed by source and id."""
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failed_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_outbox_failed_at"), ["failed_at"], unique=False)

    # A new primary key: the inbox is built anew and the processed ids carried over, so
    # that a redelivery of an event processed before this revision still changes nothing.
    inbox = op.create_table(
        "inbox_0002",
        sa.Column("event_key", sa.String(length=64), nullable=False),
        sa.Column("event_source", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("processed_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_key"),
    )
    rows = op.get_bind().execute(sa.select(_inbox_columns())).all()
    # Every event consumed until now came from a Brobygger service: type
    # dk.brobygger.<service>.<aggregate>.<verb>.v<n>, source /brobygger/<service>.
    carried = []
    for row in rows:
        source = f"/brobygger/{row.event_type.split('.')[2]}"
        carried.append(
            {
                "event_key": _inbox_key(source, row.event_id),
                "event_source": source,
                "event_id": row.event_id,
                "event_type": row.event_type,
                "processed_at": row.processed_at,
            }
        )
    if carried:
        op.bulk_insert(inbox, carried)
    _swap_inbox("inbox_0002")


def downgrade_0002() -> None:
    inbox = op.create_table(
        "inbox_0001",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("processed_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    # Ids longer than the old column cannot be kept, nor two sources' equal ids.
    kept = {
        row.event_id: {
            "event_id": row.event_id,
            "event_type": row.event_type,
            "processed_at": row.processed_at,
        }
        for row in op.get_bind().execute(sa.select(_inbox_columns())).all()
        if len(row.event_id) <= 36
    }
    if kept:
        op.bulk_insert(inbox, list(kept.values()))
    _swap_inbox("inbox_0001")

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_failed_at"))
        batch_op.drop_column("failed_at")
