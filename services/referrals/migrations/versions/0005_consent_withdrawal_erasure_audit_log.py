"""consent withdrawal, erasure tombstones and the audit log

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-09 09:00:00.000000

The consent record gains its withdrawal (only columns are added to `referral`: on SQLite
anything more rebuilds the table); an erased referral leaves a tombstone in
`erased_referral`; `audit_log` is the runtime's append-only, hash-chained log, with the
triggers that refuse to change it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import runtime.storage
from runtime.audit import install_audit_log, uninstall_audit_log

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "erased_referral",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("submitted_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("organization_ids", sa.JSON(), nullable=False),
        sa.Column("erased_at", runtime.storage.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    install_audit_log()
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "consent_withdrawn_at", runtime.storage.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column(
                "consent_withdrawn_party",
                sqlmodel.sql.sqltypes.AutoString(length=20),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "consent_withdrawn_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column(
                "consent_withdrawal_recorded_by",
                sqlmodel.sql.sqltypes.AutoString(length=100),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "consent_withdrawal_how", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True
            )
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.drop_column("consent_withdrawal_how")
        batch_op.drop_column("consent_withdrawal_recorded_by")
        batch_op.drop_column("consent_withdrawn_by")
        batch_op.drop_column("consent_withdrawn_party")
        batch_op.drop_column("consent_withdrawn_at")
    uninstall_audit_log()
    op.drop_table("erased_referral")
