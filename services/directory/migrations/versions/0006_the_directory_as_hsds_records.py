"""the directory as HSDS 3.0 records; matching's and search's views read from them

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 11:10:00.000000

The organisations, locations and services there are become HSDS records through the
application's own save (so they are checked, logged and announced as any import is): a
service's time of day and schedule text become a schedule record with the text only, since
no weekly times were kept; interests outside Brobygger's vocabulary are left out; the
coordinator's address, never published, is dropped. Downgrading brings 0005's tables back
empty: the records are lost (restore the backup taken before, or import an export).
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid5

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.orm import sessionmaker

import runtime.storage

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PLACES_RULE = "ck_service_places"


def upgrade() -> None:
    old = _read_old_directory()
    for table in ("service_search_word", "service_term", "place_hold", "service", "location"):
        op.drop_table(table)
    op.drop_table("organization")
    holds = _create_tables()
    if old["holds"]:
        op.bulk_insert(holds, old["holds"])
    if old["organizations"]:
        _save_as_records(old)


def _read_old_directory() -> dict[str, list[dict[str, Any]]]:
    connection = op.get_bind()

    def rows(sql: str, *uuid_columns: str) -> list[dict[str, Any]]:
        statement = sa.text(sql).columns(*(sa.column(c, sa.Uuid()) for c in uuid_columns))
        return [dict(row._mapping) for row in connection.execute(statement)]

    return {
        "organizations": rows(
            "SELECT id, name, description, email, website, coordinator_email FROM organization",
            "id",
        ),
        "locations": rows(
            "SELECT id, organization_id, name, address_1, postal_code, city, district, "
            "wheelchair_accessible, latitude, longitude FROM location",
            "id",
            "organization_id",
        ),
        "services": rows(
            "SELECT id, organization_id, location_id, name, description, status, "
            "schedule_description, capacity, free_places FROM service",
            "id",
            "organization_id",
            "location_id",
        ),
        "terms": rows("SELECT service_id, taxonomy, term FROM service_term", "service_id"),
        "holds": rows(
            "SELECT referral_id, service_id FROM place_hold", "referral_id", "service_id"
        ),
    }


def _save_as_records(old: dict[str, list[dict[str, Any]]]) -> None:
    # The application's code, as it is when this runs: the records it writes are the ones
    # an import of the same data would.
    from directory.domain import Location, Organization, Service, ServiceStatus
    from directory.hsds import brobygger, vocabulary
    from directory.hsds.records import Record
    from directory.services import Editor
    from directory.services.writing import save
    from directory.store import DirectoryUnitOfWork

    now = datetime.now(UTC)
    terms: dict[UUID, dict[str, list[str]]] = {}
    for row in old["terms"]:
        terms.setdefault(row["service_id"], {}).setdefault(row["taxonomy"], []).append(row["term"])
    known = {
        "interest": vocabulary.codes(vocabulary.Taxonomy.INTERESTS),
        "target_group": vocabulary.codes(vocabulary.Taxonomy.TARGET_GROUPS),
    }
    locations = {row["id"]: Location(**row) for row in old["locations"]}
    records: list[Record] = [*vocabulary.taxonomy_records(), *vocabulary.taxonomy_term_records()]
    for row in old["organizations"]:
        records += brobygger.organization_records(Organization(**row))
    for location in locations.values():
        records += brobygger.location_records(location)
    for row in old["services"]:
        own = terms.get(row["id"], {})
        service = Service(
            id=row["id"],
            organization_id=row["organization_id"],
            location_id=row["location_id"],
            name=row["name"],
            status=ServiceStatus(row["status"]),
            capacity=row["capacity"],
            free_places=row["free_places"],
            interests=[t for t in own.get("interest", []) if t in known["interest"]],
            languages=own.get("language", []),
            target_groups=[t for t in own.get("target_group", []) if t in known["target_group"]],
        )
        for record in brobygger.service_records(
            service, locations[row["location_id"]], updated_at=now
        ):
            if record.entity == "service":
                record = Record("service", record.fields | {"description": row["description"]})
            records.append(record)
        if row["schedule_description"]:
            schedule_id = str(uuid5(row["id"], "schedule/in words"))
            records.append(
                Record(
                    "schedule",
                    {
                        "id": schedule_id,
                        "service_id": str(row["id"]),
                        "description": row["schedule_description"],
                    },
                )
            )
    sessions = sessionmaker(
        bind=op.get_bind(), class_=sqlmodel.Session, join_transaction_mode="create_savepoint"
    )
    with DirectoryUnitOfWork(sessions, source="directory") as uow:
        save(records, Editor("migration 0006"), uow, now)
        uow.commit()


def _create_tables() -> sa.Table:
    """The new tables; the place holds' (without its foreign key: a hold outlives what
    matching knows of its service), to put the holds back in."""
    op.create_table(
        "hsds_record",
        sa.Column("entity", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("modified_at", runtime.storage.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("entity", "id"),
    )
    op.create_index("ix_hsds_record_organization", "hsds_record", ["organization_id", "entity"])
    op.create_index("ix_hsds_record_modified_at", "hsds_record", ["modified_at"])
    op.create_table(
        "hsds_reference",
        sa.Column("entity", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("target", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("entity", "id", "key"),
    )
    op.create_index("ix_hsds_reference_target", "hsds_reference", ["target", "key", "entity"])
    op.create_table(
        "hsds_point",
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("postal_code", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("location_id"),
    )
    op.create_index("ix_hsds_point_postal_code", "hsds_point", ["postal_code"])
    op.create_table(
        "search_word",
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("entity", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("part", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("word", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("record_id", "part", "word"),
    )
    op.create_index(
        "ix_search_word_word",
        "search_word",
        ["entity", "word", "record_id", "part"],
        postgresql_ops={"word": "text_pattern_ops"},
    )
    _location()
    op.create_table(
        "service",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("schedules", sa.Text(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("free_places", sa.Integer(), nullable=False),
        sa.Column("wheelchair_accessible", sa.Boolean(), nullable=False),
        sa.Column("parts_of_day", sa.Integer(), nullable=False),
        sa.Column("interest_bits", sa.BigInteger(), nullable=False),
        sa.Column("target_group_bits", sa.BigInteger(), nullable=False),
        sa.Column("language_bits", sa.BigInteger(), nullable=False),
        sa.Column("other_terms", sa.Boolean(), nullable=False),
        *(sa.Column(f"near_{k}", sa.Float(), nullable=False) for k in range(10)),
        sa.CheckConstraint(
            "capacity >= 1 AND free_places >= 0 AND free_places <= capacity", name=PLACES_RULE
        ),
        sa.ForeignKeyConstraint(["location_id"], ["location.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_service_organization_id", "service", ["organization_id"])
    op.create_index("ix_service_location_id", "service", ["location_id"])
    op.create_index(
        "ix_service_fit",
        "service",
        [
            "status",
            "wheelchair_accessible",
            "interest_bits",
            "target_group_bits",
            "language_bits",
            "other_terms",
            "id",
        ],
    )
    op.create_table(
        "service_term",
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("taxonomy", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("term", sa.Text(), nullable=False),
        sa.Column("area", sa.Integer(), nullable=False),
        sa.Column("target_group_bits", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["service_id"], ["service.id"]),
        sa.PrimaryKeyConstraint("service_id", "taxonomy", "term"),
    )
    op.create_index(
        "ix_service_term_lookup",
        "service_term",
        ["taxonomy", "term", "area", "service_id", "target_group_bits"],
    )
    op.create_table(
        "service_reach",
        sa.Column("home", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("area", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("closeness", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("home", "area"),
    )
    holds = op.create_table(
        "place_hold",
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("referral_id"),
    )
    assert holds is not None
    return holds


def _location(*constraints: sa.Constraint) -> None:
    """The location table, as 0001 made it (then with its foreign key) and 0006 keeps it."""
    op.create_table(
        "location",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("address_1", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("postal_code", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("city", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("district", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("district_key", sa.Text(), nullable=False),
        sa.Column("wheelchair_accessible", sa.Boolean(), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        *constraints,
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_location_organization_id", "location", ["organization_id"])
    op.create_index("ix_location_district_key", "location", ["district_key"])


def _service_term() -> None:
    """The service_term table as 0005 had it."""
    op.create_table(
        "service_term",
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("taxonomy", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("term", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["service_id"], ["service.id"]),
        sa.PrimaryKeyConstraint("service_id", "taxonomy", "term"),
    )
    op.create_index("ix_service_term_lookup", "service_term", ["taxonomy", "term"])


def downgrade() -> None:
    """Back to 0005's tables, empty: the records are not turned back (restore the backup
    taken before 0006, or import an export, to have the data)."""
    for table in ("search_word", "hsds_point", "hsds_reference", "hsds_record"):
        op.drop_table(table)
    for table in ("service_reach", "service_term", "place_hold", "service", "location"):
        op.drop_table(table)
    op.create_table(
        "organization",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
        sa.Column("website", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column(
            "coordinator_email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_organization_name", "organization", ["name"])
    _location(sa.ForeignKeyConstraint(["organization_id"], ["organization.id"]))
    op.create_table(
        "service",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("time_of_day", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column(
            "schedule_description", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True
        ),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("free_places", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "capacity >= 1 AND free_places >= 0 AND free_places <= capacity", name=PLACES_RULE
        ),
        sa.ForeignKeyConstraint(["location_id"], ["location.id"]),
        sa.ForeignKeyConstraint(["organization_id"], ["organization.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_service_location_id", "service", ["location_id"])
    op.create_index("ix_service_name", "service", ["name"])
    op.create_index("ix_service_organization_id", "service", ["organization_id"])
    _service_term()
    op.create_table(
        "place_hold",
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["service_id"], ["service.id"]),
        sa.PrimaryKeyConstraint("referral_id"),
    )
    op.create_table(
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
        postgresql_ops={"word": "text_pattern_ops"},
    )
