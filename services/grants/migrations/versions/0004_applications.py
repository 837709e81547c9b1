"""applications to grant pools: form, applicant, contact person, eligibility, decision

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import runtime.storage

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "grant_application",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("pool_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("applicant", sa.JSON(), nullable=False),
        sa.Column("form", sa.JSON(), nullable=False),
        sa.Column("amount_dkk", sa.BigInteger(), nullable=False),
        sa.Column("contact_name", sa.Text(), nullable=False),
        sa.Column("contact_email", sa.Text(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("created_at", runtime.storage.UTCDateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", runtime.storage.UTCDateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", runtime.storage.UTCDateTime(timezone=True), nullable=True),
        sa.Column("eligibility", sa.JSON(), nullable=True),
        sa.Column("override_note", sa.Text(), nullable=True),
        sa.Column("decision", sa.JSON(), nullable=True),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["pool_id"], ["grant_pool.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("grant_application", schema=None) as batch_op:
        for column in ("pool_id", "organization_id", "status"):
            batch_op.create_index(
                batch_op.f(f"ix_grant_application_{column}"), [column], unique=False
            )


def downgrade() -> None:
    with op.batch_alter_table("grant_application", schema=None) as batch_op:
        for column in ("status", "organization_id", "pool_id"):
            batch_op.drop_index(batch_op.f(f"ix_grant_application_{column}"))
    op.drop_table("grant_application")
