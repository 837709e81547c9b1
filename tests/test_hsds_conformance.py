"""The HSDS 3.0 conformance checker (tests/hsds.py): official examples pass, bad documents fail."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests import hsds

EXAMPLES = hsds.HSDS / "examples"
# Each official JSON example and the answer it shows (as the specification's own check pairs them).
EXAMPLE_KINDS = {
    "base": "api_root",
    "location": "location",
    "organization_full": "organization",
    "organization_list": "organization_list",
    "service_at_location_full": "service_at_location",
    "service_at_location_list": "service_at_location_list",
    "service_full": "service",
    "service_list": "service_list",
    "taxonomy": "taxonomy",
    "taxonomy_list": "taxonomy_list",
    "taxonomy_term": "taxonomy_term",
    "taxonomy_term_list": "taxonomy_term_list",
}
CAPACITY = {
    "id": "8896b788-7b3e-11ef-8db9-7f3d040352b3",
    "service_id": "ac148810-d857-441c-9679-408f346de14b",
    "unit": {"id": "187a37a2-7b40-11ef-9790-dbf7623d4407", "name": "places"},
    "available": 3,
    "maximum": 12,
    "description": "Free places",
    "updated": "2024-09-25T14:23:06.5+01:00",
}


def example(name: str) -> Any:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def test_every_official_json_example_is_paired_with_a_kind() -> None:
    # tabular.json is the tabular form, not an API answer: it has its own test below.
    names = {path.stem for path in EXAMPLES.glob("*.json")} - {"tabular"}
    assert names == set(EXAMPLE_KINDS)


@pytest.mark.parametrize(("name", "kind"), EXAMPLE_KINDS.items())
def test_the_official_example_validates_in_strict_mode(name: str, kind: str) -> None:
    assert hsds.validate(kind, example(name)) == []


def test_the_official_tabular_example_fails_only_where_it_gives_two_identifiers_as_numbers() -> (
    None
):
    # Upstream defect: the JSON rendering of the tabular example writes locations'
    # external_identifier and organization_identifiers' identifier as numbers; HSDS says string
    # (the CSV files carry them as text, so the CSV form is unaffected). Its table keys
    # ("services.csv") are file names, so each table is checked row by row against its object.
    tables = example("tabular")
    kind_of_table = {
        json.loads((hsds.HSDS / file).read_text())["path"]: kind
        for kind, file in {**hsds.SINGLE, **hsds.ENTITIES}.items()
    }
    errors = {
        table: hsds.validate(kind_of_table[table], row)
        for table, rows in tables.items()
        for row in rows
        if hsds.validate(kind_of_table[table], row)
    }
    assert errors == {
        "locations.csv": ["$.external_identifier: 10092008082 is not of type 'string'"],
        "organization_identifiers.csv": ["$.identifier: 1234567 is not of type 'string'"],
    }


def test_an_unknown_property_fails_strict_mode_with_its_path_but_passes_the_published_schema() -> (
    None
):
    document = example("organization_full")
    document["services"][0]["schedules"][0]["opening_hours"] = "10-12"
    document["brobygger_note"] = "x"

    assert hsds.validate("organization", document) == [
        "$: Additional properties are not allowed ('brobygger_note' was unexpected)",
        "$.services[0].schedules[0]: Additional properties are not allowed "
        "('opening_hours' was unexpected)",
    ]
    assert hsds.validate("organization", document, strict=False) == []


def test_an_unknown_property_on_a_page_or_inside_a_referenced_object_fails() -> None:
    page = example("taxonomy_term_list")
    page["next"] = "/taxonomy_terms?page=2"
    page["contents"][0]["taxonomy_detail"]["owner"] = "x"
    location = example("location")
    location["addresses"][0]["district"] = "Nørrebro"

    assert hsds.validate("taxonomy_term_list", page) == [
        "$: Additional properties are not allowed ('next' was unexpected)",
        "$.contents[0].taxonomy_detail: Additional properties are not allowed "
        "('owner' was unexpected)",
    ]
    assert hsds.validate("location", location) == [
        "$.addresses[0]: Additional properties are not allowed ('district' was unexpected)"
    ]


@pytest.mark.parametrize(
    ("field", "value", "format_name"),
    [
        ("id", "ac148810-d857-441c-9679", "uuid"),
        ("url", "example.com/counselling", "uri"),
        ("url", "http://example.com/a b", "uri"),
        ("email", "email.example.com", "email"),
        ("last_modified", "2023-03-15 10:30:45", "date-time"),
        ("last_modified", "2023-02-30T10:30:45Z", "date-time"),
        ("last_modified", "2023-03-15T25:30:45Z", "date-time"),
        ("last_modified", "2023-03-15T10:30:45", "date-time"),
    ],
)
def test_a_wrong_format_fails_strict_mode_with_its_path(
    field: str, value: str, format_name: str
) -> None:
    document = example("service_full")
    document[field] = value

    assert hsds.validate("service", document) == [f"$.{field}: {value!r} is not a {format_name!r}"]
    assert hsds.validate("service", document, strict=False) == []


def test_a_wrong_format_deep_in_a_page_fails_with_its_path() -> None:
    page = example("service_at_location_list")
    page["contents"][0]["location"]["id"] = "42"

    assert hsds.validate("service_at_location_list", page) == [
        "$.contents[0].location.id: '42' is not a 'uuid'"
    ]


def test_the_api_root_needs_a_uri_for_its_profile() -> None:
    root = example("base") | {"profile": "Brobygger profile"}

    assert hsds.validate("api_root", root) == ["$.profile: 'Brobygger profile' is not a 'uri'"]


def test_a_missing_required_field_fails_with_its_path() -> None:
    document = example("service_full")
    del document["status"]
    del document["service_at_locations"][0]["location"]["location_type"]

    assert hsds.validate("service", document) == [
        "$: 'status' is a required property",
        "$.service_at_locations[0].location: 'location_type' is a required property",
    ]


def test_a_wrong_type_fails_even_without_strict_mode() -> None:
    document = example("service_full")
    document["languages"] = ["da"]  # the shape Brobygger's directory gives today (issue 8)

    errors = hsds.validate("service", document, strict=False)

    assert errors == ["$.languages[0]: 'da' is not of type 'object'"]


def test_time_and_date_formats_follow_rfc_3339() -> None:
    check = hsds.FORMATS.conforms
    assert check("10:00:00Z", "time")
    assert check("10:00:00.5+01:00", "time")
    assert not check("10:00", "time")
    assert not check("10:00:00", "time")
    assert not check("10:00:00+25:00", "time")
    assert check("2024-02-29", "date")
    assert not check("2023-02-29", "date")
    assert check("2023-03-15T10:30:45.123Z", "date-time")


def test_capacities_fail_strict_mode_without_brobyggers_profile_and_pass_with_it() -> None:
    document = example("service_full") | {"capacities": [CAPACITY]}

    assert hsds.validate("service", document) == [
        "$: Additional properties are not allowed ('capacities' was unexpected)"
    ]
    assert hsds.validate("service", document, extensions=hsds.BROBYGGER_PROFILE) == []


def test_the_profile_reaches_services_nested_in_organizations_and_checks_capacities() -> None:
    organization = example("organization_full")
    capacity: dict[str, Any] = copy.deepcopy(CAPACITY)
    del capacity["unit"]["name"]
    capacity["updated"] = "yesterday"
    capacity["free"] = 3
    organization["services"][0]["capacities"] = [capacity]

    assert hsds.validate("organization", organization, extensions=hsds.BROBYGGER_PROFILE) == [
        "$.services[0].capacities[0]: Additional properties are not allowed "
        "('free' was unexpected)",
        "$.services[0].capacities[0].unit: 'name' is a required property",
        "$.services[0].capacities[0].updated: 'yesterday' is not a 'date-time'",
    ]


def test_the_profile_permits_capacities_on_services_only() -> None:
    location = example("location") | {"capacities": [CAPACITY]}

    assert hsds.validate("location", location, extensions=hsds.BROBYGGER_PROFILE) == [
        "$: Additional properties are not allowed ('capacities' was unexpected)"
    ]


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown HSDS kind 'services'"):
        hsds.validate("services", {})
