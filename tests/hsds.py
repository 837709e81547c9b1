"""Checks documents against Open Referral HSDS 3.0 (contracts/standards/hsds-3.0).

`validate(kind, document)` is the specification's own example check (its
`validate_examples_json_schema.sh`: compiletojsonschema
--set-additional-properties-false-everywhere, then check-jsonschema, which asserts formats), done
in-process on the official schemas: the
compiled ones for services, organisations and service-at-location, the entity schemas for the rest,
and the paginated wrappers of `openapi.json`. A profile (HSDS's Profiles mechanism: one JSON Merge
Patch per schema file, new objects as new files) may extend the schemas: `BROBYGGER_PROFILE` is
Brobygger's, from contracts/hsds/profile/.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import jsonschema
import referencing
from jsonschema.exceptions import ValidationError, best_match
from referencing.jsonschema import DRAFT202012

from tools.contracts import ROOT, STANDARDS

HSDS = STANDARDS / "hsds-3.0"
PROFILE_DIR = ROOT / "contracts" / "hsds" / "profile"
# Where openapi.json's $refs point; the local copies are registered under these addresses.
BASE = "https://raw.githubusercontent.com/openreferral/specification/3.0/schema/"

Schema = dict[str, Any]
Profile = Mapping[str, Mapping[str, Any]]

# One API answer each; the file under contracts/standards/hsds-3.0 that describes it.
SINGLE = {
    "service": "compiled/service.json",
    "organization": "compiled/organization.json",
    # openapi.json gives /service_at_locations/{id} compiled/service.json: an upstream slip; the
    # specification's own check validates its service_at_location example against this one.
    "service_at_location": "compiled/service_at_location.json",
    "location": "location.json",
    "taxonomy": "taxonomy.json",
    "taxonomy_term": "taxonomy_term.json",
}
# Paginated answers, taken from openapi.json by the path that returns them.
PAGES = {
    "service_list": "/services",
    "organization_list": "/organizations",
    "service_at_location_list": "/service_at_locations",
    "taxonomy_list": "/taxonomies",
    "taxonomy_term_list": "/taxonomy_terms",
}
# Any other object by its schema file (`phone`, `schedule`…), e.g. one row of the tabular form.
ENTITIES = {
    path.stem: path.name
    for path in sorted(HSDS.glob("*.json"))
    if path.name != "openapi.json" and path.stem not in SINGLE
}
KINDS = (*SINGLE, *ENTITIES, *PAGES, "api_root")

_STRUCTURE_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_STRUCTURE_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_STRUCTURE_ONE = ("items", "additionalProperties", "not", "if", "then", "else", "contains")


def load_profile(directory: Path) -> dict[str, dict[str, Any]]:
    """A profile's files by schema name (`service` for service.json)."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))}


BROBYGGER_PROFILE = load_profile(PROFILE_DIR)


def validate(
    kind: str, document: object, *, strict: bool = True, extensions: Profile | None = None
) -> list[str]:
    """Every way `document` fails HSDS 3.0 as `kind`, one readable line each (JSON path: message).

    `strict` forbids properties the schemas do not name, at every level, and asserts formats
    (uuid, uri, email, date, date-time, time); without it the schemas apply as published, formats
    as annotations only. `extensions` is a profile (see `load_profile`) applied to the schemas.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown HSDS kind {kind!r}; one of {', '.join(KINDS)}")
    profile = json.dumps(extensions or {}, sort_keys=True)
    validator = _validator(kind, strict, profile)
    errors = sorted(validator.iter_errors(document), key=lambda error: list(error.path))
    return [_describe(error) for error in errors]


def _describe(error: ValidationError) -> str:
    # anyOf/oneOf failures say only "is not valid under any of the given schemas"; name the cause.
    while error.context:
        error = best_match(error.context)
    return f"{error.json_path}: {error.message}"


@cache
def _validator(kind: str, strict: bool, profile_json: str) -> jsonschema.Draft202012Validator:
    registry = _registry(strict, profile_json)
    if kind in SINGLE or kind in ENTITIES:
        schema: Schema = {"$ref": BASE + {**SINGLE, **ENTITIES}[kind]}
    else:
        schema = _transform(_from_openapi(kind), strict, json.loads(profile_json))
    checker = FORMATS if strict else None
    return jsonschema.Draft202012Validator(schema, registry=registry, format_checker=checker)


@cache
def _registry(strict: bool, profile_json: str) -> referencing.Registry[Any]:
    profile: dict[str, Any] = json.loads(profile_json)
    resources: dict[str, Schema] = {}
    for path in sorted(HSDS.glob("*.json")) + sorted(HSDS.glob("compiled/*.json")):
        name = path.relative_to(HSDS).as_posix()
        if name != "openapi.json":
            resources[name] = json.loads(path.read_text())
    for name, file in profile.items():
        if f"{name}.json" not in resources:  # a new object of the profile's own
            resources[f"{name}.json"] = copy.deepcopy(dict(file))
    registry: referencing.Registry[Any] = referencing.Registry()
    for name, schema in resources.items():
        # Each keeps its own address so that relative $refs ("address.json") resolve as upstream.
        schema["$id"] = BASE + name
        resource = DRAFT202012.create_resource(_transform(schema, strict, profile))
        registry = registry.with_resource(BASE + name, resource)
    return registry.crawl()


def _from_openapi(kind: str) -> Schema:
    """A paginated answer's schema: openapi.json's `allOf: [Page]` folded into one object.

    Folded, because `additionalProperties: false` on both halves of an allOf would let no page
    through (each half forbids the other's properties).
    """
    openapi = json.loads((HSDS / "openapi.json").read_text())
    if kind == "api_root":
        path, page = "/", None
    else:
        path, page = PAGES[kind], openapi["components"]["schemas"]["Page"]
    schema: Schema = openapi["paths"][path]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]
    if page is not None:
        assert schema["allOf"] == [{"$ref": "#/components/schemas/Page"}], schema
        schema = {"type": "object", "properties": {**page["properties"], **schema["properties"]}}
    return schema


def _transform(schema: Schema, strict: bool, profile: Mapping[str, Any]) -> Schema:
    """A copy of `schema` with the profile's patches merged in and, if strict, closed objects."""
    schema = copy.deepcopy(schema)
    # Patches for HSDS's own objects; the profile's new objects are registered as they are.
    patches = {
        name: _absolute_refs(patch)
        for name, patch in profile.items()
        if (HSDS / f"{name}.json").exists()
    }

    def walk(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        # An entity schema, and its inlined copies in the compiled ones, has a table `path`.
        if "path" in node and node.get("type") == "object" and node.get("name") in patches:
            node = _merge_patch(node, patches[node["name"]])
        for key in _STRUCTURE_MAPS:
            if isinstance(node.get(key), dict):
                node[key] = {name: walk(sub) for name, sub in node[key].items()}
        for key in _STRUCTURE_LISTS:
            if isinstance(node.get(key), list):
                node[key] = [walk(sub) for sub in node[key]]
        for key in _STRUCTURE_ONE:
            if key in node:
                node[key] = walk(node[key])
        if strict and (node.get("type") == "object" or "properties" in node):
            node.setdefault("additionalProperties", False)
        return node

    result: Schema = walk(schema)
    return result


def _absolute_refs(node: Any) -> Any:
    """A profile's relative $refs are relative to the HSDS schema folder, wherever merged."""
    if isinstance(node, dict):
        return {
            key: urljoin(BASE, value) if key == "$ref" else _absolute_refs(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_absolute_refs(item) for item in node]
    return node


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON Merge Patch, as HSDS profiles specify."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


# jsonschema checks uri, date-time and time only with optional packages this project does not
# install (it would skip them silently), so those three are checked here, to RFC 3986 / 3339.
_URI = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]*:(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*"
)
_TIME = re.compile(
    r"(?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d)(?:\.\d+)?(?:[Zz]|[+-](?P<oh>\d\d):(?P<om>\d\d))"
)


def _is_uri(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    try:
        urlsplit(instance)  # rejects malformed IPv6 hosts the pattern lets through
    except ValueError:
        return False
    return _URI.fullmatch(instance) is not None


def _is_time(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    match = _TIME.fullmatch(instance)
    if match is None:
        return False
    hour, minute, second = int(match["h"]), int(match["m"]), int(match["s"])
    offset_ok = match["oh"] is None or (int(match["oh"]) <= 23 and int(match["om"]) <= 59)
    return hour <= 23 and minute <= 59 and second <= 60 and offset_ok  # 60: a leap second


def _is_date_time(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    day, separator, time = instance.partition("T") if "T" in instance else instance.partition("t")
    if not separator or re.fullmatch(r"\d{4}-\d\d-\d\d", day) is None:
        return False
    try:
        date.fromisoformat(day)
    except ValueError:
        return False
    return _is_time(time)


FORMATS = jsonschema.FormatChecker(["uuid", "email", "date"])
FORMATS.checks("uri")(_is_uri)
FORMATS.checks("time")(_is_time)
FORMATS.checks("date-time")(_is_date_time)
