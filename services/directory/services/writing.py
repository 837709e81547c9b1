"""Changing the directory: HSDS records saved as a whole batch or not at all, each change
written to the HSDS change log (`metadata`), and the services they touch seen anew by
search and matching, and announced."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from directory import events, search
from directory.domain import ServiceAtLocation
from directory.hsds import brobygger, nested, validation
from directory.hsds.entities import ENTITIES
from directory.hsds.records import Record, Rejection
from directory.hsds.vocabulary import term_names
from directory.services.common import Editor, Forbidden, Rejected, UnitOfWork

CHANGE_LOG = UUID("0a4d4bd5-3f6a-4a8e-9f55-2f0f4f3b8c11")
"""Namespace of the change log's record ids (see `_log`)."""

# The entity a foreign key names, where the key's name says it; `link_id` and `resource_id`
# say it in a field beside them. Keys of the directory's own vocabularies (taxonomy, term,
# unit) are absent: they say nothing of whose a record is.
OWNING_KEYS = {
    "organization_id": "organization",
    "service_id": "service",
    "location_id": "location",
    "service_at_location_id": "service_at_location",
    "contact_id": "contact",
    "phone_id": "phone",
    "program_id": "program",
}
SHARED = frozenset({"taxonomy", "taxonomy_term", "unit", "meta_table_description"})
"""Entities that belong to the directory, not to an organisation: only operators change
them."""
UNLOGGED = frozenset({"metadata"})
"""The change log does not log itself."""


@dataclass
class Saved:
    """What a save did."""

    created: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    services: list[UUID] = field(default_factory=list)
    """The services it touched."""


def save(
    records: Sequence[Record],
    editor: Editor,
    uow: UnitOfWork,
    now: datetime,
    *,
    replacing: Sequence[Record] = (),
    where: Mapping[tuple[str, str], str] | None = None,
) -> Saved:
    """Insert or change `records` (upsert by id), after checking each against HSDS, its
    foreign keys, and that `editor` may change it; then log, re-index and announce.

    `replacing` are roots whose nested form the batch is the whole of: their children that
    the batch leaves out are removed (a service saved without a phone it had loses it).
    Raises `Rejected` with every fault found, each at its place in `where` (by entity and
    id; else named by them), `Forbidden` for another's record; the caller commits.
    """
    batch = _unique(records)
    placed = [
        ((where or {}).get(key, f"{key[0]} {key[1]}"), record) for key, record in batch.items()
    ]
    problems = validation.check_records(placed)
    problems += validation.check_references(placed, uow.records.known)
    if problems:
        raise Rejected(problems)
    owners = {key: organization_of(record, batch, uow) for key, record in batch.items()}
    for key, record in batch.items():
        _may_write(editor, record, owners[key], uow)
    saved = Saved()
    touched: set[tuple[str, str]] = set()
    for key, record in batch.items():
        previous = next(iter(uow.records.get(record.entity, [record.id])), None)
        if previous is not None and previous.fields == record.fields:
            saved.unchanged += 1
            continue
        uow.records.put(
            record,
            organization_id=owners[key],
            references=_references(record),
            modified_at=now,
        )
        if record.entity == "location":
            _place(record, batch, uow)
        if record.entity == "address" and "location_id" in record.fields:
            touched.add(("location", record.fields["location_id"]))
        _log(record, previous, editor, uow, now)
        saved.created += previous is None
        saved.changed += previous is not None
        touched.add(key)
    for root in replacing:
        saved.removed += _remove_left_out(root, batch, editor, uow, now, touched)
    for location_id in {i for entity, i in touched if entity == "location"}:
        location = uow.records.get("location", [location_id])
        if location:
            _place(location[0], batch, uow)
    for organization in [r for (entity, _), r in batch.items() if entity == "organization"]:
        uow.records.index_words(
            organization.id,
            search.index_words(
                organization.fields["name"],
                [organization.fields.get(f, "") for f in ("alternate_name", "description")],
            ),
        )
    saved.services = sorted(UUID(s) for s in _services_touched(touched, uow))
    for service_id in saved.services:
        refresh(service_id, uow, now)
    return saved


def refresh(service_id: UUID, uow: UnitOfWork, now: datetime) -> None:
    """See a service anew after a change of its records: the words it is found by, what
    matching knows of it, its modification time; and announce it if matching knows it."""
    document = read(uow, "service", str(service_id))
    uow.records.touch("service", str(service_id), now)
    records, _ = nested.flatten("service", document, "stored")
    uow.records.index_words(str(service_id), search.document_words(document, _term_names))
    found = _matchable(records, uow)
    if found is not None:
        uow.services.project(found)
        uow.publish(events.service_changed(found.service, now))
    elif uow.services.close(service_id):
        closed = uow.services.get(service_id)
        assert closed is not None, "it was open a moment ago"
        uow.publish(events.service_changed(closed.service, now))


def free_places_changed(uow: UnitOfWork, service_id: UUID, now: datetime) -> None:
    """A referral took or gave back a place: the service's capacity says so (not logged:
    places come and go with every referral), and who follows the directory is told."""
    found = uow.services.get(service_id)
    assert found is not None, "the place was taken or given back by this transaction"
    for capacity in uow.records.children("service_capacity", "service_id", [str(service_id)]):
        if capacity.fields.get("unit_id") == str(brobygger.PLACES_UNIT_ID):
            fields = {
                **capacity.fields,
                "available": found.service.free_places,
                "updated": now.isoformat().replace("+00:00", "Z"),
            }
            uow.records.put(
                Record("service_capacity", fields),
                organization_id=found.service.organization_id,
                references=_references(Record("service_capacity", fields)),
                modified_at=now,
            )
    uow.records.touch("service", str(service_id), now)
    uow.publish(events.service_changed(found.service, now))


def read(uow: UnitOfWork, kind: str, record_id: str) -> dict[str, Any]:
    """One record in the HSDS API's nested form."""
    roots = uow.records.get(kind, [record_id])
    return nested.nest_many(kind, roots, uow.records)[0]


def _unique(records: Sequence[Record]) -> dict[tuple[str, str], Record]:
    return {(record.entity, record.id): record for record in records}


def organization_of(
    record: Record, batch: dict[tuple[str, str], Record], uow: UnitOfWork
) -> UUID | None:
    """Whose the record is: found through its foreign keys, in the batch or the store."""
    seen: set[tuple[str, str]] = set()
    while True:
        if record.entity in SHARED:
            return None
        if record.entity == "organization":
            return UUID(record.id)
        parent = _parent(record)
        if parent is None or parent in seen:
            return None
        seen.add(parent)
        if parent in batch:
            record = batch[parent]
        else:
            return uow.records.organization_of(*parent)


def _parent(record: Record) -> tuple[str, str] | None:
    fields = record.fields
    for key, entity in OWNING_KEYS.items():
        if isinstance(fields.get(key), str):
            return entity, fields[key]
    for key, kind in (("link_id", "link_entity"), ("resource_id", "resource_type")):
        if isinstance(fields.get(key), str) and isinstance(fields.get(kind), str):
            return fields[kind], fields[key]
    return None


def _may_write(editor: Editor, record: Record, owner: UUID | None, uow: UnitOfWork) -> None:
    if editor.organization_id is None:
        return
    stored = next(iter(uow.records.get(record.entity, [record.id])), None)
    if record.entity in SHARED or owner is None:
        if stored is None or stored.fields != record.fields:
            raise Forbidden(f"only operators change the directory's own {record.entity}s")
        return
    if owner != editor.organization_id:
        raise Forbidden(f"the {record.entity} is another organisation's")
    if stored is not None and uow.records.organization_of(record.entity, record.id) not in (
        None,
        editor.organization_id,
    ):
        raise Forbidden(f"the {record.entity} is another organisation's")


NESTING_KEYS = ("link_id", "resource_id", "parent_id", "parent_organization_id")
"""Keys the standard does not declare foreign (their target may be anything, or dangle), by
which records still nest."""


def _references(record: Record) -> dict[str, str]:
    """The record's keys to other records, as the store indexes them for nesting."""
    keys = [*ENTITIES[record.entity].foreign_keys, *NESTING_KEYS]
    return {
        key: value
        for key in keys
        if isinstance(value := record.fields.get(key), str) and _is_uuid(value)
    }


def _is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True


def _log(
    record: Record, previous: Record | None, editor: Editor, uow: UnitOfWork, now: datetime
) -> None:
    """Write the change to the HSDS change log: one `metadata` record for a new record,
    one per field for a changed one."""
    if record.entity in UNLOGGED:
        return
    if previous is None:
        changes = [("", "", "")]
        action = "create"
    else:
        names = sorted(previous.fields.keys() | record.fields.keys())
        changes = [
            (name, _text(previous.fields.get(name)), _text(record.fields.get(name)))
            for name in names
            if previous.fields.get(name) != record.fields.get(name)
        ]
        action = "update"
    for name, before, after in changes:
        _write_log(uow, record.entity, record.id, action, name, before, after, editor, now)


def _write_log(
    uow: UnitOfWork,
    entity: str,
    resource_id: str,
    action: str,
    field_name: str,
    before: str,
    after: str,
    editor: Editor,
    now: datetime,
) -> None:
    stamp = now.isoformat().replace("+00:00", "Z")
    fields = {
        "id": str(uuid5(CHANGE_LOG, f"{entity}/{resource_id}/{stamp}/{action}/{field_name}")),
        "resource_id": resource_id,
        "resource_type": entity,
        "last_action_date": stamp,
        "last_action_type": action,
        "field_name": field_name,
        "previous_value": before,
        "replacement_value": after,
        "updated_by": editor.name,
    }
    entry = Record("metadata", fields)
    uow.records.put(
        entry,
        organization_id=uow.records.organization_of(entity, resource_id),
        references=_references(entry),
        modified_at=now,
    )


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


PARTS: dict[str, tuple[tuple[str, str], ...]] = {
    "organization": (
        ("organization_identifier", "organization_id"),
        ("contact", "organization_id"),
        ("phone", "organization_id"),
        ("funding", "organization_id"),
        ("attribute", "link_id"),
    ),
    "service": (
        ("phone", "service_id"),
        ("schedule", "service_id"),
        ("service_area", "service_id"),
        ("service_at_location", "service_id"),
        ("language", "service_id"),
        ("funding", "service_id"),
        ("cost_option", "service_id"),
        ("required_document", "service_id"),
        ("contact", "service_id"),
        ("attribute", "link_id"),
        ("service_capacity", "service_id"),
    ),
    "location": (
        ("language", "location_id"),
        ("address", "location_id"),
        ("contact", "location_id"),
        ("accessibility", "location_id"),
        ("phone", "location_id"),
        ("schedule", "location_id"),
        ("attribute", "link_id"),
    ),
    "service_at_location": (
        ("contact", "service_at_location_id"),
        ("phone", "service_at_location_id"),
        ("schedule", "service_at_location_id"),
        ("attribute", "link_id"),
    ),
    "contact": (("phone", "contact_id"), ("attribute", "link_id")),
    "phone": (("language", "phone_id"), ("attribute", "link_id")),
}
"""The records each kind of record is made of, by the foreign key that ties them to it:
what a document saved whole replaces. An organisation's locations, services and programs
are records of their own, changed on their own."""


def _remove_left_out(
    root: Record,
    batch: dict[tuple[str, str], Record],
    editor: Editor,
    uow: UnitOfWork,
    now: datetime,
    touched: set[tuple[str, str]],
) -> int:
    """Remove the parts of `root` (and of its parts, in turn) that the batch no longer has,
    logging each removal on the record it was part of."""
    removed = 0
    for entity, key in PARTS.get(root.entity, ()):
        for part in uow.records.children(entity, key, [root.id]):
            if (entity, part.id) in batch:
                removed += _remove_left_out(part, batch, editor, uow, now, touched)
                continue
            removed += _remove(part, uow)
            _write_log(uow, root.entity, root.id, "delete", entity, part.id, "", editor, now)
            touched.add((root.entity, root.id))
    return removed


def _remove(record: Record, uow: UnitOfWork) -> int:
    """Remove a record and everything it is made of; how many records that was."""
    removed = 1
    for entity, key in PARTS.get(record.entity, ()):
        for part in uow.records.children(entity, key, [record.id]):
            removed += _remove(part, uow)
    uow.records.remove(record.entity, record.id)
    return removed


def _place(location: Record, batch: dict[tuple[str, str], Record], uow: UnitOfWork) -> None:
    """Keep where the location is: its coordinates, and its physical address's postcode."""
    addresses = [
        r
        for (entity, _), r in batch.items()
        if entity == "address" and r.fields.get("location_id") == location.id
    ] or uow.records.children("address", "location_id", [location.id])
    postcodes = [a.fields.get("postal_code") for a in addresses if a.fields.get("postal_code")]
    uow.records.place(
        location.id,
        postcodes[0] if postcodes else None,
        location.fields.get("latitude"),
        location.fields.get("longitude"),
    )


def _services_touched(touched: Iterable[tuple[str, str]], uow: UnitOfWork) -> set[str]:
    """The services whose nested form includes one of the touched records."""
    services: set[str] = set()
    locations: set[str] = set()
    at_locations: set[str] = set()
    for entity, record_id in touched:
        stored = next(iter(uow.records.get(entity, [record_id])), None)
        fields = stored.fields if stored is not None else {}
        if entity == "service":
            services.add(record_id)
        elif entity == "location":
            locations.add(record_id)
        elif entity == "service_at_location":
            at_locations.add(record_id)
        if isinstance(fields.get("service_id"), str):
            services.add(fields["service_id"])
        if isinstance(fields.get("location_id"), str) and entity != "service_at_location":
            locations.add(fields["location_id"])
        if isinstance(fields.get("service_at_location_id"), str):
            at_locations.add(fields["service_at_location_id"])
        link = fields.get("link_id")
        if isinstance(link, str):
            kind = fields.get("link_entity")
            if kind == "service":
                services.add(link)
            elif kind == "location":
                locations.add(link)
    at_locations |= {
        r.id for r in uow.records.children("service_at_location", "location_id", locations)
    }
    services |= {
        r.fields["service_id"]
        for r in uow.records.get("service_at_location", at_locations)
        if isinstance(r.fields.get("service_id"), str)
    }
    return services


def _location_records(records: Sequence[Record], uow: UnitOfWork) -> list[Record]:
    """The records of the locations a service's records name, as matching reads them."""
    ids = {
        r.fields["location_id"]
        for r in records
        if r.entity == "service_at_location" and isinstance(r.fields.get("location_id"), str)
    }
    found = uow.records.get("location", ids)
    return [
        *found,
        *uow.records.children("address", "location_id", ids),
        *[
            a
            for a in uow.records.children("attribute", "link_id", ids)
            if a.fields.get("link_entity") == "location"
        ],
    ]


def _matchable(records: Sequence[Record], uow: UnitOfWork) -> ServiceAtLocation | None:
    """The service as matching sees it, or None if its records lack what matching needs
    (a located, Copenhagen address; a language; a capacity in places)."""
    location_records = _location_records(records, uow)
    service = brobygger.service_facts([*records, *location_records])
    if isinstance(service, Rejection):
        return None
    location = brobygger.location_facts(
        [
            r
            for r in location_records
            if str(r.fields.get("location_id", r.id)) == str(service.location_id)
            or r.fields.get("link_id") == str(service.location_id)
        ]
    )
    return None if isinstance(location, Rejection) else ServiceAtLocation(service, location)


def _term_names(term_id: str) -> list[str]:
    return term_names(term_id)


def put_document(
    kind: str,
    document: dict[str, Any],
    editor: Editor,
    uow: UnitOfWork,
    now: datetime,
) -> Saved:
    """Save an HSDS document (a service, location or organisation with what it nests) as
    the whole truth of the record: what it no longer nests is removed."""
    placed, rejections = nested.flatten_placed(kind, document, "body")
    if rejections:
        raise Rejected(rejections)
    records = [record for _, record in placed]
    root = next(r for r in records if r.entity == kind and r.id == str(document["id"]))
    where = {(record.entity, record.id): place for place, record in placed}
    return save(records, editor, uow, now, replacing=[root], where=where)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: `patch` merged into `target`; null removes a member."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged
