"""where the need is: pools' target groups, and the referrals grants counts as unmet need

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 17:00:08.401657

"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import runtime.storage

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "referral_need",
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column("district", sa.Text(), nullable=True),
        sa.Column("submitted_at", runtime.storage.UTCDateTime(timezone=True), nullable=True),
        sa.Column("no_match", sa.Boolean(), nullable=False),
        sa.Column("escalated_at", runtime.storage.UTCDateTime(timezone=True), nullable=True),
        sa.Column("unmet_at", runtime.storage.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("referral_id"),
    )
    with op.batch_alter_table("referral_need", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_referral_need_unmet_at"), ["unmet_at"], unique=False)

    op.create_table(
        "referral_need_target_group",
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column("target_group", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.ForeignKeyConstraint(["referral_id"], ["referral_need.referral_id"]),
        sa.PrimaryKeyConstraint("referral_id", "target_group"),
    )
    # Pools from before are for everyone, as a pool without target groups is.
    with op.batch_alter_table("grant_pool", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("target_groups", sa.JSON(), server_default="[]", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("grant_pool", schema=None) as batch_op:
        batch_op.drop_column("target_groups")

    op.drop_table("referral_need_target_group")
    with op.batch_alter_table("referral_need", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referral_need_unmet_at"))

    op.drop_table("referral_need")
