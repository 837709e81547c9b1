"""The use cases of changing the directory through its API: create, replace or change one
organisation, location or service, given as an HSDS document."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from directory.hsds.records import Rejection
from directory.services.common import (
    Clock,
    Editor,
    NotFound,
    Rejected,
    UnitOfWorkFactory,
)
from directory.services.writing import merge_patch, put_document, read
from runtime.storage import utcnow

EDITABLE = ("organization", "location", "service")

READ_ONLY = {
    "organization": ("services", "locations", "programs"),
    "service": ("organization", "program"),
    "service_at_location": ("location", "service"),
    "attribute": ("taxonomy_term",),
}
"""What the nested form of a record shows but a writer does not send inside it: records of
their own (changed on their own) and the change log (`metadata`, the directory's)."""


class AlreadyThere(Exception):
    """A record with the id given to a create is there already."""


def create(
    kind: str,
    document: dict[str, Any],
    editor: Editor,
    start_uow: UnitOfWorkFactory,
    clock: Clock = utcnow,
) -> dict[str, Any]:
    """Add a record (with the id given, or a new one); its nested form."""
    record_id = str(document.get("id") or uuid4())
    with start_uow() as uow:
        if uow.records.known(kind, [record_id]):
            raise AlreadyThere(f"there is a {kind} {record_id} already")
        put_document(kind, {**document, "id": record_id}, editor, uow, clock())
        created = read(uow, kind, record_id)
        uow.commit()
    return created


def replace(
    kind: str,
    record_id: str,
    document: dict[str, Any],
    editor: Editor,
    start_uow: UnitOfWorkFactory,
    clock: Clock = utcnow,
) -> dict[str, Any]:
    """Write a record anew, with what it is made of, as `document` has it."""
    if str(document.get("id", record_id)) != record_id:
        raise Rejected([Rejection(kind, "id", "differs from the id in the path")])
    with start_uow() as uow:
        if uow.records.lock(kind, record_id) is None:
            raise NotFound(f"no {kind} {record_id}")
        put_document(kind, {**document, "id": record_id}, editor, uow, clock())
        replaced = read(uow, kind, record_id)
        uow.commit()
    return replaced


def change(
    kind: str,
    record_id: str,
    patch: dict[str, Any],
    editor: Editor,
    start_uow: UnitOfWorkFactory,
    clock: Clock = utcnow,
) -> dict[str, Any]:
    """Change the fields `patch` names (a JSON Merge Patch of the nested form), keeping
    the others as they are at this moment: the record is locked before it is read, so
    that two changes of different fields both stay."""
    if "id" in patch and str(patch["id"]) != record_id:
        raise Rejected([Rejection(kind, "id", "cannot be changed")])
    with start_uow() as uow:
        if uow.records.lock(kind, record_id) is None:
            raise NotFound(f"no {kind} {record_id}")
        current = _writable(read(uow, kind, record_id), kind)
        put_document(kind, merge_patch(current, patch), editor, uow, clock())
        changed = read(uow, kind, record_id)
        uow.commit()
    return changed


def _writable(document: Any, entity: str | None = None) -> Any:
    """The nested form without what a writer does not send (see `READ_ONLY`)."""
    if isinstance(document, list):
        return [_writable(item, entity) for item in document]
    if not isinstance(document, dict):
        return document
    dropped = {"metadata", *READ_ONLY.get(entity or "", ())}
    writable = {
        key: _writable(value, _entity_of(key))
        for key, value in document.items()
        if key not in dropped
    }
    for key in dropped & document.keys():
        # A record nested by reference stands for its key (`organization` for
        # `organization_id`), which the nested form leaves out.
        if isinstance(referred := document[key], dict) and "id" in referred:
            writable.setdefault(f"{key}_id", referred["id"])
    return writable


def _entity_of(key: str) -> str | None:
    return {"service_at_locations": "service_at_location", "attributes": "attribute"}.get(key)
