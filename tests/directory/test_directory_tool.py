"""`brobygger directory import|export` as an operator runs it: on a directory database of its
own (a SQLite file), reading what it prints. The official HSDS 3.0 examples import; an export
imported into an empty directory gives the same records; and what it prints is counts,
places and reasons, never a record's values."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid5

import pytest

from directory import services, tool
from directory.hsds.records import Record
from runtime.storage import make_engine
from tools.contracts import STANDARDS

EXAMPLES = STANDARDS / "hsds-3.0" / "examples"
CSV_EXAMPLE = EXAMPLES / "csv"
NOT_DATA = {"base.json", "tabular.json"}
"""base.json is an API root; tabular.json is the CSV example written as JSON, which breaks
its own foreign keys as the CSV does (contracts/standards/README.md)."""
OFFICIAL_JSON = sorted(path.name for path in EXAMPLES.glob("*.json") if path.name not in NOT_DATA)
IMPORTER = "brobygger directory import"
"""Who the change log says wrote what an import wrote."""
NAMESPACE = UUID("5d0f3c52-4b8e-4c8f-a5a3-6c2e8f1b9d47")


@dataclass
class Directory:
    """A directory database of its own, and the command run on it."""

    url: str
    capsys: pytest.CaptureFixture[str]

    def setting(self, name: str) -> str | None:
        return self.url if name == "DIRECTORY_DATABASE_URL" else None

    def run(self, *argv: str | Path) -> tuple[int, str, str]:
        """`brobygger directory ARGV`: its exit status, and what it printed to stdout and
        stderr."""
        self.capsys.readouterr()
        status = tool.main([str(arg) for arg in argv], self.setting)
        out, err = self.capsys.readouterr()
        return status, out, err

    def records(self) -> list[Record]:
        engine = make_engine(self.url)
        try:
            return services.all_records(tool._uow_factory(engine))
        finally:
            engine.dispose()

    def seed_demo(self) -> None:
        engine = make_engine(self.url)
        try:
            assert services.seed_demo(tool._uow_factory(engine))
        finally:
            engine.dispose()


@pytest.fixture
def new_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Callable[[str], Directory]:
    """`new_directory(name)`: an empty directory in a SQLite file of that name. The command
    makes the tables and writes the vocabularies whatever it is asked, as the service does on
    start: exporting nothing does only that."""

    def make(name: str) -> Directory:
        directory = Directory(f"sqlite:///{tmp_path / name}.db", capsys)
        status, _, err = directory.run("export", "--format", "json", tmp_path / f"{name}-empty")
        assert status == 0, err
        return directory

    return make


def as_set(records: list[Record]) -> set[tuple[str, str]]:
    return {(r.entity, json.dumps(r.fields, sort_keys=True)) for r in records}


def the_data(records: list[Record]) -> set[tuple[str, str]]:
    """Every record but the change log's own (`metadata`)."""
    return as_set([r for r in records if r.entity != "metadata"])


def the_log_of(records: list[Record], by: str) -> set[tuple[str, str]]:
    return as_set([r for r in records if r.entity == "metadata" and r.fields["updated_by"] == by])


def ids_in(document: Any) -> set[str]:
    """Every `id` anywhere in an HSDS JSON document."""
    if isinstance(document, dict):
        own = {str(document["id"])} if "id" in document else set()
        return own.union(*(ids_in(value) for value in document.values()))
    if isinstance(document, list):
        return set().union(*(ids_in(item) for item in document))
    return set()


def rejections(err: str) -> list[str]:
    return [line.removeprefix("rejected: ") for line in err.splitlines() if "rejected:" in line]


# --- the official examples ------------------------------------------------------------------


@pytest.mark.parametrize("example", OFFICIAL_JSON)
def test_every_official_json_example_imports_whole_with_nothing_rejected(
    new_directory: Callable[[str], Directory], example: str
) -> None:
    directory = new_directory("directory")

    status, out, err = directory.run("import", EXAMPLES / example)

    assert (status, rejections(err)) == (0, []), err
    assert "; 0 rejected, 0 organisation(s) left as they were" in out
    stored = {record.id for record in directory.records()}
    assert ids_in(json.loads((EXAMPLES / example).read_text())) <= stored


# Where the CSV example breaks its own foreign keys: a location and a contact of
# organisations that are not in it, a contact of a service at a location that is not in it,
# a term of a taxonomy that is not in it.
BROKEN_KEYS = [
    "locations.csv, id 3a19ff88-4620-4d17-9830-ac1d859eb5d5: organization_id: "
    "location.organization_id names an organization that is not there",
    "contacts.csv, id 1e7efce3-639b-4880-940c-b95cd30cdb50: organization_id: "
    "contact.organization_id names an organization that is not there",
    "contacts.csv, id 1e7efce3-639b-4880-940c-b95cd30cdb50: service_at_location_id: "
    "contact.service_at_location_id names a service_at_location that is not there",
    "taxonomy_terms.csv, id 3f7b145d-84af-42d7-8fae-eaca714b02b2: taxonomy_id: "
    "taxonomy_term.taxonomy_id names a taxonomy that is not there",
]
# The rows that name a row rejected above (the location, the contact) or one of the
# organisation left as it was because of them (the service): not there after the import.
NAMING_THE_REJECTED = [
    "contacts.csv, id 1e7efce3-639b-4880-940c-b95cd30cdb50: service_id: "
    "contact.service_id names a service that is not there",
    "service_at_location.csv, id e94c9f38-1e8f-4564-91d4-d53501ab1765: location_id: "
    "service_at_location.location_id names a location that is not there",
    "phones.csv, id 1554f2e2-a373-45db-a3fa-9fc48a61c15e: location_id: "
    "phone.location_id names a location that is not there",
    "phones.csv, id 1554f2e2-a373-45db-a3fa-9fc48a61c15e: contact_id: "
    "phone.contact_id names a contact that is not there",
    "schedules.csv, id 48102e86-bb50-41c4-8f1e-e269368c41d1: location_id: "
    "schedule.location_id names a location that is not there",
    "languages.csv, id 2989d3ed-c547-48f8-8f9d-432d81c7892e: location_id: "
    "language.location_id names a location that is not there",
]
# tabular.json writes two identifiers as JSON numbers, where HSDS has strings (in the CSV
# they are text, as every cell is).
NUMBERS_FOR_STRINGS = [
    "locations.csv, id 3a19ff88-4620-4d17-9830-ac1d859eb5d5: external_identifier: "
    "must be of type string",
    "organization_identifiers.csv, id d4dbcebc-0802-47cb-8651-b937ac4f2f3e: identifier: "
    "must be of type string",
]
THE_ORGANISATIONS_TABLES = [
    "organizations",
    "programs",
    "services",
    "service_at_location",
    "phones",
    "schedules",
    "languages",
    "funding",
    "service_areas",
    "required_documents",
    "cost_options",
    "organization_identifiers",
]
"""The tables of the CSV example that hold the records of its one organisation."""


def the_organisations_ids() -> set[str]:
    return {
        line.split(",", 1)[0]
        for table in THE_ORGANISATIONS_TABLES
        for line in (CSV_EXAMPLE / f"{table}.csv").read_text().splitlines()[1:]
    }


@pytest.mark.parametrize(
    ("example", "expected"),
    [
        ("csv", BROKEN_KEYS + NAMING_THE_REJECTED),
        (
            "tabular.json",
            [
                f"tabular.json {line}"
                for line in NUMBERS_FOR_STRINGS + BROKEN_KEYS + NAMING_THE_REJECTED
            ],
        ),
    ],
)
def test_the_tabular_examples_broken_keys_are_reported_and_their_organisation_left_out(
    new_directory: Callable[[str], Directory], example: str, expected: list[str]
) -> None:
    directory = new_directory("directory")
    before = as_set(directory.records())

    status, out, err = directory.run("import", EXAMPLES / example)

    assert status == 1
    assert sorted(rejections(err)) == sorted(expected)
    assert f"{len(expected)} rejected, 1 organisation(s) left as they were" in out
    stored = {record.id for record in directory.records()}
    assert the_organisations_ids().isdisjoint(stored)
    assert as_set(directory.records()) == before


# --- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["json", "csv"])
def test_the_examples_exported_and_imported_into_an_empty_directory_are_the_same(
    new_directory: Callable[[str], Directory], tmp_path: Path, form: str
) -> None:
    first, second = new_directory("first"), new_directory("second")
    for example in OFFICIAL_JSON:
        assert first.run("import", EXAMPLES / example)[0] == 0
    before = first.records()

    exported = first.run("export", "--format", form, tmp_path / "export")
    imported = second.run("import", tmp_path / "export")

    assert (exported[0], imported[0]) == (0, 0), exported[2] + imported[2]
    after = second.records()
    assert the_data(after) == the_data(before)
    # The change log travels with what it is about; the second directory adds its own
    # entries for writing them.
    assert the_log_of(before, IMPORTER) <= the_log_of(after, IMPORTER)
    assert the_log_of(before, IMPORTER) < the_log_of(after, IMPORTER)


@pytest.mark.parametrize("form", ["json", "csv"])
def test_the_demo_directory_exported_and_imported_into_an_empty_one_is_the_same(
    new_directory: Callable[[str], Directory], tmp_path: Path, form: str
) -> None:
    first, second = new_directory("first"), new_directory("second")
    first.seed_demo()
    before = first.records()

    exported = first.run("export", "--format", form, tmp_path / "export")
    imported = second.run("import", tmp_path / "export")

    assert (exported[0], imported[0]) == (0, 0), exported[2] + imported[2]
    after = second.records()
    assert the_data(after) == the_data(before)
    assert the_log_of(before, "brobygger demo") <= the_log_of(after, "brobygger demo")


# --- what it says ---------------------------------------------------------------------------


def test_a_file_that_is_not_json_gets_a_clear_line_exit_status_1_and_nothing_imported(
    new_directory: Callable[[str], Directory], tmp_path: Path
) -> None:
    directory = new_directory("directory")
    before = as_set(directory.records())
    broken = tmp_path / "services.json"
    broken.write_text('{"id": "a", "name": "Strikkecafé", ', encoding="utf-8")

    status, _, err = directory.run("import", broken)

    assert status == 1
    assert rejections(err) == ["services.json: is not readable JSON (JSONDecodeError)"]
    assert "nothing was imported" in err
    assert as_set(directory.records()) == before


def contact(number: int) -> dict[str, Any]:
    """A contact person of an organisation: personal data."""
    return {
        "id": str(uuid5(NAMESPACE, f"contact/{number}")),
        "name": f"Inger Jensen {number}",
        "title": "Koordinator",
        "email": f"inger.jensen.{number}@strik.example",
        "phones": [
            {"id": str(uuid5(NAMESPACE, f"phone/{number}")), "number": f"+45 2030 {number:04d}"}
        ],
    }


def organisation(number: int) -> dict[str, Any]:
    return {
        "id": str(uuid5(NAMESPACE, f"organization/{number}")),
        "name": f"Strikkeklub {number}",
        "description": "Vi strikker sammen hver uge.",
        "contacts": [contact(number)],
    }


def personal_data(organisations: list[dict[str, Any]]) -> list[str]:
    return [
        value
        for organisation in organisations
        for person in organisation["contacts"]
        for value in (person["name"], person["email"], person["phones"][0]["number"])
    ]


def test_importing_many_organisations_shows_progress_and_only_counts(
    new_directory: Callable[[str], Directory], tmp_path: Path
) -> None:
    directory = new_directory("directory")
    organisations = [organisation(number) for number in range(1, 41)]
    (tmp_path / "organisations.json").write_text(json.dumps(organisations), encoding="utf-8")

    status, out, err = directory.run("import", tmp_path / "organisations.json")

    assert status == 0, err
    progress = [
        tuple(map(int, found.groups()))
        for line in err.splitlines()
        if (found := re.fullmatch(r"\s*(\d+)/(\d+) organisations", line))
    ]
    assert len(progress) >= 10
    assert [done for done, _ in progress] == sorted({done for done, _ in progress})
    assert {total for _, total in progress} == {40} and progress[-1] == (40, 40)
    assert "40 organisation(s) imported: 120 record(s) created" in out
    printed = out + err
    assert [value for value in personal_data(organisations) if value in printed] == []


def test_a_rejected_contact_is_reported_by_place_field_and_reason_never_by_its_values(
    new_directory: Callable[[str], Directory], tmp_path: Path
) -> None:
    directory = new_directory("directory")
    organisations = [organisation(1), organisation(2)]
    # An address that is no email address, and a phone number where HSDS has a string.
    organisations[1]["contacts"][0]["email"] = "inger.jensen.2 at strik.example"
    organisations[1]["contacts"][0]["phones"][0]["number"] = 4520302002
    (tmp_path / "organisations.json").write_text(json.dumps(organisations), encoding="utf-8")

    status, out, err = directory.run("import", tmp_path / "organisations.json")

    assert status == 1
    lines = rejections(err)
    assert len(lines) == 2
    assert any(
        re.search(
            r"organisations\.json \$\[1\]\.contacts\[0\]: email: must be a valid email$", line
        )
        for line in lines
    ), lines
    assert any(
        re.search(r"\$\[1\]\.contacts\[0\]\.phones\[0\]: number: must be of type string$", line)
        for line in lines
    ), lines
    assert "1 organisation(s) imported: 3 record(s) created" in out
    assert "2 rejected, 1 organisation(s) left as they were" in out
    printed = out + err
    values = [*personal_data(organisations), "4520302002"]
    assert [value for value in values if str(value) in printed] == []
    stored = {record.id for record in directory.records()}
    assert organisations[0]["id"] in stored
    assert ids_in(organisations[1]).isdisjoint(stored)


def test_the_official_examples_contact_never_shows_in_what_an_import_prints(
    new_directory: Callable[[str], Directory], tmp_path: Path
) -> None:
    # Ann Persona is the examples' contact; the CSV example rejects her row.
    persona = ("Ann Persona", "A. Persona", "email@example.com", "+44 1234 234567")
    printed = ""
    for example in ("organization_full.json", "csv"):
        printed += "".join(new_directory(example).run("import", EXAMPLES / example)[1:])
    copy = shutil.copytree(CSV_EXAMPLE, tmp_path / "copy")
    printed += "".join(new_directory("copy").run("import", copy)[1:])

    assert "Reading" in printed
    assert [value for value in persona if value in printed] == []
