"""HSDS 3.0's entity graph, with Brobygger's profile, read once from the schema files.

Two forms hold the same records. The tabular form has one row per record, linked by foreign keys
(`phone.service_id`). The nested form puts a record's children inside it (`service.phones`),
and copies of the records it refers to (`service.organization`). Every such nested property is a
`Link`, taken from the entity schemas (and the compiled ones' two extras,
`organization.services` and `service_at_location.service`). The key comes from the names: a
phone in `service.phones` says `phone.service_id`, and `service.organization` is named by
`service.organization_id`. Attributes and metadata can belong to any entity. They say
`link_id`/`link_entity` and `resource_id`/`resource_type` instead: the schemas say so only in
prose, so `_POLYMORPHIC` writes it down.

Nesting and ownership. A record nests under every parent that lists its entity and that one of
its keys names. A phone with `service_id` and `location_id` appears in the service's `phones`
and in the location's `phones`, as the official examples show (one phone in five places). It
has one owner: the parent deepest in HSDS's organisation > service > service_at_location >
contact chain (`depth`), or the earliest key in the schema's field order if two parents are
equally deep. That parent answers "whose is this?" (permissions, which document changed).
Attributes and metadata nest by `link_id`/`resource_id` alone. Their `link_entity` and
`resource_type` are filled in from the place when absent and otherwise kept as given: the
official examples put other words there (`"link_entity"`, `"location"` on a service's metadata).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import contracts

HSDS = Path(contracts.__file__).parent / "standards" / "hsds-3.0"
PROFILE = Path(contracts.__file__).parent / "hsds" / "profile"

Schema = dict[str, Any]

# The nested forms (what each API answer nests) by the file that describes them.
SHAPES = {
    "service": "compiled/service.json",
    "organization": "compiled/organization.json",
    "service_at_location": "compiled/service_at_location.json",
    "location": "location.json",
    "taxonomy": "taxonomy.json",
    "taxonomy_term": "taxonomy_term.json",
    "service_list": "compiled/service_list.json",
    "organization_list": "compiled/organization_list.json",
    "service_at_location_list": "compiled/service_at_location_list.json",
}
# Children that can belong to any entity: (key naming the parent, field naming its entity).
_POLYMORPHIC = {
    "attribute": ("link_id", "link_entity"),
    "metadata": ("resource_id", "resource_type"),
}


@dataclass(frozen=True)
class Link:
    """One nested property of a parent entity: an array of children or one referred record."""

    name: str
    """The parent's property: `phones`, `organization`."""
    entity: str
    """What it holds: `phone`, `organization`."""
    many: bool
    """An array, whose items' `key` names the parent; else one object, named by the parent's
    `key`."""
    key: str
    tag: str | None = None
    """Of a polymorphic child: its field naming the parent's entity (`link_entity`)."""


@dataclass(frozen=True)
class Entity:
    name: str
    table: str
    """Its file in the tabular form: `phones.csv`."""
    fields: tuple[str, ...]
    """Its own (flat) properties, in the schema's order: what a `Record` of it holds."""
    links: tuple[Link, ...]
    foreign_keys: Mapping[str, str]
    """Field -> entity it names: the `<entity>_id` fields, as the official datapackage.json
    declares them. `parent_organization_id`, `parent_id` and the polymorphic keys are not
    among them: the standard declares none of them (its examples leave some dangling)."""
    schema: Schema
    """The entity schema with the profile applied."""

    def link(self, name: str) -> Link | None:
        return next((link for link in self.links if link.name == name), None)


@dataclass(frozen=True)
class Shape:
    """What one nested form holds: a record of `entity`, and each link with its own shape."""

    entity: str
    links: tuple[tuple[Link, Shape], ...]


def _read(path: Path) -> Schema:
    result: Schema = json.loads(path.read_text())
    return result


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON Merge Patch, the form of HSDS profiles."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


def _schemas() -> dict[str, Schema]:
    schemas = {
        path.stem: _read(path) for path in sorted(HSDS.glob("*.json")) if path.stem != "openapi"
    }
    for path in sorted(PROFILE.glob("*.json")):
        patch = _read(path)
        schemas[path.stem] = (
            _merge_patch(schemas[path.stem], patch) if path.stem in schemas else patch
        )
    return schemas


def _target(prop: Schema) -> tuple[str, bool] | None:
    """The entity a property nests and whether it is an array, or None for a flat property."""
    many = prop.get("type") == "array"
    node = prop.get("items", {}) if many else prop
    if "$ref" in node:
        return str(node["$ref"]).removesuffix(".json"), many
    if node.get("type") == "object" and "name" in node:  # inlined by the compiled schemas
        return str(node["name"]), many
    return None


def _links(
    parent: str, properties: Mapping[str, Schema], schemas: Mapping[str, Schema]
) -> list[Link]:
    links = []
    for name, prop in properties.items():
        if (target := _target(prop)) is None:
            continue
        entity, many = target
        if not many:
            key, tag = f"{entity}_id", None
            holder = parent
        elif entity in _POLYMORPHIC:
            (key, tag), holder = _POLYMORPHIC[entity], entity
        else:
            key, tag, holder = f"{parent}_id", None, entity
        if key not in schemas[holder]["properties"]:
            raise ValueError(f"HSDS schemas: {parent}.{name} has no key {holder}.{key}")
        links.append(Link(name, entity, many, key, tag))
    return links


def _load() -> dict[str, Entity]:
    schemas = _schemas()
    entities = {}
    for name, schema in schemas.items():
        properties: dict[str, Schema] = schema["properties"]
        links = _links(name, properties, schemas)
        # The compiled schemas nest two things no entity schema does.
        compiled = HSDS / "compiled" / f"{name}.json"
        if compiled.exists():
            extra = {
                key: prop
                for key, prop in _read(compiled)["properties"].items()
                if key not in properties
            }
            links += _links(name, extra, schemas)
        nested = {link.name for link in links}
        fields = tuple(field for field in properties if field not in nested)
        foreign_keys = {
            field: field[: -len("_id")]
            for field in fields
            if field.endswith("_id") and field[: -len("_id")] in schemas
        }
        entities[name] = Entity(name, schema["path"], fields, tuple(links), foreign_keys, schema)
    return entities


ENTITIES: Mapping[str, Entity] = _load()


@cache
def depth(entity: str) -> int:
    """How deep `entity` sits under the tabular form's roots (organisation 0, service 1…),
    counting only arrays of children (a referred record is not a parent)."""
    parents = [
        parent.name
        for parent in ENTITIES.values()
        if parent.name != entity
        and any(link.many and link.entity == entity for link in parent.links)
    ]
    return max((depth(parent) + 1 for parent in parents), default=0)


def owner(entity: str, fields: Mapping[str, Any]) -> tuple[str, str] | None:
    """The one parent a record of `entity` with these fields belongs to, as (entity, id); None
    for a root (organisation, taxonomy…) or a polymorphic child whose parent's entity is not
    one that lists it."""
    if entity in _POLYMORPHIC:
        key, tag = _POLYMORPHIC[entity]
        parent = fields.get(tag)
        lists_it = parent in ENTITIES and any(
            link.many and link.entity == entity for link in ENTITIES[str(parent)].links
        )
        return (str(parent), str(fields[key])) if lists_it and key in fields else None
    order = ENTITIES[entity].fields
    candidates = sorted(
        (-depth(parent.name), order.index(link.key), parent.name, str(fields[link.key]))
        for parent in ENTITIES.values()
        for link in parent.links
        if link.many and link.entity == entity and fields.get(link.key) is not None
    )
    return (candidates[0][2], candidates[0][3]) if candidates else None


@cache
def shape(kind: str, full_service: bool = True) -> Shape:
    """The nested form `kind` (a key of `SHAPES`), as its schema file nests it, profile applied.

    `full_service` keeps an organisation's `services` (as HSDS's API parameter). A service
    nested in an organisation does not nest that organisation again (the compiled schema would
    allow it; the official example does not, and it would repeat the whole organisation).
    """
    if kind not in SHAPES:
        raise ValueError(f"unknown HSDS document kind {kind!r}; one of {', '.join(SHAPES)}")
    patches = {
        name: _read(PROFILE / f"{name}.json")
        for name in ENTITIES
        if (PROFILE / f"{name}.json").exists()
    }
    root = _read(HSDS / SHAPES[kind])

    def build(node: Schema, entity: str, ancestors: frozenset[str]) -> Shape:
        if entity in patches and node.get("name") == entity:
            node = _merge_patch(node, patches[entity])
        links = []
        for name, prop in node.get("properties", {}).items():
            link = ENTITIES[entity].link(name)
            if link is None or link.entity in ancestors:
                continue
            if entity == "organization" and name == "services" and not full_service:
                continue
            inner = prop.get("items", prop) if link.many else prop
            if "$ref" in inner:
                inner = ENTITIES[link.entity].schema
            links.append((link, build(inner, link.entity, ancestors | {entity})))
        return Shape(entity, tuple(links))

    return build(root, str(root["name"]), frozenset())
