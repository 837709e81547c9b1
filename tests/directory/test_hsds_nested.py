"""HSDS 3.0 nested documents <-> records: the entity graph, flatten, nest (directory.hsds)."""

from __future__ import annotations

import copy
import json
from collections.abc import Collection
from typing import Any
from uuid import NAMESPACE_URL, uuid5

import pytest

from directory.hsds import entities
from directory.hsds.entities import ENTITIES, shape
from directory.hsds.nested import RecordIndex, flatten, flatten_placed, nest, nest_many
from directory.hsds.records import Record
from directory.hsds.validation import check_records, check_references
from tests import hsds

EXAMPLES = hsds.HSDS / "examples"
# Each official JSON example (but the API root and the tabular form) and its document kind.
EXAMPLE_KINDS = {
    "location": "location",
    "organization_full": "organization",
    "organization_list": "organization_list",
    "service_at_location_full": "service_at_location",
    "service_at_location_list": "service_at_location_list",
    "service_full": "service",
    "service_list": "service_list",
    "taxonomy": "taxonomy",
    "taxonomy_list": "taxonomy",
    "taxonomy_term": "taxonomy_term",
    "taxonomy_term_list": "taxonomy_term",
}


def example(name: str) -> Any:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def items(document: Any) -> list[Any]:
    return list(document.get("contents", [document]))


def uuid(name: str) -> str:
    return str(uuid5(NAMESPACE_URL, name))


def table(records: list[Record]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(record.entity, record.id): record.fields for record in records}


def differences(actual: Any, expected: Any, path: str = "$") -> list[str]:
    """Where a built document differs from an official example, except for what the examples
    leave out: empty arrays and foreign keys (they write none, not even where a record is
    nested in two places, as their one phone is in five). Arrays compare in id order."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        found = [f"{path}.{key}: missing" for key in expected.keys() - actual.keys()]
        for key in actual.keys() - expected.keys():
            if actual[key] != [] and not key.endswith("_id"):
                found.append(f"{path}.{key}: not in the example")
        for key in expected.keys() & actual.keys():
            found += differences(actual[key], expected[key], f"{path}.{key}")
        return sorted(found)
    if isinstance(expected, list) and isinstance(actual, list):
        if len(actual) != len(expected):
            return [f"{path}: {len(actual)} items, the example has {len(expected)}"]
        pairs = zip(sorted(actual, key=_id), sorted(expected, key=_id), strict=True)
        return [
            diff for i, (a, e) in enumerate(pairs) for diff in differences(a, e, f"{path}[{i}]")
        ]
    return [] if actual == expected else [f"{path}: differs"]


def _id(item: Any) -> str:
    return str(item.get("id")) if isinstance(item, dict) else json.dumps(item)


def test_the_entity_graph_has_every_hsds_schema_and_the_profiles_two_objects() -> None:
    names = {path.stem for path in hsds.HSDS.glob("*.json")} - {"openapi"}
    assert set(ENTITIES) == names | {"service_capacity", "unit"}
    assert ENTITIES["service"].link("capacities") == entities.Link(
        "capacities", "service_capacity", many=True, key="service_id"
    )
    assert ENTITIES["service_capacity"].link("unit") == entities.Link(
        "unit", "unit", many=False, key="unit_id"
    )
    assert ENTITIES["attribute"].fields == (
        "id",
        "link_id",
        "taxonomy_term_id",
        "link_type",
        "link_entity",
        "value",
    )


def test_foreign_keys_are_those_the_official_datapackage_declares_plus_the_profiles() -> None:
    package = json.loads((EXAMPLES / "csv" / "datapackage.json").read_text())
    declared = {
        (resource["name"], key["fields"], key["reference"]["resource"])
        for resource in package["resources"]
        for key in resource["schema"].get("foreignKeys", [])
    }
    graph = {
        (entity.name, field, target)
        for entity in ENTITIES.values()
        for field, target in entity.foreign_keys.items()
    }
    profile = {
        ("service_capacity", "service_id", "service"),
        ("service_capacity", "unit_id", "unit"),
    }
    assert graph == declared | profile


def _paths(node: dict[str, Any], prefix: str = "") -> set[str]:
    """The nested properties of a compiled schema, as paths (`services[].phones[]`)."""
    found = set()
    for name, prop in node.get("properties", {}).items():
        many = prop.get("type") == "array"
        inner = prop.get("items", {}) if many else prop
        if inner.get("type") == "object" and "name" in inner:
            path = f"{prefix}{name}{'[]' if many else ''}"
            found |= {path} | _paths(inner, f"{path}.")
    return found


def _shape_paths(form: entities.Shape, prefix: str = "") -> set[str]:
    found = set()
    for link, inner in form.links:
        path = f"{prefix}{link.name}{'[]' if link.many else ''}"
        found |= {path} | _shape_paths(inner, f"{path}.")
    return found


@pytest.mark.parametrize("kind", ["service", "organization", "service_at_location"])
def test_each_nested_form_is_its_compiled_schema_with_capacities_and_no_organisation_twice(
    kind: str,
) -> None:
    compiled = _paths(json.loads((hsds.HSDS / entities.SHAPES[kind]).read_text()))
    built = _shape_paths(shape(kind))
    # The profile adds capacities (each with its unit, attributes and metadata) to a service.
    added = {path for path in built - compiled if "capacities[]" in path}
    assert added, "a service's capacities are missing"
    # A service nested in an organisation does not nest that organisation again.
    dropped = {path for path in compiled - built if path.startswith("services[].organization")}
    assert bool(dropped) == (kind == "organization")
    assert built == (compiled | added) - dropped


@pytest.mark.parametrize(("name", "kind"), EXAMPLE_KINDS.items())
def test_each_official_example_flattens_with_no_rejection_into_valid_complete_records(
    name: str, kind: str
) -> None:
    placed, rejections = flatten_placed(kind, example(name), f"{name}.json")
    assert rejections == []
    assert placed
    assert check_records(placed) == []
    # Every key is filled in from the record's place, so the batch names nothing it lacks.
    assert check_references(placed, lambda entity, ids: set()) == []


@pytest.mark.parametrize(("name", "kind"), EXAMPLE_KINDS.items())
def test_each_official_example_nests_back_equal_to_itself(name: str, kind: str) -> None:
    document = example(name)
    records, _ = flatten(kind, document, name)
    index = RecordIndex(records)
    entity = shape(kind).entity
    roots = index.get(entity, [item["id"] for item in items(document)])
    built = nest_many(kind, roots, index, full_service=True)
    assert differences(built, items(document)) == []
    for each in built:
        page = {
            "total_items": 1,
            "total_pages": 1,
            "page_number": 1,
            "size": 1,
            "first_page": True,
            "last_page": True,
            "empty": False,
            "contents": [each],
        }
        answer = page if kind.endswith("_list") else each
        assert hsds.validate(kind, answer, extensions=hsds.BROBYGGER_PROFILE) == []
    # Nothing is lost: the built documents flatten into the very same records.
    assert table(flatten(kind, built, name)[0]) == table(records)


def test_the_comparison_with_the_examples_can_fail() -> None:
    document = example("service_full")
    changed = copy.deepcopy(document)
    changed["phones"][0]["number"] = "+45 1234"
    del changed["schedules"][0]["freq"]
    assert differences(changed, document) == [
        "$.phones[0].number: differs",
        "$.schedules[0].freq: missing",
    ]


def test_a_phone_whose_service_id_contradicts_its_place_is_rejected_with_its_path() -> None:
    document = example("service_full")
    document["phones"][0]["service_id"] = uuid("another service")
    records, rejections = flatten("service", document, "service_full.json")
    assert [str(rejection) for rejection in rejections] == [
        "service_full.json $.phones[0]: service_id: names another service than it is nested in"
    ]
    # The phone is also the service-at-location's, the location's…: those copies are taken.
    phone = table(records)["phone", document["phones"][0]["id"]]
    assert "service_id" not in phone


def _service(**nested: Any) -> dict[str, Any]:
    return {"id": uuid("service"), "name": "Gåtur", "status": "active", **nested}


def test_a_nested_child_gets_its_parents_key_from_its_place() -> None:
    document = _service(
        phones=[{"id": uuid("phone"), "number": "+45 1234 5678"}],
        attributes=[{"id": uuid("attribute"), "taxonomy_term_id": uuid("term")}],
        metadata=[
            {
                "id": uuid("metadata"),
                "last_action_date": "2026-11-30T10:00:00Z",
                "last_action_type": "create",
                "field_name": "name",
                "previous_value": "",
                "replacement_value": "Gåtur",
                "updated_by": "operator",
            }
        ],
    )
    records, rejections = flatten("service", document, "x.json")
    assert rejections == []
    found = table(records)
    assert found["phone", uuid("phone")]["service_id"] == uuid("service")
    attribute = found["attribute", uuid("attribute")]
    assert (attribute["link_id"], attribute["link_entity"]) == (uuid("service"), "service")
    metadata = found["metadata", uuid("metadata")]
    assert (metadata["resource_id"], metadata["resource_type"]) == (uuid("service"), "service")


def test_records_nested_by_reference_become_records_and_set_the_referrers_key() -> None:
    document = _service(
        organization={"id": uuid("org"), "name": "Ældre Sagen", "description": "Frivillige"},
        attributes=[
            {
                "id": uuid("attribute"),
                "taxonomy_term": {
                    "id": uuid("term"),
                    "name": "Walking",
                    "description": "Walks",
                    "taxonomy_detail": {
                        "id": uuid("taxonomy"),
                        "name": "Interests",
                        "description": "Activity types",
                    },
                },
            }
        ],
        capacities=[
            {
                "id": uuid("capacity"),
                "unit": {"id": uuid("places"), "name": "places"},
                "available": 3,
                "maximum": 12,
                "updated": "2026-11-30T10:00:00Z",
            }
        ],
    )
    records, rejections = flatten("service", document, "x.json")
    assert rejections == []
    found = table(records)
    assert found["service", uuid("service")]["organization_id"] == uuid("org")
    assert found["attribute", uuid("attribute")]["taxonomy_term_id"] == uuid("term")
    assert found["taxonomy_term", uuid("term")]["taxonomy_id"] == uuid("taxonomy")
    assert found["service_capacity", uuid("capacity")]["unit_id"] == uuid("places")
    assert found["unit", uuid("places")] == {"id": uuid("places"), "name": "places"}
    assert check_records([("x", record) for record in records]) == []
    # Referred records come before those that refer to them, parents before children.
    order = [record.entity for record in records]
    assert order.index("organization") < order.index("service") < order.index("attribute")
    assert order.index("taxonomy") < order.index("taxonomy_term") < order.index("attribute")


def test_a_referred_copy_that_contradicts_the_referrers_key_is_rejected() -> None:
    document = _service(
        organization_id=uuid("org"),
        organization={"id": uuid("other org"), "name": "Røde Kors", "description": "Frivillige"},
    )
    _, rejections = flatten("service", document, "x.json")
    assert [str(rejection) for rejection in rejections] == [
        "x.json $.organization: organization_id: names another organization than this"
    ]


def test_the_same_id_twice_with_different_fields_is_rejected_naming_the_field_not_the_value() -> (
    None
):
    phone = {"id": uuid("phone"), "number": "+45 1111 1111"}
    document = _service(
        phones=[phone],
        contacts=[{"id": uuid("contact"), "phones": [{**phone, "number": "+45 2222 2222"}]}],
    )
    records, rejections = flatten("service", document, "x.json")
    assert [str(rejection) for rejection in rejections] == [
        "x.json $.contacts[0].phones[0]: number: has the id of $.phones[0] with different number"
    ]
    assert table(records)["phone", uuid("phone")]["number"] == "+45 1111 1111"


def test_copies_of_one_record_in_two_places_make_one_record_with_both_keys() -> None:
    phone = {"id": uuid("phone"), "number": "+45 1111 1111"}
    document = _service(phones=[phone], contacts=[{"id": uuid("contact"), "phones": [phone]}])
    records, rejections = flatten("service", document, "x.json")
    assert rejections == []
    found = table(records)["phone", uuid("phone")]
    assert (found["service_id"], found["contact_id"]) == (uuid("service"), uuid("contact"))


def test_objects_without_an_id_and_arrays_that_are_not_arrays_are_rejected_with_their_path() -> (
    None
):
    document = {"contents": [_service(phones=[{"number": "+45 1111 1111"}], schedules={}), 7]}
    records, rejections = flatten("service", document, "page.json")
    assert [str(rejection) for rejection in rejections] == [
        "page.json $.contents[0].phones[0]: id: is missing: every phone needs one",
        "page.json $.contents[0].schedules: must be an array",
        "page.json $.contents[1]: must be an object (a service)",
    ]
    assert [record.entity for record in records] == ["service"]


def test_a_phone_of_a_service_and_a_location_nests_under_both_and_is_owned_by_one() -> None:
    phone = Record(
        "phone",
        {
            "id": uuid("phone"),
            "number": "+45 1111 1111",
            "service_id": uuid("service"),
            "location_id": uuid("location"),
        },
    )
    service = Record("service", _service())
    location = Record("location", {"id": uuid("location"), "location_type": "physical"})
    index = RecordIndex([phone, service, location])
    assert [p["id"] for p in nest("service", service, index)["phones"]] == [uuid("phone")]
    assert [p["id"] for p in nest("location", location, index)["phones"]] == [uuid("phone")]
    # In a service, the phone says which location it is also of (and not which service).
    assert nest("service", service, index)["phones"][0]["location_id"] == uuid("location")
    assert "service_id" not in nest("service", service, index)["phones"][0]
    # Equally deep parents: the earlier key in the schema's field order owns it.
    assert entities.owner("phone", phone.fields) == ("location", uuid("location"))
    # A contact sits deeper than a service, a service-at-location deeper than a service.
    assert entities.owner("phone", {**phone.fields, "contact_id": uuid("contact")}) == (
        "contact",
        uuid("contact"),
    )
    assert entities.owner("contact", {"service_id": "s", "service_at_location_id": "sal"}) == (
        "service_at_location",
        "sal",
    )
    assert entities.owner("attribute", {"link_id": "s", "link_entity": "service"}) == (
        "service",
        "s",
    )
    assert entities.owner("attribute", {"link_id": "s", "link_entity": "link_entity"}) is None
    assert entities.owner("organization", {"id": "o"}) is None


def test_children_come_sorted_by_id_and_absent_arrays_are_empty() -> None:
    ids = sorted(uuid(f"phone {i}") for i in range(3))
    phones = [
        Record("phone", {"id": id_, "number": "1", "service_id": uuid("service")})
        for id_ in reversed(ids)
    ]
    service = Record("service", _service())
    document = nest("service", service, RecordIndex([service, *phones]))
    assert [phone["id"] for phone in document["phones"]] == ids
    assert document["schedules"] == [] and document["capacities"] == []
    assert "organization" not in document  # a reference with nothing to nest is left out


def test_an_organisation_nests_its_services_only_when_asked() -> None:
    organization = Record("organization", {"id": uuid("org"), "name": "O", "description": "D"})
    service = Record("service", _service(organization_id=uuid("org")))
    index = RecordIndex([organization, service])
    full = nest("organization", organization, index, full_service=True)
    assert [each["id"] for each in full["services"]] == [uuid("service")]
    assert "organization" not in full["services"][0]
    assert "services" not in nest("organization", organization, index)
    assert hsds.validate("organization", full, extensions=hsds.BROBYGGER_PROFILE) == []


def test_nest_refuses_roots_of_another_entity() -> None:
    with pytest.raises(ValueError, match="service records"):
        nest("service", Record("location", {"id": uuid("location")}), RecordIndex([]))


class CountingSource:
    """A RecordIndex that counts the calls nesting makes."""

    def __init__(self, records: list[Record]) -> None:
        self.index = RecordIndex(records)
        self.calls = 0

    def get(self, entity: str, ids: Collection[str]) -> list[Record]:
        self.calls += 1
        return self.index.get(entity, ids)

    def children(self, entity: str, key: str, ids: Collection[str]) -> list[Record]:
        self.calls += 1
        return self.index.children(entity, key, ids)


def _directory(services: int) -> tuple[list[Record], list[Record]]:
    """`services` services of one organisation, each with a bit of everything; and them."""
    shared = [
        Record("organization", {"id": uuid("org"), "name": "Ældre Sagen", "description": "D"}),
        Record("unit", {"id": uuid("places"), "name": "places"}),
        Record("taxonomy", {"id": uuid("tax"), "name": "Interests", "description": "D"}),
        Record(
            "taxonomy_term",
            {
                "id": uuid("walking"),
                "name": "Walking",
                "description": "D",
                "taxonomy_id": uuid("tax"),
            },
        ),
    ]
    roots = []
    records = list(shared)
    for i in range(services):
        s, loc, sal = uuid(f"s{i}"), uuid(f"l{i}"), uuid(f"sal{i}")
        root = Record("service", _service(id=s, organization_id=uuid("org")))
        roots.append(root)
        records += [
            root,
            Record(
                "location", {"id": loc, "location_type": "physical", "organization_id": uuid("org")}
            ),
            Record(
                "address",
                {
                    "id": uuid(f"a{i}"),
                    "location_id": loc,
                    "address_1": "Gade 1",
                    "city": "København",
                    "state_province": "Region Hovedstaden",
                    "postal_code": "2200",
                    "country": "DK",
                    "address_type": "physical",
                },
            ),
            Record("service_at_location", {"id": sal, "service_id": s, "location_id": loc}),
            Record(
                "schedule",
                {
                    "id": uuid(f"sch{i}"),
                    "service_at_location_id": sal,
                    "freq": "WEEKLY",
                    "byday": "TU",
                    "opens_at": "10:00",
                    "closes_at": "12:00",
                },
            ),
            Record(
                "phone", {"id": uuid(f"p{i}"), "number": "1", "service_id": s, "location_id": loc}
            ),
            Record("language", {"id": uuid(f"lang{i}"), "service_id": s, "code": "da"}),
            Record(
                "attribute",
                {
                    "id": uuid(f"at{i}"),
                    "link_id": s,
                    "link_entity": "service",
                    "taxonomy_term_id": uuid("walking"),
                },
            ),
            Record(
                "service_capacity",
                {
                    "id": uuid(f"c{i}"),
                    "service_id": s,
                    "unit_id": uuid("places"),
                    "available": 3,
                    "maximum": 12,
                    "updated": "2026-11-30T10:00:00Z",
                },
            ),
        ]
    return roots, records


def test_nest_many_of_50_services_makes_no_more_source_calls_than_nesting_one() -> None:
    roots, records = _directory(50)
    one = CountingSource(records)
    nest_many("service", roots[:1], one)
    many = CountingSource(records)
    documents = nest_many("service", roots, many)
    # A fixed number per shape (one per link and level at most); what one page has already
    # read can only save calls.
    assert many.calls <= one.calls < 60
    assert [document["id"] for document in documents] == [root.id for root in roots]
    document = documents[7]
    assert document["service_at_locations"][0]["location"]["addresses"][0]["city"] == "København"
    assert document["service_at_locations"][0]["schedules"][0]["byday"] == "TU"
    assert document["attributes"][0]["taxonomy_term"]["taxonomy_detail"]["name"] == "Interests"
    assert document["capacities"][0]["unit"]["name"] == "places"
    locations = {each["id"]: each for each in document["organization"]["locations"]}
    assert [phone["id"] for phone in locations[uuid("l7")]["phones"]] == [uuid("p7")]
    for each in documents:
        assert hsds.validate("service", each, extensions=hsds.BROBYGGER_PROFILE) == []
    assert table(flatten("service", documents, "x")[0]) == table(records)
