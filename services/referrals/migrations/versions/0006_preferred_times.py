"""a referral's preferred times of day

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-12 09:00:00.000000

Only a column is added to `referral` (on SQLite anything more rebuilds the table), with a
plain-string default: referrals from before had no preference, which is any time.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("preferred_times", sa.JSON(), nullable=False, server_default="[]")
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.drop_column("preferred_times")
