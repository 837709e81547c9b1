"""Records checked against HSDS 3.0 (with Brobygger's profile), and their foreign keys.

As strict as the specification's own example check: no property the schema does not name, and
formats asserted (uuid, uri, email, date, date-time, time). A record holds only its own fields
(`entities.Entity.fields`), so it is checked against those: a `service_capacity` record needs
`unit_id` (tabular form), not the `unit` object the nested form requires.

Messages name the field and the rule, never the value, which may be personal data.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date
from functools import cache
from urllib.parse import urlsplit

import jsonschema
from jsonschema.exceptions import ValidationError

from directory.hsds.entities import ENTITIES
from directory.hsds.records import Record, Rejection

Known = Callable[[str, set[str]], set[str]]
"""Told an entity and ids, answers those of them that exist (in the store)."""

Problem = tuple[str | None, str]
"""A field (or None for the whole record) and what is wrong with it."""


def check(record: Record, *, tabular: bool = False) -> list[Problem]:
    """What is wrong with `record`, if anything. `tabular`: also require the keys HSDS requires
    only of the tabular form (`tabular_required`: `service.organization_id`…)."""
    if record.entity not in ENTITIES:
        return [(None, f"{record.entity} is not an HSDS table")]
    errors = _validator(record.entity, tabular).iter_errors(record.fields)
    problems = {problem for error in errors for problem in _problems(record.entity, error)}
    return sorted(problems | set(_profile_rules(record)), key=str)


PROFILE_RULES = (
    "A schedule's `opens_at` and `closes_at` are times of day: HH:MM or HH:MM:SS, with or "
    "without a UTC offset.",
    "A capacity's `available` is at most its `maximum`.",
)
"""What Brobygger's profile asks beyond the schemas (HSDS's text says times are HH:MM; its
schema lets any text through), stated in the OpenAPI document as rules."""

_CLOCK = re.compile(
    r"([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)?"
)


def _profile_rules(record: Record) -> list[Problem]:
    fields = record.fields
    if record.entity == "schedule":
        return [
            (name, "is not a time of day (HH:MM or HH:MM:SS)")
            for name in ("opens_at", "closes_at")
            if isinstance(fields.get(name), str) and not _CLOCK.fullmatch(fields[name])
        ]
    if record.entity == "service_capacity":
        available, maximum = fields.get("available"), fields.get("maximum")
        numbers = isinstance(available, int | float) and isinstance(maximum, int | float)
        if numbers and available > maximum:  # type: ignore[operator]
            return [("available", "is more than the maximum")]
    return []


def check_records(
    placed: Iterable[tuple[str, Record]], *, tabular: bool = False
) -> list[Rejection]:
    """`check` for each (where, record)."""
    return [
        Rejection(where, field, reason)
        for where, record in placed
        for field, reason in check(record, tabular=tabular)
    ]


def check_references(placed: Iterable[tuple[str, Record]], known: Known) -> list[Rejection]:
    """A rejection for each foreign key naming a record neither among these nor `known`.

    `known` is asked once per entity, only about ids the batch lacks.
    """
    placed = list(placed)
    batch: dict[str, set[str]] = defaultdict(set)
    for _, record in placed:
        batch[record.entity].add(str(record.fields.get("id")))  # no id: `check` says so
    missing: dict[str, set[str]] = defaultdict(set)
    for _, record in placed:
        for field, target in _foreign_keys(record):
            if (value := str(record.fields[field])) not in batch[target]:
                missing[target].add(value)
    present = {target: known(target, ids) for target, ids in missing.items()}
    return [
        Rejection(where, field, f"{record.entity}.{field} names {_a(target)} that is not there")
        for where, record in placed
        for field, target in _foreign_keys(record)
        if (value := str(record.fields[field])) not in batch[target]
        and value not in present.get(target, ())
    ]


def _foreign_keys(record: Record) -> list[tuple[str, str]]:
    entity = ENTITIES.get(record.entity)
    if entity is None:
        return []
    return [
        (field, target)
        for field, target in entity.foreign_keys.items()
        if record.fields.get(field) is not None
    ]


def _a(entity: str) -> str:
    return f"{'an' if entity[0] in 'aeio' else 'a'} {entity}"


@cache
def _validator(entity: str, tabular: bool) -> jsonschema.Draft202012Validator:
    spec = ENTITIES[entity]
    required = [name for name in spec.schema.get("required", []) if name in spec.fields]
    if tabular:
        required += [
            name for name in spec.schema.get("tabular_required", []) if name not in required
        ]
    schema = {
        "type": "object",
        "properties": {name: spec.schema["properties"][name] for name in spec.fields},
        "required": required,
        "additionalProperties": False,
    }
    return jsonschema.Draft202012Validator(schema, format_checker=FORMATS)


def _problems(entity: str, error: ValidationError) -> list[Problem]:
    field = str(error.path[0]) if error.path else None
    rule, expected = error.validator, error.validator_value
    if rule == "required":
        return [(name, "is required") for name in expected if name not in error.instance]
    if rule == "additionalProperties":
        return [
            (name, f"is not a field of {entity}")
            for name in error.instance
            if name not in ENTITIES[entity].fields
        ]
    if rule == "type":
        return [(field, f"must be of type {expected}")]
    if rule == "format":
        return [(field, f"must be a valid {expected}")]
    if rule == "enum":
        return [(field, f"must be one of {', '.join(map(str, expected))}")]
    return [(field, f"breaks the schema's {rule} rule")]


# jsonschema checks uri, date-time and time only with optional packages (skipping them silently
# without), so those three are checked here, to RFC 3986 and RFC 3339.
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
        urlsplit(instance)  # refuses malformed IPv6 hosts the pattern lets through
    except ValueError:
        return False
    return _URI.fullmatch(instance) is not None


def _is_time(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    match = _TIME.fullmatch(instance)
    if match is None:
        return False
    offset_ok = match["oh"] is None or (int(match["oh"]) <= 23 and int(match["om"]) <= 59)
    # 60 seconds: a leap second.
    return int(match["h"]) <= 23 and int(match["m"]) <= 59 and int(match["s"]) <= 60 and offset_ok


def _is_date_time(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    day, separator, time = instance.replace("t", "T").partition("T")
    if not separator or re.fullmatch(r"\d{4}-\d\d-\d\d", day) is None:
        return False
    try:
        date.fromisoformat(day)
    except ValueError:
        return False
    return _is_time(time)


def _formats() -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker(["uuid", "email", "date"])
    checker.checks("uri")(_is_uri)
    checker.checks("time")(_is_time)
    checker.checks("date-time")(_is_date_time)
    return checker


FORMATS = _formats()
