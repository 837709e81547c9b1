"""The use cases of changing the directory through its API: create, replace or change one
organisation, location or service, given as an HSDS document."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from directory.hsds import openapi
from directory.hsds.entities import ENTITIES
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
    # Checked before the id is looked up: a malformed id is the writer's fault, not ours.
    # An id given is the writer's, checked as sent (an empty one is refused, not replaced).
    checked = _checked(kind, {"id": str(uuid4()), **document})
    record_id = str(checked["id"])
    with start_uow() as uow:
        if uow.records.known(kind, [record_id]):
            raise AlreadyThere(f"there is a {kind} {record_id} already")
        put_document(kind, checked, editor, uow, clock())
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
        put_document(kind, _checked(kind, {**document, "id": record_id}), editor, uow, clock())
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
        put_document(kind, _checked(kind, merge_patch(current, patch)), editor, uow, clock())
        changed = read(uow, kind, record_id)
        uow.commit()
    return changed


def _writable(document: Any, entity: str) -> Any:
    """The nested form as a writer sends it (`openapi.READ_ONLY`): without the change log,
    and a record nested by reference (`organization`) standing for its key
    (`organization_id`), which the nested form leaves out."""
    if isinstance(document, list):
        return [_writable(item, entity) for item in document]
    if not isinstance(document, dict):
        return document
    dropped = {"metadata", *openapi.READ_ONLY.get(openapi.component_name(entity), ())}
    writable = {}
    for key, value in document.items():
        if key not in dropped:
            link = ENTITIES[entity].link(key)
            writable[key] = _writable(value, link.entity) if link else value
        elif isinstance(value, dict) and "id" in value:
            writable.setdefault(f"{key}_id", value["id"])
    return writable


def _checked(kind: str, document: dict[str, Any]) -> dict[str, Any]:
    """The document, if it is what a writer may send (`HSDS<Kind>Write`); else `Rejected`."""
    problems = openapi.check_write(kind, document)
    if problems:
        raise Rejected(problems)
    return document
