"""deliveries by referral, for erasure

A delivery gets the referral its message or event is about, and messages and deliveries
are indexed by referral, so that an erasure finds them. Deliveries from before learn their
referral from their inbox message, or from the event in their webhook body.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08 09:00:00.000000

"""

import json
from collections.abc import Sequence
from uuid import UUID

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DELIVERY = sa.table(
    "delivery",
    sa.column("id", sa.Uuid()),
    sa.column("channel", sa.String()),
    sa.column("message_id", sa.Uuid()),
    sa.column("body", sa.Text()),
    sa.column("referral_id", sa.Uuid()),
)
MESSAGE = sa.table("message", sa.column("id", sa.Uuid()), sa.column("referral_id", sa.Uuid()))


def _referral_of_webhook(body: str) -> UUID | None:
    """The referral of the event a webhook body carries; a pool's event names none."""
    referral_id = json.loads(body)["data"].get("referral_id")
    return UUID(referral_id) if referral_id else None


def upgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("referral_id", sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f("ix_delivery_referral_id"), ["referral_id"], unique=False)
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_message_referral_id"), ["referral_id"], unique=False)

    bind = op.get_bind()
    of_message = (
        sa.select(MESSAGE.c.referral_id)
        .where(MESSAGE.c.id == DELIVERY.c.message_id)
        .scalar_subquery()
    )
    bind.execute(
        DELIVERY.update()
        .where(DELIVERY.c.channel == "inbox", DELIVERY.c.message_id.is_not(None))
        .values(referral_id=of_message)
    )
    webhooks = bind.execute(
        sa.select(DELIVERY.c.id, DELIVERY.c.body).where(
            DELIVERY.c.channel == "webhook", DELIVERY.c.body.is_not(None)
        )
    ).all()
    found = [
        {"delivery_id": row.id, "its_referral": referral_id}
        for row in webhooks
        if (referral_id := _referral_of_webhook(row.body)) is not None
    ]
    if found:
        bind.execute(
            DELIVERY.update()
            .where(DELIVERY.c.id == sa.bindparam("delivery_id"))
            .values(referral_id=sa.bindparam("its_referral")),
            found,
        )


def downgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_referral_id"))
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_referral_id"))
        batch_op.drop_column("referral_id")
