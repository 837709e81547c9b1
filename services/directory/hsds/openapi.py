"""HSDS 3.0's schemas, with Brobygger's profile, as components of directory's OpenAPI document.

Built once from the official files: the entities from compiled/service_with_definitions.json
(its root and `definitions`, each `HSDS<Entity>`) and the profile's new objects; the list forms
from compiled/*_list.json; the pages from openapi.json's `Page`. All go through `as_component`,
which makes them as strict as tests/hsds.py: every object closed, formats kept.

Two answers nest one thing more than the entity they are named after, as the compiled schemas
say: an organisation its `services` (`HSDSOrganizationWithServices`, what `/organizations/{id}`
answers), a service at location its `service`, without that service's own
`service_at_locations` (`HSDSServiceAtLocationWithService`, `/service_at_locations/{id}`).
Nested in a service, `HSDSOrganization` and `HSDSServiceAtLocation` nest neither.

The write bodies (`HSDS<Entity>Write`) leave out what a writer may not send: the change log
(`metadata`, written by the directory) everywhere, and the records of their own that a nested
form only shows (`READ_ONLY`). A required record left out is required by its key instead: a
capacity names its unit by `unit_id`, as the profile's tabular form does.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError

from directory.hsds.entities import HSDS, PROFILE, _merge_patch
from directory.hsds.records import Rejection
from directory.hsds.validation import FORMATS

Schema = dict[str, Any]

NDJSON = "application/x-ndjson"
REF = "#/components/schemas/"

# HSDS's keywords for its tabular form (CSV with datapackage.json), which JSON Schema does not
# know; and `example`, since several contradict their own type ("12" for a number) and tools
# send examples as request bodies.
_TABULAR = frozenset(
    {"name", "path", "datapackage_metadata", "datapackage_type", "constraints", "core"}
    | {"tabular_required", "example"}
)

READ_ONLY = {
    "HSDSOrganization": ("locations", "programs"),
    "HSDSService": ("organization", "program"),
    "HSDSServiceAtLocation": ("location",),
    "HSDSAttribute": ("taxonomy_term",),
    "HSDSServiceCapacity": ("unit",),
}
"""What a nested form shows but a writer does not send inside it: records changed on their
own, or the directory's own (taxonomy terms, units)."""

# The paginated answers: what their `contents` hold (a list item or, `full=true`, the nested
# form).
_PAGES = {
    "HSDSServicePage": ("HSDSServiceListItem", "HSDSService"),
    "HSDSOrganizationPage": ("HSDSOrganizationListItem", "HSDSOrganizationWithServices"),
    "HSDSServiceAtLocationPage": (
        "HSDSServiceAtLocationListItem",
        "HSDSServiceAtLocationWithService",
    ),
    "HSDSTaxonomyPage": ("HSDSTaxonomy",),
    "HSDSTaxonomyTermPage": ("HSDSTaxonomyTerm",),
}


def component_name(entity: str) -> str:
    """`service_at_location` -> `HSDSServiceAtLocation`."""
    return "HSDS" + "".join(word.capitalize() for word in entity.split("_"))


def schema_ref(name: str) -> Schema:
    if name not in _components():
        raise ValueError(f"no HSDS component {name!r}")
    return {"$ref": REF + name}


def components() -> dict[str, Schema]:
    """Every HSDS component by name (a copy: the caller may change it)."""
    return copy.deepcopy(_components())


def install(document: dict[str, Any]) -> None:
    """Add the components to an OpenAPI document."""
    document.setdefault("components", {}).setdefault("schemas", {}).update(components())


def responses_for(
    name: str, description: str, *, ndjson: bool = False
) -> dict[int | str, dict[str, Any]]:
    """A route's `responses=` for a 200 answer of component `name`; `ndjson` (a page only):
    also the `format=ndjson` answer, one item of the page's `contents` a line."""
    content: dict[str, Any] = {"application/json": {"schema": schema_ref(name)}}
    if ndjson:
        if name not in _PAGES:
            raise ValueError(f"{name} is not a page: only a page's items stream as ndjson")
        content[NDJSON] = {"schema": _components()[name]["properties"]["contents"]["items"]}
    return {200: {"description": description, "content": copy.deepcopy(content)}}


def check_write(entity: str, document: Any) -> list[Rejection]:
    """What keeps `document` from being an `entity` as a writer sends it
    (`HSDS<Entity>Write`), each at its JSONPath; never a value."""
    validator = _write_validator(component_name(entity) + "Write")
    return [
        Rejection(
            "body" + error.json_path.removeprefix("$") if error.json_path != "$" else "body",
            None,
            _reason(error),
        )
        for error in sorted(validator.iter_errors(document), key=lambda e: e.json_path)
    ]


@cache
def _write_validator(name: str) -> jsonschema.Draft202012Validator:
    root = {"$ref": REF + name, "components": {"schemas": _components()}}
    return jsonschema.Draft202012Validator(root, format_checker=FORMATS)


def _reason(error: ValidationError) -> str:
    # The validator's own words quote the value ("'x' is not a 'uuid'"): said without it.
    if error.validator == "additionalProperties":
        return "has a property a writer may not send: " + ", ".join(
            sorted(set(error.instance) - set(error.schema.get("properties", {})))
        )
    if error.validator == "required":
        return f"lacks a required property ({error.message.split(' ')[0]})"
    return f"breaks the rule `{error.validator}`" + (
        f" ({error.validator_value})" if error.validator in ("format", "type", "enum") else ""
    )


def as_component(node: Any) -> Any:
    """An HSDS schema (or any part of one) as a component: the profile's patch merged into each
    entity it changes (and the copies of it the compiled schemas inline), HSDS's tabular
    keywords left out, `$ref`s to components, and every object closed."""
    if isinstance(node, list):
        return [as_component(item) for item in node]
    if not isinstance(node, dict):
        return node
    # As tests/hsds.py finds an entity: the compiled schemas inline them whole, `path` and all.
    if "path" in node and node.get("type") == "object" and node.get("name") in _patches():
        node = _merge_patch(node, _patches()[node["name"]])
    result: Schema = {}
    for key, value in node.items():
        if key in _TABULAR:
            continue
        if key == "properties":
            result[key] = {name: as_component(sub) for name, sub in value.items()}
        elif key == "$ref":
            # `#/definitions/phone` in the compiled file, `unit.json` in the profile.
            result[key] = REF + component_name(value.rsplit("/", 1)[-1].removesuffix(".json"))
        else:
            result[key] = as_component(value)
    if result.get("type") == "object" or "properties" in result:
        result.setdefault("additionalProperties", False)
    return result


@cache
def _components() -> dict[str, Schema]:
    compiled = _read(HSDS / "compiled" / "service_with_definitions.json")
    definitions: dict[str, Schema] = compiled.pop("definitions")
    profile_objects = {
        name: schema for name, schema in _profile().items() if name not in _patches()
    }
    schemas = {
        component_name(entity): as_component(schema)
        for entity, schema in {"service": compiled, **definitions, **profile_objects}.items()
    }
    schemas["HSDSOrganizationWithServices"] = _with(
        schemas["HSDSOrganization"],
        "services",
        {"type": "array", "items": {"$ref": REF + "HSDSService"}},
        "An organisation with its services, fully nested (`services` only with `full_service`, "
        "or `full` in a list).",
    )
    service = schemas["HSDSService"]
    schemas["HSDSServiceAtLocationWithService"] = _with(
        schemas["HSDSServiceAtLocation"],
        "service",
        {**service, "properties": _without(service["properties"], {"service_at_locations"})},
        "A service at a location with its service, fully nested.",
    )
    for entity in ("service", "organization", "service_at_location"):
        list_item = as_component(_read(HSDS / "compiled" / f"{entity}_list.json"))
        schemas[component_name(entity) + "ListItem"] = list_item
    schemas.update({name: _page(items) for name, items in _PAGES.items()})
    for entity in ("service", "location", "organization"):
        root = _write(component_name(entity), schemas)
        schemas[component_name(entity) + "Patch"] = _patch(root, entity)
        root["required"].remove("id")
        root["description"] = (
            f"A {entity} as a writer sends it: its nested form without the change log "
            "(`metadata`, everywhere) and without the records of their own that it only shows. "
            "`id` may be left out: POST assigns one, PUT takes the path's (and refuses a body "
            "whose `id` differs from it)."
        )
    return schemas


def _write(name: str, schemas: dict[str, Schema]) -> Schema:
    """Component `name`'s write form, `<name>Write`, made into `schemas` with the write forms
    of what it nests."""
    if name + "Write" in schemas:
        return schemas[name + "Write"]
    schema = copy.deepcopy(schemas[name])
    dropped = {"metadata", *READ_ONLY.get(name, ())}
    schema["properties"] = _without(schema["properties"], dropped)
    schema["required"] = [f"{key}_id" if key in dropped else key for key in schema["required"]]
    schemas[name + "Write"] = schema
    for prop in schema["properties"].values():
        target = prop.get("items", prop)
        if "$ref" in target:
            _write(target["$ref"].removeprefix(REF), schemas)
            target["$ref"] += "Write"
    return schema


def _patch(write: Schema, entity: str) -> Schema:
    """A JSON Merge Patch (RFC 7396) of a write form: any of its members, each replacing the
    current one whole (an array too), or null to remove it; `id` only as it is."""
    return {
        "type": "object",
        "description": f"A JSON Merge Patch of the {entity}'s write form: the members given "
        "replace the current ones whole, null removes one, the rest stays as it is.",
        "properties": {
            name: prop if name == "id" else {"anyOf": [prop, {"type": "null"}]}
            for name, prop in write["properties"].items()
        },
        "additionalProperties": False,
    }


def _page(items: tuple[str, ...]) -> Schema:
    page: Schema = as_component(_read(HSDS / "openapi.json")["components"]["schemas"]["Page"])
    refs = [{"$ref": REF + name} for name in items]
    page["properties"]["contents"] = {
        "type": "array",
        "items": refs[0] if len(refs) == 1 else {"anyOf": refs},
    }
    # HSDS requires none of these; directory always sends them all.
    page["required"] = list(page["properties"])
    return page


def _with(schema: Schema, name: str, prop: Schema, description: str) -> Schema:
    return {
        **schema,
        "description": description,
        "properties": {**schema["properties"], name: prop},
    }


def _without(properties: Schema, names: set[str]) -> Schema:
    return {key: value for key, value in properties.items() if key not in names}


@cache
def _profile() -> dict[str, Schema]:
    return {path.stem: _read(path) for path in sorted(PROFILE.glob("*.json"))}


@cache
def _patches() -> dict[str, Schema]:
    """The profile's patches of HSDS's own objects (the rest are new objects)."""
    return {name: patch for name, patch in _profile().items() if (HSDS / f"{name}.json").exists()}


def _read(path: Path) -> Schema:
    result: Schema = json.loads(path.read_text())
    return result
