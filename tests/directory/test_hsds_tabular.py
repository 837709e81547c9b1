"""HSDS's tabular form (CSV files with datapackage.json) read into records and written back."""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from directory.hsds.records import Record
from directory.hsds.tabular import DATAPACKAGE, read_tabular, write_tabular
from tools.contracts import ROOT, STANDARDS

EXAMPLE = STANDARDS / "hsds-3.0" / "examples" / "csv"
PROFILE = ROOT / "contracts" / "hsds" / "profile"


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A copy of the official example, to spoil."""
    return Path(shutil.copytree(EXAMPLE, tmp_path / "example"))


def set_cells(path: Path, row: int, **cells: str) -> None:
    """Sets cells of a spreadsheet row (header = row 1), appending a copy of row 2 if needed."""
    with path.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    while len(rows) < row - 1:
        rows.append(dict(rows[0]))
    rows[row - 2].update(cells)
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_the_official_csv_example_reads_one_record_per_row_of_each_table() -> None:
    records, rejections = read_tabular(EXAMPLE)

    tables = json.loads((EXAMPLE / "datapackage.json").read_text())["resources"]
    assert len(tables) == 21
    assert Counter(r.entity for r in records) == {table["name"]: 1 for table in tables}
    # The example breaks its own foreign keys (locations, contacts, taxonomy_terms), which is
    # validation's to report; every cell is of its column's type.
    assert rejections == []
    [location] = [r for r in records if r.entity == "location"]
    assert location.fields["latitude"] == 100 and location.fields["organization_id"]
    [schedule] = [r for r in records if r.entity == "schedule"]
    assert (schedule.fields["timezone"], schedule.fields["opens_at"]) == (3, "10:00:00")
    assert schedule.fields["valid_from"] == "2005-01-01"
    [service] = [r for r in records if r.entity == "service"]
    assert service.fields["last_modified"] == "2023-03-15T10:30:45.123Z"


def test_an_empty_cell_leaves_its_field_out(example: Path) -> None:
    set_cells(example / "organizations.csv", 2, alternate_name="", year_incorporated="")

    records, rejections = read_tabular(example)

    [organization] = [r for r in records if r.entity == "organization"]
    assert rejections == []
    assert "alternate_name" not in organization.fields
    assert "year_incorporated" not in organization.fields


def test_an_empty_cell_of_a_text_hsds_requires_reads_as_empty_text(example: Path) -> None:
    # The change log's entry for a new record has nothing before it: "" in JSON, which the
    # tabular form can only write as an empty cell.
    set_cells(example / "metadata.csv", 2, previous_value="")

    records, rejections = read_tabular(example)

    [entry] = [r for r in records if r.entity == "metadata"]
    assert rejections == []
    assert entry.fields["previous_value"] == ""


def capacity_records() -> list[Record]:
    return [
        Record("unit", {"id": "u-places", "name": "Pladser", "scheme": "Brobygger"}),
        Record(
            "service_capacity",
            {
                "id": "c-2",
                "service_id": "s-1",
                "unit_id": "u-places",
                "available": 3,
                "maximum": 12.5,
                "updated": "2026-11-22T09:30:00.250+01:00",
            },
        ),
        Record(
            "service_capacity",
            {
                "id": "c-1",
                "service_id": "s-1",
                "unit_id": "u-places",
                "available": 0,
                "description": 'Gåtur, "Nørrebro"\nTirsdage',
                "updated": "2026-11-22T09:30:00Z",
            },
        ),
        Record(
            "location",
            {
                "id": "l-1",
                "location_type": "physical",
                "name": "Nørrebrohallen",
                "latitude": 55.6948123456789,
            },
        ),
    ]


def test_writing_and_reading_back_gives_the_same_records(tmp_path: Path) -> None:
    official, _ = read_tabular(EXAMPLE)
    written = [*official, *capacity_records()]

    write_tabular(written, tmp_path / "export")
    records, rejections = read_tabular(tmp_path / "export")

    assert rejections == []
    key = lambda r: (r.entity, r.id)  # noqa: E731
    assert sorted(records, key=key) == sorted(written, key=key)
    assert any(r.entity == "service_capacity" for r in records)


def test_every_table_is_written_with_its_header_and_rows_sorted_by_id(tmp_path: Path) -> None:
    write_tabular(capacity_records(), tmp_path)

    tables = json.loads(DATAPACKAGE.read_text())["resources"]
    assert (tmp_path / "datapackage.json").read_text() == DATAPACKAGE.read_text()
    for table in tables:
        with (tmp_path / table["path"]).open(encoding="utf-8", newline="") as file:
            rows = list(csv.reader(file))
        assert rows[0] == [field["name"] for field in table["schema"]["fields"]]
        if table["name"] == "service_capacity":
            assert [row[0] for row in rows[1:]] == ["c-1", "c-2"]
            assert rows[2][3:6] == ["3", "12.5", ""]
        elif table["name"] not in ("unit", "location"):
            assert rows[1:] == []


def test_a_record_with_a_field_the_table_has_no_column_for_is_not_written(
    tmp_path: Path,
) -> None:
    with pytest.raises(ValueError, match="capacities"):
        write_tabular([Record("service", {"id": "s-1", "capacities": []})], tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("table", "column", "value", "reason"),
    [
        ("locations.csv", "latitude", "55,69 Nørrebro", "is not a number"),
        ("locations.csv", "longitude", "1e999", "is not a number"),
        ("schedules.csv", "valid_from", "2026-02-30", "is not a date"),
        ("schedules.csv", "opens_at", "kl. 10", "is not a time"),
        ("services.csv", "last_modified", "22/11/2026 09:30", "is not a date and time"),
    ],
)
def test_a_cell_not_of_its_columns_type_rejects_its_row_naming_file_row_and_field(
    example: Path, table: str, column: str, value: str, reason: str
) -> None:
    set_cells(example / table, 3, id="4c0d1f0a-0000-4000-8000-000000000003", **{column: value})

    records, rejections = read_tabular(example)

    assert [(r.where, r.field) for r in rejections] == [(f"{table} row 3", column)]
    assert reason in rejections[0].reason
    assert value not in str(rejections[0])
    assert "4c0d1f0a-0000-4000-8000-000000000003" not in {r.id for r in records}
    assert len(records) == 21


def test_a_column_the_descriptor_does_not_name_is_rejected(example: Path) -> None:
    with (example / "locations.csv").open(encoding="utf-8", newline="") as file:
        rows = list(csv.reader(file))
    rows[0][rows[0].index("latitude")] = "lattitude"
    with (example / "locations.csv").open("w", encoding="utf-8", newline="") as file:
        csv.writer(file).writerows(rows)

    records, rejections = read_tabular(example)

    assert [(r.where, r.field) for r in rejections] == [("locations.csv row 1", "lattitude")]
    [location] = [r for r in records if r.entity == "location"]
    assert "lattitude" not in location.fields and "latitude" not in location.fields


def test_a_row_that_repeats_an_id_is_rejected_and_the_first_kept(example: Path) -> None:
    set_cells(example / "services.csv", 3, name="Gåtur")

    records, rejections = read_tabular(example)

    assert [(r.where, r.field) for r in rejections] == [("services.csv row 3", "id")]
    assert "row 2" in rejections[0].reason
    [service] = [r for r in records if r.entity == "service"]
    assert service.fields["name"] == "Community Counselling"


def test_a_file_that_starts_with_a_byte_order_mark_reads(example: Path) -> None:
    path = example / "organizations.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())

    records, rejections = read_tabular(example)

    assert rejections == []
    [organization] = [r for r in records if r.entity == "organization"]
    assert organization.id == "d9d5e0f5-d3ce-4f73-9a2f-4dd0ecc6c610"


def test_a_missing_table_has_no_records_and_a_csv_outside_the_descriptor_is_reported(
    example: Path,
) -> None:
    (example / "funding.csv").unlink()
    (example / "notes.csv").write_text("id,note\n1,x\n")

    records, rejections = read_tabular(example)

    assert "funding" not in {r.entity for r in records} and len(records) == 20
    assert [(r.where, r.field) for r in rejections] == [("notes.csv", None)]


def test_the_directorys_own_descriptor_gives_the_types(tmp_path: Path) -> None:
    fields = [("id", "integer"), ("open", "boolean"), ("days", "array"), ("on", "date")]
    descriptor = {
        "resources": [
            {
                "name": "thing",
                "path": "things.csv",
                "schema": {
                    "primaryKey": "id",
                    "fields": [{"name": n, "type": t} for n, t in fields],
                },
            }
        ]
    }
    (tmp_path / "datapackage.json").write_text(json.dumps(descriptor))
    (tmp_path / "things.csv").write_text(
        'id,open,days,on\n7,true,"[""MO"", ""TU""]",\n8,false,[],2026-01-31\n9,ja,[],\n'
    )

    records, rejections = read_tabular(tmp_path)

    assert records == [
        Record("thing", {"id": 7, "open": True, "days": ["MO", "TU"]}),
        Record("thing", {"id": 8, "open": False, "days": [], "on": "2026-01-31"}),
    ]
    assert [str(r) for r in rejections] == ["things.csv row 4: open: is not true or false"]


def test_progress_is_told_every_1000_rows_of_a_table(example: Path) -> None:
    path = example / "organizations.csv"
    with path.open("a", encoding="utf-8", newline="") as file:
        csv.writer(file).writerows([f"org-{n:04}", "Forening", "Beskrivelse"] for n in range(2499))
    calls: list[tuple[str, int]] = []

    def progress(table: str, rows_done: int) -> None:
        calls.append((table, rows_done))

    records, rejections = read_tabular(example, progress=progress)

    assert rejections == []
    assert sum(r.entity == "organization" for r in records) == 2500
    assert calls == [("organizations.csv", 1000), ("organizations.csv", 2000)]


def tabular_fields(schema: dict[str, Any]) -> list[str]:
    return [
        name
        for name, prop in schema["properties"].items()
        if "$ref" not in prop and prop["type"] not in ("array", "object")
    ]


def test_brobyggers_datapackage_is_the_official_one_with_the_profiles_two_tables() -> None:
    official = json.loads((EXAMPLE / "datapackage.json").read_text())
    ours = json.loads(DATAPACKAGE.read_text())
    extra = {table["name"]: table for table in ours["resources"][len(official["resources"]) :]}

    assert ours["resources"][: len(official["resources"])] == official["resources"]
    assert {k: v for k, v in ours.items() if k != "resources"} == {
        k: v for k, v in official.items() if k != "resources"
    }
    assert list(extra) == ["service_capacity", "unit"]
    for name, table in extra.items():
        schema = json.loads((PROFILE / f"{name}.json").read_text())
        assert table["path"] == schema["path"]
        assert table["schema"]["primaryKey"] == "id"
        assert [f["name"] for f in table["schema"]["fields"]] == tabular_fields(schema)
        required = {f["name"] for f in table["schema"]["fields"] if f["constraints"]["required"]}
        assert required == set(schema["required"]) - {"unit"} | set(
            schema.get("tabular_required", [])
        )
    assert extra["service_capacity"]["schema"]["foreignKeys"] == [
        {"fields": "service_id", "reference": {"resource": "service", "fields": "id"}},
        {"fields": "unit_id", "reference": {"resource": "unit", "fields": "id"}},
    ]
    updated = next(
        f for f in extra["service_capacity"]["schema"]["fields"] if f["name"] == "updated"
    )
    assert updated["type"] == "datetime"


def test_a_file_that_is_not_utf8_or_not_csv_is_reported(example: Path) -> None:
    (example / "organizations.csv").write_bytes("id,name\nx,Nørrebro\n".encode("latin-1"))
    (example / "programs.csv").write_text('id,name\np-1,"Gåtur\n', encoding="utf-8")

    records, rejections = read_tabular(example)

    assert [str(r) for r in rejections] == [
        "organizations.csv: is not UTF-8 text; the rest of it was not read",
        "programs.csv row 2: cannot be read: unexpected end of data",
    ]
    assert {"organization", "program"}.isdisjoint(r.entity for r in records)


def test_a_table_whose_path_leaves_the_folder_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "secret.csv").write_text("id\n1\n")
    descriptor = {"resources": [{"name": "x", "path": "../secret.csv", "schema": {"fields": []}}]}
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "datapackage.json").write_text(json.dumps(descriptor))

    records, rejections = read_tabular(tmp_path / "in")

    assert records == []
    assert [(r.where, r.field) for r in rejections] == [("datapackage.json", "x")]
