"""The unit every HSDS form is read into and written from: one record of one of the
standard's tables, with its own fields only (what a row of the tabular form holds)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID


@dataclass(frozen=True)
class Record:
    """One HSDS record, e.g. a `service` or one of its `phone`s.

    `fields` are the entity schema's own properties of the record, foreign keys included
    (`service_id`, `location_id`…), never the nested arrays or objects of the nested form.
    JSON types as the entity schema gives them; a property that is absent is left out.
    """

    entity: str
    """The HSDS schema name: `organization`, `service`, `phone`, `taxonomy_term`…"""
    fields: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.fields["id"])


@dataclass(frozen=True)
class Rejection:
    """A record that could not be taken, and why, in words an operator can act on."""

    where: str
    """Which file and which record in it: `services.csv row 4`,
    `organization_full.json $.services[0].phones[1]`."""
    field: str | None
    """The field at fault, if one is."""
    reason: str
    """E.g. `location_id names a location that is not there`; never the field's value,
    which may be personal data."""

    def __str__(self) -> str:
        at = f" {self.field}:" if self.field else ""
        return f"{self.where}:{at} {self.reason}"


def is_uuid(text: str) -> bool:
    """Whether a record's id or key is a UUID, as every HSDS id is (a record's check refuses
    others; until then they name no record)."""
    try:
        UUID(text)
    except ValueError:
        return False
    return True
