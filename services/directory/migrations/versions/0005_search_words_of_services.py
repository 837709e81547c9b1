"""the folded words each service is found by, for a citizen's search

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 09:12:05.114208

"""

from collections.abc import Sequence
from uuid import UUID

import sqlalchemy as sa
import sqlmodel
from alembic import op

from directory.search import index_words

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    words = op.create_table(
        "service_search_word",
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("part", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("word", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["service_id"], ["service.id"]),
        sa.PrimaryKeyConstraint("service_id", "part", "word"),
    )
    op.create_index(
        "ix_service_search_word_word",
        "service_search_word",
        ["word"],
        unique=False,
        postgresql_ops={"word": "text_pattern_ops"},
    )
    _index_the_services_there_are(words)


def _index_the_services_there_are(words: sa.Table) -> None:
    connection = op.get_bind()
    interests: dict[UUID, list[str]] = {}
    for service_id, term in connection.execute(
        sa.text("SELECT service_id, term FROM service_term WHERE taxonomy = 'interest'").columns(
            sa.column("service_id", sa.Uuid()), sa.column("term")
        )
    ):
        interests.setdefault(service_id, []).append(term)
    services = connection.execute(
        sa.text(
            "SELECT service.id, service.name, service.description, location.name, "
            "location.district FROM service JOIN location ON location.id = service.location_id"
        ).columns(
            sa.column("id", sa.Uuid()),
            sa.column("name"),
            sa.column("description"),
            sa.column("location_name"),
            sa.column("district"),
        )
    ).all()
    rows = [
        {"service_id": service_id, "part": part.value, "word": word}
        for service_id, name, description, location_name, district in services
        for part, word in index_words(
            name,
            [description, location_name, district, *interests.get(service_id, [])],
        )
    ]
    if rows:
        op.bulk_insert(words, rows)


def downgrade() -> None:
    op.drop_index("ix_service_search_word_word", table_name="service_search_word")
    op.drop_table("service_search_word")
