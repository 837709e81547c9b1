"""webhook endpoints: several per owner, each with its filter and its secret sealed

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 15:57:31.654889

Each organisation's webhook becomes an endpoint wanting every event. A migration has no
key, so its secret moves over in the clear, marked `sealed = false`: the service seals it
at start-up (`services.seal_legacy_secrets`) and reads no such endpoint before.

Down again, each organisation keeps its oldest endpoint. A sealed secret cannot be opened
without the key, so that organisation gets a new random secret it does not know: its
deliveries fail verification until it registers its webhook again (`PUT /webhook`), which
shows it a secret. Care systems' endpoints go: there was no place for them.
"""

import base64
import secrets
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import runtime.storage

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables as this revision knows them, not as the models may later be.
WEBHOOK = sa.table(
    "webhook",
    sa.column("organization_id", sa.Uuid()),
    sa.column("url", sa.String()),
    sa.column("secret", sa.String()),
    sa.column("registered_at", runtime.storage.UTCDateTime()),
)
ENDPOINT = sa.table(
    "webhook_endpoint",
    sa.column("id", sa.Uuid()),
    sa.column("organization_id", sa.Uuid()),
    sa.column("url", sa.String()),
    sa.column("event_types", sa.JSON()),
    sa.column("secret", sa.String()),
    sa.column("sealed", sa.Boolean()),
    sa.column("created_at", runtime.storage.UTCDateTime()),
)


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "webhook_endpoint",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("care_system", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=2083), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("secret", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("sealed", sa.Boolean(), nullable=False),
        sa.Column("previous_secret", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column(
            "previous_secret_until", runtime.storage.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("failing_since", runtime.storage.UTCDateTime(timezone=True), nullable=True),
        sa.Column("disabled_at", runtime.storage.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", runtime.storage.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("webhook_endpoint", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_endpoint_care_system"), ["care_system"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_webhook_endpoint_organization_id"), ["organization_id"], unique=False
        )

    connection = op.get_bind()
    moved = [
        {
            "id": uuid.uuid4(),
            "organization_id": row.organization_id,
            "url": row.url,
            "event_types": [],
            "secret": row.secret,
            "sealed": False,
            "created_at": row.registered_at,
        }
        for row in connection.execute(sa.select(WEBHOOK))
    ]
    if moved:
        connection.execute(sa.insert(ENDPOINT), moved)
    op.drop_table("webhook")


def downgrade() -> None:
    """Downgrade schema."""
    op.create_table(
        "webhook",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=2083), nullable=False),
        sa.Column("secret", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("registered_at", runtime.storage.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("organization_id"),
    )
    connection = op.get_bind()
    oldest: dict[uuid.UUID, dict[str, object]] = {}
    endpoints = connection.execute(
        sa.select(ENDPOINT)
        .where(ENDPOINT.c.organization_id.is_not(None))
        .order_by(ENDPOINT.c.created_at, ENDPOINT.c.id)
    )
    for row in endpoints:
        oldest.setdefault(
            row.organization_id,
            {
                "organization_id": row.organization_id,
                "url": row.url,
                "secret": row.secret if not row.sealed else _unknown_secret(),
                "registered_at": row.created_at,
            },
        )
    if oldest:
        connection.execute(sa.insert(WEBHOOK), list(oldest.values()))

    with op.batch_alter_table("webhook_endpoint", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_endpoint_organization_id"))
        batch_op.drop_index(batch_op.f("ix_webhook_endpoint_care_system"))

    op.drop_table("webhook_endpoint")


def _unknown_secret() -> str:
    """A Standard Webhooks secret nobody knows, in place of one that cannot be opened."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
