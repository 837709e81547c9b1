"""deliveries to people: e-mail and SMS rendered when sent, digests, once per recipient

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 16:40:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("recipient_key", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True)
        )
        batch_op.add_column(sa.Column("recipient_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("webhook_id", sa.Uuid(), nullable=True))
        batch_op.add_column(
            sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True)
        )
        batch_op.add_column(sa.Column("fields", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("digest", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("merged_into", sa.Uuid(), nullable=True))
    # Until now a delivery was to an organisation (its inbox or its one webhook), or to
    # every partner or the operators (an inbox message, organisation none).
    op.execute(
        "UPDATE delivery SET recipient_key = CASE WHEN organization_id IS NULL THEN 'all' "
        "ELSE 'organization:' || CAST(organization_id AS VARCHAR) END"
    )
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.alter_column(
            "recipient_key",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=60),
            nullable=False,
        )
        batch_op.create_index(
            "ux_delivery_once", ["source_event_id", "channel", "recipient_key"], unique=True
        )
        batch_op.create_index("ix_delivery_digest", ["recipient_id", "digest", "status"])
        batch_op.create_index("ix_delivery_webhook_id", ["webhook_id"])
        batch_op.create_index("ix_delivery_merged_into", ["merged_into"])


def downgrade() -> None:
    # E-mails and SMS did not exist before: their records go with the columns that say so.
    op.execute("DELETE FROM delivery WHERE channel IN ('email', 'sms')")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_merged_into")
        batch_op.drop_index("ix_delivery_webhook_id")
        batch_op.drop_index("ix_delivery_digest")
        batch_op.drop_index("ux_delivery_once")
        batch_op.drop_column("merged_into")
        batch_op.drop_column("digest")
        batch_op.drop_column("fields")
        batch_op.drop_column("kind")
        batch_op.drop_column("webhook_id")
        batch_op.drop_column("recipient_id")
        batch_op.drop_column("recipient_key")
