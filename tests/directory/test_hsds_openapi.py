"""directory's HSDS components (directory/hsds/openapi.py): a valid OpenAPI 3.1 document, what
the compiled HSDS schemas describe, as strict as the HSDS checker (tests/hsds.py)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from functools import cache, partial
from typing import Any

import jsonschema
import pytest
import referencing
from jsonschema.exceptions import ValidationError, best_match
from referencing.jsonschema import DRAFT202012
from schemathesis.specs.openapi.definitions import OPENAPI_31

from directory.hsds import openapi
from tests import hsds

EXAMPLES = hsds.HSDS / "examples"
COMPONENTS = "urn:brobygger:directory-components"
# Each official JSON example and its component; base.json is the API root, which is directory's
# own model (not an HSDS schema), and tabular.json has its own test.
EXAMPLE_COMPONENTS = {
    "location": "HSDSLocation",
    "organization_full": "HSDSOrganizationWithServices",
    "organization_list": "HSDSOrganizationPage",
    "service_at_location_full": "HSDSServiceAtLocationWithService",
    "service_at_location_list": "HSDSServiceAtLocationPage",
    "service_full": "HSDSService",
    "service_list": "HSDSServicePage",
    "taxonomy": "HSDSTaxonomy",
    "taxonomy_list": "HSDSTaxonomyPage",
    "taxonomy_term": "HSDSTaxonomyTerm",
    "taxonomy_term_list": "HSDSTaxonomyTermPage",
}
# tests/hsds.py's kind for each example (as tests/test_hsds_conformance.py pairs them).
EXAMPLE_KINDS = {
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
# The compiled schemas with the component that describes each.
COMPILED = {
    "service": "HSDSService",
    "organization": "HSDSOrganizationWithServices",
    "service_at_location": "HSDSServiceAtLocationWithService",
    "service_list": "HSDSServiceListItem",
    "organization_list": "HSDSOrganizationListItem",
    "service_at_location_list": "HSDSServiceAtLocationListItem",
}
CAPACITY = {
    "id": "8896b788-7b3e-11ef-8db9-7f3d040352b3",
    "service_id": "ac148810-d857-441c-9679-408f346de14b",
    "unit": {"id": "187a37a2-7b40-11ef-9790-dbf7623d4407", "name": "places"},
    "available": 3,
    "maximum": 12,
    "updated": "2024-09-25T14:23:06.5+01:00",
}
# What a writer may not send, wherever it is in the official examples.
NOT_WRITTEN = {"metadata", "organization", "program", "location", "taxonomy_term", "unit"}
NOT_WRITTEN_IN_AN_ORGANIZATION = {"services", "locations", "programs"}


def example(name: str) -> Any:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


@cache
def validator(name: str) -> jsonschema.Draft202012Validator:
    """A validator of component `name`, its `$ref`s resolved in a registry of the components,
    formats checked as tests/hsds.py checks them."""
    resource = DRAFT202012.create_resource({"components": {"schemas": openapi.components()}})
    registry: referencing.Registry[Any] = referencing.Registry().with_resource(COMPONENTS, resource)
    return jsonschema.Draft202012Validator(
        {"$ref": f"{COMPONENTS}#/components/schemas/{name}"},
        registry=registry,
        format_checker=hsds.FORMATS,
    )


def errors(name: str, document: object) -> list[str]:
    """Every way `document` fails component `name`, worded as tests/hsds.py words them."""
    found = sorted(validator(name).iter_errors(document), key=lambda error: list(error.path))
    return [_describe(error) for error in found]


def _describe(error: ValidationError) -> str:
    while error.context:  # anyOf: the branch that came closest
        error = best_match(error.context)
    return f"{error.json_path}: {error.message}"


def judged(kind: str, document: object) -> list[str]:
    return hsds.validate(kind, document, extensions=hsds.BROBYGGER_PROFILE)


def writable(document: Any, dropped: set[str] = NOT_WRITTEN) -> Any:
    """An example as a writer would send it: without what only the directory writes, a
    capacity naming its unit by `unit_id`."""
    if isinstance(document, list):
        return [writable(item, dropped) for item in document]
    if not isinstance(document, dict):
        return document
    result = {key: writable(value, dropped) for key, value in document.items()}
    if "unit" in result:
        result["unit_id"] = result["unit"]["id"]
    return {key: value for key, value in result.items() if key not in dropped}


def service_with_capacity() -> dict[str, Any]:
    document: dict[str, Any] = example("service_full")
    document["capacities"] = [copy.deepcopy(CAPACITY)]
    return document


def at(document: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        document = document[step]
    return document


def json_path(path: tuple[str | int, ...]) -> str:
    return "$" + "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in path)


# --- a valid OpenAPI 3.1 document -------------------------------------------------------------


def minimal_document() -> dict[str, Any]:
    """One path per page and entity component, and one per write body."""
    answers = [name for name in openapi.components() if not name.endswith("Write")]
    paths: dict[str, Any] = {
        f"/{name}": {
            "get": {
                "operationId": f"get{name}",
                "responses": {
                    str(status): response
                    for status, response in openapi.responses_for(
                        name, f"One {name}.", ndjson=name == "HSDSServicePage"
                    ).items()
                },
            }
        }
        for name in answers
    }
    for entity in ("Service", "Location", "Organization"):
        paths[f"/{entity}Write"] = {
            "post": {
                "operationId": f"create{entity}",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": openapi.schema_ref(f"HSDS{entity}Write")}
                    },
                },
                "responses": {"201": {"description": "Created."}},
            }
        }
    document = {"openapi": "3.1.0", "info": {"title": "HSDS", "version": "1"}, "paths": paths}
    openapi.install(document)
    return document


def refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        own = {node["$ref"]} if "$ref" in node else set()
        return own.union(*(refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(refs(item) for item in node))
    return set()


def test_the_components_make_a_valid_openapi_3_1_document() -> None:
    # Validated against the OpenAPI 3.1 schema that schemathesis ships (schema.yaml of
    # OAI/OpenAPI-Specification, 2022-10-07), which leaves Schema Objects to the JSON Schema
    # 2020-12 meta-schema: each component is checked against that too.
    document = minimal_document()

    jsonschema.Draft202012Validator(OPENAPI_31).validate(document)
    schemas = document["components"]["schemas"]
    for schema in schemas.values():
        jsonschema.Draft202012Validator.check_schema(schema)
    assert refs(document) <= {f"#/components/schemas/{name}" for name in schemas}


def test_every_object_in_every_component_is_closed() -> None:
    def open_objects(node: Any, where: str) -> list[str]:
        if isinstance(node, list):
            return [hit for i, item in enumerate(node) for hit in open_objects(item, where)]
        if not isinstance(node, dict):
            return []
        properties = node.get("properties", {})
        is_object = node.get("type") == "object" or properties
        own = [where] if is_object and node.get("additionalProperties") is not False else []
        inner = {key: value for key, value in node.items() if key != "properties"}
        return (
            own
            + [hit for name, sub in properties.items() for hit in open_objects(sub, name)]
            + [hit for value in inner.values() for hit in open_objects(value, where)]
        )

    assert [
        (name, where)
        for name, schema in openapi.components().items()
        for where in open_objects(schema, name)
    ] == []


# --- what the compiled schemas describe -------------------------------------------------------


def inlined(node: Any, schemas: dict[str, Any]) -> Any:
    """`node` with every `$ref` replaced by the component, as the compiled schemas inline."""
    if isinstance(node, list):
        return [inlined(item, schemas) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return inlined(schemas[node["$ref"].removeprefix(openapi.REF)], schemas)
    return {key: inlined(value, schemas) for key, value in node.items()}


def without_annotations(node: Any) -> Any:
    """What validates: titles and descriptions left out (a `$ref`'s own and its target's
    differ), not the properties of those names."""
    if isinstance(node, list):
        return [without_annotations(item) for item in node]
    if not isinstance(node, dict):
        return node
    return {
        key: (
            {name: without_annotations(sub) for name, sub in value.items()}
            if key == "properties"
            else without_annotations(value)
        )
        for key, value in node.items()
        if key not in ("title", "description")
    }


@pytest.mark.parametrize(("compiled", "name"), COMPILED.items())
def test_the_compiled_schema_with_the_profile_is_what_its_component_describes(
    compiled: str, name: str
) -> None:
    schemas = openapi.components()
    # The profile's patch refers to its new objects, which the compiled schemas cannot inline.
    official = openapi.as_component(
        json.loads((hsds.HSDS / "compiled" / f"{compiled}.json").read_text())
    )

    assert without_annotations(inlined(schemas[name], schemas)) == without_annotations(
        inlined(official, schemas)
    )


def test_a_service_nests_its_organisation_and_its_services_at_locations_only_once() -> None:
    schemas = openapi.components()
    service = schemas["HSDSService"]["properties"]
    at_location = schemas["HSDSServiceAtLocationWithService"]["properties"]

    assert "services" not in schemas["HSDSOrganization"]["properties"]
    assert service["organization"]["$ref"] == openapi.REF + "HSDSOrganization"
    assert service["service_at_locations"]["items"] == {
        "$ref": openapi.REF + "HSDSServiceAtLocation"
    }
    assert "service_at_locations" not in at_location["service"]["properties"]
    assert "capacities" in at_location["service"]["properties"]


# --- as strict as the HSDS checker ------------------------------------------------------------


def test_every_official_json_example_has_a_component() -> None:
    names = {path.stem for path in EXAMPLES.glob("*.json")} - {"base", "tabular"}
    assert names == set(EXAMPLE_COMPONENTS) == set(EXAMPLE_KINDS)


@pytest.mark.parametrize(("name", "component"), EXAMPLE_COMPONENTS.items())
def test_the_official_example_validates_against_its_component_as_the_hsds_checker_says(
    name: str, component: str
) -> None:
    assert errors(component, example(name)) == []
    assert judged(EXAMPLE_KINDS[name], example(name)) == []


def test_the_tabular_examples_rows_have_the_same_verdicts_as_from_the_hsds_checker() -> None:
    # Only its two upstream defects fail, alike (see tests/test_hsds_conformance.py).
    schema_files = {**hsds.SINGLE, **hsds.ENTITIES}
    component_of = {"organization": "HSDSOrganizationWithServices"} | {
        "service_at_location": "HSDSServiceAtLocationWithService"
    }
    tables = {
        json.loads((hsds.HSDS / file).read_text())["path"]: kind
        for kind, file in schema_files.items()
    }
    ours: dict[str, list[str]] = {}
    theirs: dict[str, list[str]] = {}
    for table, rows in example("tabular").items():
        kind = tables[table]
        for row in rows:
            if found := errors(component_of.get(kind, openapi.component_name(kind)), row):
                ours[table] = found
            if found := judged(kind, row):
                theirs[table] = found

    assert (
        ours
        == theirs
        == {
            "locations.csv": ["$.external_identifier: 10092008082 is not of type 'string'"],
            "organization_identifiers.csv": ["$.identifier: 1234567 is not of type 'string'"],
        }
    )


UNKNOWN_PROPERTY = [
    ("HSDSService", "service_full", ()),
    ("HSDSService", "service_full", ("service_at_locations", 0, "location", "addresses", 0)),
    ("HSDSService", "service_full", ("attributes", 0, "taxonomy_term", "taxonomy_detail")),
    ("HSDSService", "service_full", ("organization",)),
    ("HSDSService", "service_with_capacity", ("capacities", 0)),
    ("HSDSService", "service_with_capacity", ("capacities", 0, "unit")),
    ("HSDSOrganizationWithServices", "organization_full", ("services", 0, "schedules", 0)),
    ("HSDSServiceAtLocationWithService", "service_at_location_full", ("service", "program")),
    ("HSDSLocation", "location", ("accessibility", 0)),
    ("HSDSServicePage", "service_list", ()),
    ("HSDSServicePage", "service_list", ("contents", 0, "organization")),
    ("HSDSServiceAtLocationPage", "service_at_location_list", ("contents", 0, "location")),
    ("HSDSTaxonomyTermPage", "taxonomy_term_list", ("contents", 0, "taxonomy_detail")),
]


@pytest.mark.parametrize(("component", "source", "path"), UNKNOWN_PROPERTY)
def test_an_unknown_property_anywhere_is_refused_with_its_path(
    component: str, source: str, path: tuple[str | int, ...]
) -> None:
    document = service_with_capacity() if source == "service_with_capacity" else example(source)
    at(document, path)["brobygger_note"] = "x"

    assert errors(component, document) == [
        f"{json_path(path)}: Additional properties are not allowed "
        "('brobygger_note' was unexpected)"
    ]


def test_a_service_at_location_nested_in_a_service_does_not_nest_the_service_again() -> None:
    document = example("service_full")
    document["service_at_locations"][0]["service"] = {
        "id": document["id"],
        "name": document["name"],
        "status": document["status"],
    }

    assert errors("HSDSService", document) == [
        "$.service_at_locations[0]: Additional properties are not allowed "
        "('service' was unexpected)"
    ]


@pytest.mark.parametrize(
    ("field", "value", "format_name"),
    [
        ("id", "ac148810-d857-441c-9679", "uuid"),
        ("url", "example.com/counselling", "uri"),
        ("email", "email.example.com", "email"),
        ("last_modified", "2023-03-15 10:30:45", "date-time"),
    ],
)
def test_a_wrong_format_is_refused_as_the_hsds_checker_refuses_it(
    field: str, value: str, format_name: str
) -> None:
    document = example("service_full") | {field: value}
    expected = [f"$.{field}: {value!r} is not a {format_name!r}"]

    assert errors("HSDSService", document) == judged("service", document) == expected


def test_a_page_needs_every_field_of_the_hsds_page() -> None:
    page = example("taxonomy_list")
    del page["empty"]
    del page["contents"]

    assert errors("HSDSTaxonomyPage", page) == [
        "$: 'empty' is a required property",
        "$: 'contents' is a required property",
    ]


def test_a_page_holds_list_items_or_fully_nested_records() -> None:
    page = example("service_list")
    page["contents"].append(example("service_full"))
    page["contents"].append(
        {"id": page["contents"][0]["id"], "name": "Minimal", "status": "active"}
    )

    assert errors("HSDSServicePage", page) == []


# --- capacities, Brobygger's profile ----------------------------------------------------------


def test_a_service_with_a_capacity_validates_as_the_hsds_checker_says() -> None:
    document = service_with_capacity()

    assert errors("HSDSService", document) == judged("service", document) == []


@pytest.mark.parametrize("field", ["id", "unit", "available", "updated"])
def test_a_capacity_without_a_field_the_profile_requires_is_refused(field: str) -> None:
    document = service_with_capacity()
    del document["capacities"][0][field]
    expected = [f"$.capacities[0]: {field!r} is a required property"]

    assert errors("HSDSService", document) == judged("service", document) == expected


def test_a_capacitys_unit_needs_a_name_and_its_update_a_date_time() -> None:
    document = service_with_capacity()
    del document["capacities"][0]["unit"]["name"]
    document["capacities"][0]["updated"] = "yesterday"
    expected = [
        "$.capacities[0].unit: 'name' is a required property",
        "$.capacities[0].updated: 'yesterday' is not a 'date-time'",
    ]

    assert errors("HSDSService", document) == judged("service", document) == expected


def test_capacities_belong_to_services_only() -> None:
    location = example("location") | {"capacities": [CAPACITY]}

    assert errors("HSDSLocation", location) == [
        "$: Additional properties are not allowed ('capacities' was unexpected)"
    ]


# --- write bodies -----------------------------------------------------------------------------


def nested_form(component: str) -> Any:
    """The official example of a write component's record, as the directory answers it."""
    examples: dict[str, Callable[[], Any]] = {
        "HSDSServiceWrite": service_with_capacity,
        "HSDSOrganizationWrite": partial(example, "organization_full"),
        "HSDSLocationWrite": partial(example, "location"),
    }
    return examples[component]()


def written(component: str) -> Any:
    """That example as a writer sends it."""
    in_organization = component == "HSDSOrganizationWrite"
    return writable(
        nested_form(component),
        NOT_WRITTEN | NOT_WRITTEN_IN_AN_ORGANIZATION if in_organization else NOT_WRITTEN,
    )


@pytest.mark.parametrize(
    "component", ["HSDSServiceWrite", "HSDSOrganizationWrite", "HSDSLocationWrite"]
)
def test_the_official_example_as_a_writer_sends_it_validates_without_its_id(
    component: str,
) -> None:
    document = written(component)
    del document["id"]

    assert errors(component, document) == []


def test_a_record_nested_in_a_write_body_needs_its_id() -> None:
    service = written("HSDSServiceWrite")
    del service["phones"][0]["id"]

    assert errors("HSDSServiceWrite", service) == ["$.phones[0]: 'id' is a required property"]


WRITTEN_BY_THE_DIRECTORY = [
    ("HSDSServiceWrite", (), "metadata"),
    ("HSDSServiceWrite", ("phones", 0), "metadata"),
    ("HSDSServiceWrite", ("service_at_locations", 0, "schedules", 0), "metadata"),
    ("HSDSServiceWrite", (), "organization"),
    ("HSDSServiceWrite", (), "program"),
    ("HSDSServiceWrite", ("service_at_locations", 0), "location"),
    ("HSDSServiceWrite", ("service_at_locations", 0), "service"),
    ("HSDSServiceWrite", ("attributes", 0), "taxonomy_term"),
    ("HSDSServiceWrite", ("capacities", 0), "unit"),
    ("HSDSOrganizationWrite", (), "metadata"),
    ("HSDSOrganizationWrite", (), "services"),
    ("HSDSOrganizationWrite", (), "locations"),
    ("HSDSOrganizationWrite", (), "programs"),
    ("HSDSLocationWrite", (), "metadata"),
    ("HSDSLocationWrite", ("addresses", 0), "metadata"),
]


@pytest.mark.parametrize(("component", "path", "field"), WRITTEN_BY_THE_DIRECTORY)
def test_a_write_body_refuses_what_the_directory_writes_or_what_is_changed_on_its_own(
    component: str, path: tuple[str | int, ...], field: str
) -> None:
    document = written(component)
    # The value as the nested form has it (any object for one the example lacks).
    at(document, path)[field] = at(nested_form(component), path).get(field, {"id": CAPACITY["id"]})

    assert errors(component, document) == [
        f"{json_path(path)}: Additional properties are not allowed ('{field}' was unexpected)"
    ]


def test_a_capacity_in_a_write_body_names_its_unit_by_unit_id() -> None:
    service = written("HSDSServiceWrite")
    del service["capacities"][0]["unit_id"]

    assert errors("HSDSServiceWrite", service) == [
        "$.capacities[0]: 'unit_id' is a required property"
    ]


# --- helpers for the routes -------------------------------------------------------------------


def test_responses_for_the_service_page_give_json_pages_and_ndjson_items() -> None:
    responses = openapi.responses_for("HSDSServicePage", "A page of services.", ndjson=True)

    assert responses == {
        200: {
            "description": "A page of services.",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/HSDSServicePage"}},
                "application/x-ndjson": {
                    "schema": {
                        "anyOf": [
                            {"$ref": "#/components/schemas/HSDSServiceListItem"},
                            {"$ref": "#/components/schemas/HSDSService"},
                        ]
                    }
                },
            },
        }
    }


def test_only_a_page_streams_as_ndjson_and_only_a_component_is_referred_to() -> None:
    with pytest.raises(ValueError, match="HSDSService is not a page"):
        openapi.responses_for("HSDSService", "A service.", ndjson=True)
    with pytest.raises(ValueError, match="no HSDS component 'HSDSServices'"):
        openapi.schema_ref("HSDSServices")


def test_install_adds_every_component_and_keeps_the_documents_own() -> None:
    document: dict[str, Any] = {"components": {"schemas": {"Problem": {"type": "object"}}}}

    openapi.install(document)
    document["components"]["schemas"]["HSDSService"]["properties"].clear()

    assert set(document["components"]["schemas"]) == {"Problem", *openapi.components()}
    assert openapi.components()["HSDSService"]["properties"], "a later install gets them whole"
