"""Changing the directory: HSDS records saved as a whole batch or not at all, each change
written to the HSDS change log (`metadata`), and the services they touch seen anew by
search and matching, and announced."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from directory import events, search
from directory.domain import ServiceAtLocation
from directory.hsds import brobygger, nested, validation
from directory.hsds.entities import ENTITIES
from directory.hsds.records import Record, Rejection, is_uuid
from directory.hsds.vocabulary import term_names
from directory.services.common import Editor, Forbidden, Rejected, UnitOfWork
from directory.store.records import Indexed, Point, Put, Stored

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

    A batch of any size costs the same few statements (each kind of read or write one per
    entity and `CHUNK` of ids), so the demo, an import and a million generated services
    all go this one way.
    """
    batch = _unique(records)
    placed = [
        ((where or {}).get(key, f"{key[0]} {key[1]}"), record) for key, record in batch.items()
    ]
    problems = validation.check_records(placed)
    problems += validation.check_references(placed, uow.records.known)
    if problems:
        raise Rejected(problems)
    stored = _stored(batch.keys(), uow)
    owners = _owners(batch, stored, uow)
    for key, record in batch.items():
        _may_write(editor, record, owners[key], stored.get(key))
    saved = Saved()
    touched: set[tuple[str, str]] = set()
    puts: list[Put] = []
    log: list[Put] = []
    for key, record in batch.items():
        previous = stored.get(key)
        if previous is not None and previous.record.fields == record.fields:
            saved.unchanged += 1
            continue
        puts.append(Put(record, owners[key], _references(record), previous is not None))
        if record.entity == "address" and "location_id" in record.fields:
            touched.add(("location", record.fields["location_id"]))
        before = previous.record if previous is not None else None
        log += _log(record, before, editor, owners[key], now)
        saved.created += previous is None
        saved.changed += previous is not None
        touched.add(key)
    uow.records.put_many(puts, now)
    saved.removed = _remove_left_out(replacing, batch, owners, editor, uow, now, touched, log)
    uow.records.put_many(log, now)
    _place(touched, batch, uow)
    uow.records.index_words_many(
        {
            organization.id: Indexed(
                "organization",
                search.index_words(
                    organization.fields["name"],
                    [organization.fields.get(f, "") for f in ("alternate_name", "description")],
                ),
            )
            for (entity, _), organization in batch.items()
            if entity == "organization"
        }
    )
    saved.services = sorted(UUID(s) for s in _services_touched(touched, batch, uow))
    refresh(saved.services, uow, now)
    return saved


def refresh(service_ids: Sequence[UUID], uow: UnitOfWork, now: datetime) -> None:
    """See services anew after a change of their records: the words each is found by, what
    matching knows of it, its modification time; and announce each that matching knows."""
    ids = [str(service_id) for service_id in service_ids]
    source = _WithoutChangeLog(uow.records)
    documents = nested.nest_many("service", source.get("service", ids), source)
    uow.records.touch_many("service", ids, now)
    flat = {
        UUID(document["id"]): nested.flatten("service", document, "stored")[0]
        for document in documents
    }
    uow.records.index_words_many(
        {
            document["id"]: Indexed("service", search.document_words(document, _term_names))
            for document in documents
        }
    )
    found = _matchable(flat, uow)
    matchable = [each for each in found.values() if each is not None]
    uow.services.project_many(matchable)
    changed = {each.service.id: each.service for each in matchable}
    closing = [service_id for service_id, each in found.items() if each is None]
    changed |= {each.service.id: each.service for each in uow.services.close_many(closing)}
    for service_id in service_ids:
        if service_id in changed:
            uow.publish(events.service_changed(changed[service_id], now))


class _WithoutChangeLog:
    """The store as search and matching read a service: without the change log nested in
    each of its records, which neither reads (and which is as big as the rest)."""

    def __init__(self, records: nested.Source) -> None:
        self.records = records

    def get(self, entity: str, ids: Collection[str]) -> list[Record]:
        return self.records.get(entity, ids)

    def children(self, entity: str, key: str, ids: Collection[str]) -> list[Record]:
        return [] if entity in UNLOGGED else self.records.children(entity, key, ids)


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


def owners(records: Sequence[Record], uow: UnitOfWork) -> dict[tuple[str, str], UUID | None]:
    """Whose each record is, by entity and id: found through its foreign keys, in the
    records or the store (read in one go)."""
    return _owners(_unique(records), {}, uow)


def _owner(
    record: Record,
    batch: Mapping[tuple[str, str], Record],
    stored_owner: Callable[[tuple[str, str]], UUID | None],
) -> UUID | None:
    """Whose the record is, following its foreign keys through the batch to the first
    record outside it, whose owner `stored_owner` tells."""
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
            return stored_owner(parent)


def _owners(
    batch: dict[tuple[str, str], Record], stored: dict[tuple[str, str], Stored], uow: UnitOfWork
) -> dict[tuple[str, str], UUID | None]:
    """Whose each record of the batch is: the stored parents read in one go."""
    outside: set[tuple[str, str]] = set()
    for record in batch.values():
        _owner(record, batch, lambda parent: outside.add(parent))
    parents = stored | _stored(outside - stored.keys(), uow)

    def stored_owner(parent: tuple[str, str]) -> UUID | None:
        found = parents.get(parent)
        return found.organization_id if found is not None else None

    return {key: _owner(record, batch, stored_owner) for key, record in batch.items()}


def _stored(keys: Iterable[tuple[str, str]], uow: UnitOfWork) -> dict[tuple[str, str], Stored]:
    """The records stored under these keys, read one statement per entity (and chunk)."""
    by_entity: dict[str, list[str]] = defaultdict(list)
    for entity, record_id in keys:
        by_entity[entity].append(record_id)
    return {
        (entity, record_id): found
        for entity, ids in by_entity.items()
        for record_id, found in uow.records.stored(entity, ids).items()
    }


def _parent(record: Record) -> tuple[str, str] | None:
    """The record its first key names, if that key holds an id (a key that is no id is
    the record's fault, which its check reports)."""
    fields = record.fields
    for key, entity in OWNING_KEYS.items():
        if isinstance(fields.get(key), str):
            return (entity, fields[key]) if is_uuid(fields[key]) else None
    for key, kind in (("link_id", "link_entity"), ("resource_id", "resource_type")):
        if isinstance(fields.get(key), str) and isinstance(fields.get(kind), str):
            return (fields[kind], fields[key]) if is_uuid(fields[key]) else None
    return None


def _may_write(editor: Editor, record: Record, owner: UUID | None, stored: Stored | None) -> None:
    if editor.organization_id is None:
        return
    if record.entity in SHARED or owner is None:
        if stored is None or stored.record.fields != record.fields:
            raise Forbidden(f"only operators change the directory's own {record.entity}s")
        return
    if owner != editor.organization_id:
        raise Forbidden(f"the {record.entity} is another organisation's")
    if stored is not None and stored.organization_id not in (None, editor.organization_id):
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
        if isinstance(value := record.fields.get(key), str) and is_uuid(value)
    }


def _log(
    record: Record, previous: Record | None, editor: Editor, owner: UUID | None, now: datetime
) -> list[Put]:
    """The change's entries in the HSDS change log: one `metadata` record for a new record,
    one per field for a changed one."""
    if record.entity in UNLOGGED:
        return []
    if previous is None:
        return [_log_entry(record.entity, record.id, "create", "", "", "", editor, owner, now)]
    names = sorted(previous.fields.keys() | record.fields.keys())
    return [
        _log_entry(record.entity, record.id, "update", name, before, after, editor, owner, now)
        for name in names
        if previous.fields.get(name) != record.fields.get(name)
        for before, after in [(_text(previous.fields.get(name)), _text(record.fields.get(name)))]
    ]


def _log_entry(
    entity: str,
    resource_id: str,
    action: str,
    field_name: str,
    before: str,
    after: str,
    editor: Editor,
    owner: UUID | None,
    now: datetime,
) -> Put:
    """One `metadata` record, owned as the record it logs; its id follows from what it logs
    (for a removal, also which part went), so its keys need no clearing first."""
    stamp = now.isoformat()
    logged = f"{entity}/{resource_id}/{stamp}/{action}/{field_name}"
    if action == "delete":
        logged += f"/{before}"
    fields = {
        "id": str(uuid5(CHANGE_LOG, logged)),
        "resource_id": resource_id,
        "resource_type": entity,
        # HSDS keeps the day only (a date in its tabular form).
        "last_action_date": now.date().isoformat(),
        "last_action_type": action,
        "field_name": field_name,
        "previous_value": before,
        "replacement_value": after,
        "updated_by": editor.name,
    }
    entry = Record("metadata", fields)
    return Put(entry, owner, _references(entry), replaces=False)


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
    roots: Sequence[Record],
    batch: dict[tuple[str, str], Record],
    owners: dict[tuple[str, str], UUID | None],
    editor: Editor,
    uow: UnitOfWork,
    now: datetime,
    touched: set[tuple[str, str]],
    log: list[Put],
) -> int:
    """Remove the parts of `roots` (and of their parts, in turn) that the batch no longer
    has, logging each removal on the record it was part of; how many records went. One
    statement per kind of part and level, whatever the number of roots."""
    left_out: dict[tuple[str, str], Record] = {}
    level = list(roots)
    while level:
        next_level = []
        for part, parent in _parts(level, uow):
            if (part.entity, part.id) in batch:
                next_level.append(part)
                continue
            left_out[part.entity, part.id] = part
            key = (parent.entity, parent.id)
            owner = owners[key] if key in owners else uow.records.organization_of(*key)
            log.append(_log_entry(*key, "delete", part.entity, part.id, "", editor, owner, now))
            touched.add(key)
        level = next_level
    # What the removed parts are made of goes with them.
    gone = dict(left_out)
    level = list(left_out.values())
    while level:
        level = [part for part, _ in _parts(level, uow) if (part.entity, part.id) not in gone]
        gone |= {(part.entity, part.id): part for part in level}
    uow.records.remove_many(gone.keys())
    return len(gone)


def _parts(records: Sequence[Record], uow: UnitOfWork) -> list[tuple[Record, Record]]:
    """The stored parts of `records` (see `PARTS`), each with the record it is part of."""
    by_entity: dict[str, dict[str, Record]] = defaultdict(dict)
    for record in records:
        by_entity[record.entity][record.id] = record
    found: dict[tuple[str, str], tuple[Record, Record]] = {}
    for entity, of_entity in by_entity.items():
        for part_entity, key in PARTS.get(entity, ()):
            for part in uow.records.children(part_entity, key, list(of_entity)):
                parent = of_entity.get(str(part.fields.get(key)))
                if parent is not None:
                    found.setdefault((part.entity, part.id), (part, parent))
    return list(found.values())


def _place(
    touched: set[tuple[str, str]], batch: dict[tuple[str, str], Record], uow: UnitOfWork
) -> None:
    """Keep where the touched locations are: their coordinates, and their physical
    addresses' postcodes (the batch's addresses of a location, else the stored ones)."""
    ids = sorted(i for entity, i in touched if entity == "location")
    if not ids:
        return
    locations = {i: batch[("location", i)] for i in ids if ("location", i) in batch}
    locations |= {r.id: r for r in uow.records.get("location", set(ids) - locations.keys())}
    addresses: dict[str, list[Record]] = defaultdict(list)
    for (entity, _), record in batch.items():
        if entity == "address" and record.fields.get("location_id") in locations:
            addresses[record.fields["location_id"]].append(record)
    for record in uow.records.children("address", "location_id", locations.keys() - addresses):
        addresses[record.fields["location_id"]].append(record)
    points = []
    for location_id, location in locations.items():
        postcodes = [
            a.fields["postal_code"] for a in addresses[location_id] if a.fields.get("postal_code")
        ]
        points.append(
            Point(
                location_id,
                postcodes[0] if postcodes else None,
                location.fields.get("latitude"),
                location.fields.get("longitude"),
            )
        )
    uow.records.place_many(points)


def _services_touched(
    touched: set[tuple[str, str]], batch: dict[tuple[str, str], Record], uow: UnitOfWork
) -> set[str]:
    """The services whose nested form includes one of the touched records."""
    services: set[str] = set()
    locations: set[str] = set()
    at_locations: set[str] = set()
    found = {key: found.record for key, found in _stored(touched - batch.keys(), uow).items()}
    for entity, record_id in touched:
        record = batch.get((entity, record_id)) or found.get((entity, record_id))
        fields = record.fields if record is not None else {}
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


def _matchable(
    services: dict[UUID, list[Record]], uow: UnitOfWork
) -> dict[UUID, ServiceAtLocation | None]:
    """Each service as matching sees it, or None if its records lack what matching needs
    (a located, Copenhagen address; a language; a capacity in places)."""
    places = _location_records(services.values(), uow)
    found: dict[UUID, ServiceAtLocation | None] = {}
    for service_id, records in services.items():
        location_records = [
            r for location_id in _location_ids(records) for r in places.get(location_id, [])
        ]
        service = brobygger.service_facts([*records, *location_records])
        if isinstance(service, Rejection):
            found[service_id] = None
            continue
        location = brobygger.location_facts(places.get(str(service.location_id), []))
        found[service_id] = (
            None if isinstance(location, Rejection) else ServiceAtLocation(service, location)
        )
    return found


def _location_ids(records: Iterable[Record]) -> set[str]:
    return {
        r.fields["location_id"]
        for r in records
        if r.entity == "service_at_location" and isinstance(r.fields.get("location_id"), str)
    }


def _location_records(services: Iterable[list[Record]], uow: UnitOfWork) -> dict[str, list[Record]]:
    """The records of the locations the services' records name, as matching reads them,
    by location."""
    ids = {i for records in services for i in _location_ids(records)}
    found: dict[str, list[Record]] = defaultdict(list)
    for location in uow.records.get("location", ids):
        found[location.id].append(location)
    for address in uow.records.children("address", "location_id", ids):
        found[address.fields["location_id"]].append(address)
    for attribute in uow.records.children("attribute", "link_id", ids):
        if attribute.fields.get("link_entity") == "location":
            found[attribute.fields["link_id"]].append(attribute)
    return found


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
