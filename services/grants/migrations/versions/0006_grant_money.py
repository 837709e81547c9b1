"""the money of a grant: report due day per pool; granted amount, agreement, payments,
report, repayments and reminder per application

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 10:00:00.000000

"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

import runtime.storage

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MOMENTS = ("decided_at", "agreement_accepted_at", "reminded_at")


def upgrade() -> None:
    with op.batch_alter_table("grant_pool", schema=None) as batch_op:
        batch_op.add_column(sa.Column("report_due_on", sa.Date(), nullable=True))
    with op.batch_alter_table("grant_application", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("granted_dkk", sa.BigInteger(), nullable=False, server_default="0")
        )
        for name in _MOMENTS:
            batch_op.add_column(
                sa.Column(name, runtime.storage.UTCDateTime(timezone=True), nullable=True)
            )
        batch_op.add_column(sa.Column("report_due_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("payments", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("report", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("repayments", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.create_index(
            batch_op.f("ix_grant_application_report_due_on"), ["report_due_on"], unique=False
        )
    # Decisions made before this revision carry their amount and moment in `decision` only.
    application = sa.table(
        "grant_application",
        sa.column("id", sa.Uuid()),
        sa.column("decision", sa.JSON()),
        sa.column("granted_dkk", sa.BigInteger()),
        sa.column("decided_at", runtime.storage.UTCDateTime(timezone=True)),
    )
    connection = op.get_bind()
    decided = connection.execute(
        sa.select(application.c.id, application.c.decision).where(
            application.c.decision.is_not(None)
        )
    )
    for application_id, decision in decided.all():
        if decision is None:  # a JSON null
            continue
        connection.execute(
            application.update()
            .where(application.c.id == application_id)
            .values(
                granted_dkk=decision["amount_dkk"],
                decided_at=datetime.fromisoformat(decision["decided_at"]),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("grant_application", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grant_application_report_due_on"))
        for name in ("repayments", "report", "payments", "report_due_on", *_MOMENTS):
            batch_op.drop_column(name)
        batch_op.drop_column("granted_dkk")
    with op.batch_alter_table("grant_pool", schema=None) as batch_op:
        batch_op.drop_column("report_due_on")
