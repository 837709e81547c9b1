"""messages to the operators, the referral a message is about, read marks per reader

A message gets its audience (one organisation, every partner, the operators) and the
referral it is about: the messages from before are to one organisation or to every
partner, as their organisation id says, and about no referral on record. Read marks are
keyed by reader (an organisation's id, or the name-based id of an operator) instead of by
organisation.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 09:00:00.000000

"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

import runtime.storage

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _take_read_marks(reader_column: str) -> list[dict[str, Any]]:
    """Read the read marks and drop their table: on SQLite, altering `message` copies it,
    and with foreign keys enforced a table others refer to cannot be dropped."""
    table = sa.table(
        "message_read",
        sa.column("message_id", sa.Uuid()),
        sa.column(reader_column, sa.Uuid()),
        sa.column("read_at", runtime.storage.UTCDateTime()),
    )
    rows = op.get_bind().execute(sa.select(table)).mappings().all()
    op.drop_table("message_read")
    return [dict(row) for row in rows]


def _put_read_marks(reader_column: str, marks: list[dict[str, Any]]) -> None:
    table = op.create_table(
        "message_read",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column(reader_column, sa.Uuid(), nullable=False),
        sa.Column("read_at", runtime.storage.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["message.id"]),
        sa.PrimaryKeyConstraint("message_id", reader_column),
    )
    if marks:
        op.bulk_insert(table, marks)


def upgrade() -> None:
    marks = _take_read_marks("organization_id")
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("audience", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=True)
        )
        batch_op.add_column(sa.Column("referral_id", sa.Uuid(), nullable=True))
    op.execute(
        "UPDATE message SET audience = "
        "CASE WHEN organization_id IS NULL THEN 'partners' ELSE 'organization' END"
    )
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.alter_column(
            "audience", existing_type=sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False
        )
        batch_op.create_index(batch_op.f("ix_message_audience"), ["audience"], unique=False)
    # An organisation's id stays its reader id.
    _put_read_marks(
        "reader_id",
        [
            {
                "message_id": m["message_id"],
                "reader_id": m["organization_id"],
                "read_at": m["read_at"],
            }
            for m in marks
        ],
    )


def downgrade() -> None:
    marks = _take_read_marks("reader_id")
    # The operators' messages go: without an audience they would read as broadcasts to
    # every partner. Their read marks go with them.
    message = sa.table("message", sa.column("id", sa.Uuid()), sa.column("audience", sa.String()))
    to_operators = message.c.audience == "operators"
    gone = set(op.get_bind().execute(sa.select(message.c.id).where(to_operators)).scalars())
    op.execute(message.delete().where(to_operators))
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_audience"))
        batch_op.drop_column("referral_id")
        batch_op.drop_column("audience")
    _put_read_marks(
        "organization_id",
        [
            {
                "message_id": m["message_id"],
                "organization_id": m["reader_id"],
                "read_at": m["read_at"],
            }
            for m in marks
            if m["message_id"] not in gone
        ],
    )
