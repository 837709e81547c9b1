"""identity vault and consent: citizens with their own data keys, notes, the consent record

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 09:00:00.000000

Referrals from before keep their Fernet ciphertext in `identity_ciphertext` until the
service converts them at start-up (REFERRALS_LEGACY_IDENTITY_KEY); new ones leave it empty.
Only columns are added to `referral`: on SQLite anything more rebuilds the table, and
dropping the old one fails on the foreign keys of stored offers.
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
    """Upgrade schema."""
    op.create_table(
        "citizen",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("blind_index", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("identity_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", runtime.storage.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", runtime.storage.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("blind_index"),
    )
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.add_column(sa.Column("citizen_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("note_ciphertext", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("consent_given_on", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "consent_recorded_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column("consent_how", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "consent_follow_up_questions", sa.Boolean(), nullable=False, server_default="0"
            )
        )
        batch_op.add_column(
            sa.Column(
                "consent_share_outcome_with_care_system",
                sa.Boolean(),
                nullable=False,
                server_default="0",
            )
        )
        batch_op.create_index(batch_op.f("ix_referral_citizen_id"), ["citizen_id"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referral_citizen_id"))
        batch_op.drop_column("consent_share_outcome_with_care_system")
        batch_op.drop_column("consent_follow_up_questions")
        batch_op.drop_column("consent_how")
        batch_op.drop_column("consent_recorded_by")
        batch_op.drop_column("consent_given_on")
        batch_op.drop_column("note_ciphertext")
        batch_op.drop_column("citizen_id")
    op.drop_table("citizen")
