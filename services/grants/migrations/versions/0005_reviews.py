"""reviews: a pool's rubric and maximum per application; reviewers of applications

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 10:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import runtime.storage

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("grant_pool", schema=None) as batch_op:
        # Pools from before rubrics are scored on the default one.
        batch_op.add_column(
            sa.Column("rubric", sa.JSON(), nullable=False, server_default='[["fit", 1]]')
        )
        batch_op.add_column(sa.Column("max_per_application_dkk", sa.BigInteger(), nullable=True))
    op.create_table(
        "grant_reviewer",
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("assigned_at", runtime.storage.UTCDateTime(timezone=True), nullable=False),
        sa.Column("conflict", sa.Boolean(), nullable=True),
        sa.Column("declared_at", runtime.storage.UTCDateTime(timezone=True), nullable=True),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("reviewed_at", runtime.storage.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["application_id"], ["grant_application.id"]),
        sa.PrimaryKeyConstraint("application_id", "subject"),
    )


def downgrade() -> None:
    op.drop_table("grant_reviewer")
    with op.batch_alter_table("grant_pool", schema=None) as batch_op:
        batch_op.drop_column("max_per_application_dkk")
        batch_op.drop_column("rubric")
