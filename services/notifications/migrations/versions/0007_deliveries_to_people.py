"""deliveries to people: e-mail and SMS rendered when sent, digests, once per recipient

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 16:40:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import runtime.storage

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables as this revision knows them, not as the models may later be.
DELIVERY = sa.table(
    "delivery",
    sa.column("id", sa.Uuid()),
    sa.column("organization_id", sa.Uuid()),
    sa.column("channel", sa.String()),
    sa.column("status", sa.String()),
    sa.column("source_event_id", sa.Uuid()),
    sa.column("source_event_type", sa.String()),
    sa.column("created_at", runtime.storage.UTCDateTime()),
    sa.column("recipient_key", sa.String()),
    sa.column("webhook_id", sa.Uuid()),
)
ENDPOINT = sa.table(
    "webhook_endpoint",
    sa.column("id", sa.Uuid()),
    sa.column("organization_id", sa.Uuid()),
    sa.column("event_types", sa.JSON()),
    sa.column("disabled_at", runtime.storage.UTCDateTime()),
    sa.column("created_at", runtime.storage.UTCDateTime()),
)


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
    _key_deliveries(op.get_bind())
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


def _key_deliveries(connection: sa.Connection) -> None:
    """Until now a delivery was to an organisation (its inbox or its webhook), or to every
    partner or the operators (an inbox message, organisation none): keyed as the service
    keys them (`Delivery.recipient_key`), so that an event still reaches each once. A webhook
    still waiting goes to the organisation's oldest enabled endpoint that wants the event."""
    endpoints = connection.execute(
        sa.select(ENDPOINT.c.id, ENDPOINT.c.organization_id, ENDPOINT.c.event_types)
        .where(ENDPOINT.c.disabled_at.is_(None), ENDPOINT.c.organization_id.is_not(None))
        .order_by(ENDPOINT.c.created_at, ENDPOINT.c.id)
    ).all()
    rows = connection.execute(
        sa.select(
            DELIVERY.c.id,
            DELIVERY.c.organization_id,
            DELIVERY.c.channel,
            DELIVERY.c.status,
            DELIVERY.c.source_event_type,
        )
    ).all()
    for row in rows:
        key = "all" if row.organization_id is None else f"organization:{row.organization_id}"
        webhook_id = None
        if (row.channel, row.status) == ("webhook", "pending"):
            webhook_id = next(
                (
                    e.id
                    for e in endpoints
                    if e.organization_id == row.organization_id
                    and (not e.event_types or row.source_event_type in e.event_types)
                ),
                None,
            )
            key = f"webhook:{webhook_id}" if webhook_id else key
        connection.execute(
            sa.update(DELIVERY)
            .where(DELIVERY.c.id == row.id)
            .values(recipient_key=key, webhook_id=webhook_id)
        )


def downgrade() -> None:
    # E-mails and SMS did not exist before: their records go with the columns that say so.
    # Nor did webhooks to care systems (no organisation), which the dispatcher of then could
    # not send; and a pending event went to an organisation's one webhook once, not once per
    # endpoint: the first of each stays.
    op.execute("DELETE FROM delivery WHERE channel IN ('email', 'sms')")
    op.execute(
        "DELETE FROM delivery WHERE channel = 'webhook' AND status = 'pending' "
        "AND organization_id IS NULL"
    )
    connection = op.get_bind()
    pending = connection.execute(
        sa.select(DELIVERY.c.id, DELIVERY.c.source_event_id, DELIVERY.c.organization_id)
        .where(DELIVERY.c.channel == "webhook", DELIVERY.c.status == "pending")
        .order_by(DELIVERY.c.created_at, DELIVERY.c.id)
    ).all()
    seen: set[tuple[object, object]] = set()
    for row in pending:
        if (row.source_event_id, row.organization_id) in seen:
            connection.execute(sa.delete(DELIVERY).where(DELIVERY.c.id == row.id))
        seen.add((row.source_event_id, row.organization_id))
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
