"""place holds of accepted referrals; the rule on places kept by the database

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 08:36:50.840020

"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PLACES_RULE = "ck_service_places"


def _change_service(change: Callable[[BatchOperations], None]) -> None:
    # SQLite adds or drops a CHECK only by copying the table, and refuses to drop the old
    # copy while service terms refer to it: they wait aside until the new one is in place.
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("CREATE TEMPORARY TABLE service_term_aside AS SELECT * FROM service_term")
        op.execute("DELETE FROM service_term")
    with op.batch_alter_table("service", schema=None) as batch_op:
        change(batch_op)
    if sqlite:
        op.execute("INSERT INTO service_term SELECT * FROM service_term_aside")
        op.execute("DROP TABLE service_term_aside")


def upgrade() -> None:
    _change_service(
        lambda batch_op: batch_op.create_check_constraint(
            PLACES_RULE, "capacity >= 1 AND free_places >= 0 AND free_places <= capacity"
        )
    )
    op.create_table(
        "place_hold",
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["service_id"], ["service.id"]),
        sa.PrimaryKeyConstraint("referral_id"),
    )


def downgrade() -> None:
    op.drop_table("place_hold")
    _change_service(lambda batch_op: batch_op.drop_constraint(PLACES_RULE, type_="check"))
