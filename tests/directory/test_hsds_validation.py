"""HSDS 3.0 records checked against their entity schemas and for dangling foreign keys."""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, uuid5

import pytest

from directory.hsds.records import Record, Rejection
from directory.hsds.validation import check, check_records, check_references

SECRET = "inger.jensen@example.dk"  # stands for any personal value: it must never be echoed


def uuid(name: str) -> str:
    return str(uuid5(NAMESPACE_URL, name))


def service(**fields: Any) -> Record:
    return Record("service", {"id": uuid("service"), "name": "Gåtur", "status": "active", **fields})


def test_a_valid_record_has_no_problems() -> None:
    assert check(service(email=SECRET, url="https://example.dk/gaatur", minimum_age=65)) == []


@pytest.mark.parametrize(
    ("record", "field", "reason"),
    [
        (service(notes=SECRET), "notes", "is not a field of service"),
        (service(id=SECRET), "id", "must be a valid uuid"),
        (service(email="Inger Jensen"), "email", "must be a valid email"),
        (service(url="not a uri"), "url", "must be a valid uri"),
        (service(last_modified="2026-11-30 10:00"), "last_modified", "must be a valid date-time"),
        (service(minimum_age="65"), "minimum_age", "must be of type number"),
        (
            service(status="open"),
            "status",
            "must be one of active, inactive, defunct, temporarily closed",
        ),
        (Record("service", {"id": uuid("service"), "status": "active"}), "name", "is required"),
        # The nested form's arrays are not fields of a record.
        (service(phones=[]), "phones", "is not a field of service"),
    ],
)
def test_a_record_breaking_its_schema_is_rejected_naming_the_field_and_rule(
    record: Record, field: str, reason: str
) -> None:
    assert check(record) == [(field, reason)]
    for rejection in check_records([("services.json $[0]", record)]):
        assert rejection == Rejection("services.json $[0]", field, reason)
        for value in record.fields.values():
            if value not in ("active", "Gåtur") and isinstance(value, str):
                assert value not in str(rejection)


def test_a_record_of_no_hsds_table_is_rejected() -> None:
    assert check(Record("citizen", {"id": uuid("citizen")})) == [
        (None, "citizen is not an HSDS table")
    ]


def test_the_profiles_capacity_is_checked_as_a_flat_record_with_its_unit_id() -> None:
    capacity = Record(
        "service_capacity",
        {
            "id": uuid("capacity"),
            "service_id": uuid("service"),
            "unit_id": uuid("places"),
            "available": 3,
            "maximum": 12,
            "updated": "2026-11-30T10:00:00+01:00",
        },
    )
    assert check(capacity) == []
    assert check(Record("service_capacity", {**capacity.fields, "updated": "yesterday"})) == [
        ("updated", "must be a valid date-time")
    ]
    assert check(Record("unit", {"id": uuid("places")})) == [("name", "is required")]


def test_the_tabular_form_also_requires_the_keys_of_its_tables() -> None:
    assert check(service()) == []
    assert check(service(), tabular=True) == [("organization_id", "is required")]
    assert check(service(organization_id=uuid("org")), tabular=True) == []


def test_a_dangling_foreign_key_is_reported_with_entity_field_and_where() -> None:
    phone = Record(
        "phone",
        {
            "id": uuid("phone"),
            "number": "1",
            "service_id": uuid("service"),
            "location_id": uuid("nowhere"),
        },
    )
    asked: list[tuple[str, set[str]]] = []

    def known(entity: str, ids: set[str]) -> set[str]:
        asked.append((entity, ids))
        return set()

    rejections = check_references(
        [("services.json $[0]", service()), ("phones.csv row 2", phone)], known
    )
    assert [str(rejection) for rejection in rejections] == [
        "phones.csv row 2: location_id: phone.location_id names a location that is not there"
    ]
    # The service is in the batch; only the location was looked up, once.
    assert asked == [("location", {uuid("nowhere")})]


def test_a_foreign_key_to_a_known_record_is_fine() -> None:
    schedule = Record(
        "schedule", {"id": uuid("schedule"), "service_id": uuid("service"), "freq": "WEEKLY"}
    )
    capacity = Record(
        "service_capacity",
        {"id": uuid("capacity"), "service_id": uuid("service"), "unit_id": uuid("places")},
    )
    stored = {"service": {uuid("service")}, "unit": {uuid("places")}}
    placed = [("x", schedule), ("y", capacity)]
    assert check_references(placed, lambda entity, ids: ids & stored.get(entity, set())) == []
    rejections = check_references(placed, lambda entity, ids: set())
    assert {(r.where, r.field) for r in rejections} == {
        ("x", "service_id"),
        ("y", "service_id"),
        ("y", "unit_id"),
    }
