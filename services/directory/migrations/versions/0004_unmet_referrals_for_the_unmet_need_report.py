"""unmet referrals for the unmet-need report

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 10:14:43.726940

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
        "unmet_referral",
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column("unmet_at", runtime.storage.UTCDateTime(timezone=True), nullable=False),
        sa.Column("unmet_on", sa.Date(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("district", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("referral_id"),
    )
    op.create_index("ix_unmet_referral_unmet_on", "unmet_referral", ["unmet_on"], unique=False)
    op.create_table(
        "unmet_referral_term",
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("term", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["referral_id"], ["unmet_referral.referral_id"]),
        sa.PrimaryKeyConstraint("referral_id", "kind", "term"),
    )


def downgrade() -> None:
    op.drop_table("unmet_referral_term")
    op.drop_index("ix_unmet_referral_unmet_on", table_name="unmet_referral")
    op.drop_table("unmet_referral")
