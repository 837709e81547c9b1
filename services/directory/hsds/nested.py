"""HSDS 3.0's nested documents (API answers, JSON import and export) <-> flat records.

`flatten` takes a document apart into records: every nested object becomes one, its key to the
parent filled in from its place (or refused if it names another parent), and a referred copy
(`service.organization`) sets the referrer's key. `nest_many` builds documents from records
through a `Source`, in batched calls: at most one per link and level of the form, however many
roots a page has.

A nested record leaves out what its place already says: the key to the parent it is nested in,
and the key to a referred record nested in it. So flattening a built document gives back its
records exactly. Built from the records of an official example, a document equals the example
but for what the example leaves out (tests/directory/test_hsds_nested.py):
- the record's other keys: a phone in `service.phones` still says its `location_id` (the
  examples write no key, though their one phone sits in five places);
- empty arrays, which a built document always has;
- `organization` inside an organisation's services (the compiled schema allows it; it would
  repeat the organisation).
Attributes and metadata nest by `link_id` and `resource_id` alone (see `entities`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from typing import Any, Protocol

from directory.hsds.entities import ENTITIES, Link, Shape, shape
from directory.hsds.records import Record, Rejection

Document = dict[str, Any]


class Source(Protocol):
    """Where `nest_many` reads records: the store (in SQL), or a `RecordIndex`."""

    def get(self, entity: str, ids: Collection[str]) -> list[Record]:
        """The records of `entity` with these ids (those that exist)."""
        ...

    def children(self, entity: str, key: str, ids: Collection[str]) -> list[Record]:
        """The records of `entity` whose field `key` is one of `ids`."""
        ...


class RecordIndex:
    """An in-memory `Source`, for import, export and tests."""

    def __init__(self, records: Iterable[Record]) -> None:
        self._by_id: dict[str, dict[str, Record]] = defaultdict(dict)
        for record in records:
            self._by_id[record.entity][record.id] = record
        self._by_key: dict[tuple[str, str], dict[str, list[Record]]] = {}

    def all(self, entity: str) -> list[Record]:
        """Every record of `entity`, by id."""
        return [self._by_id[entity][id_] for id_ in sorted(self._by_id[entity])]

    def get(self, entity: str, ids: Collection[str]) -> list[Record]:
        table = self._by_id[entity]
        return [table[id_] for id_ in ids if id_ in table]

    def children(self, entity: str, key: str, ids: Collection[str]) -> list[Record]:
        if (entity, key) not in self._by_key:
            index: dict[str, list[Record]] = defaultdict(list)
            for record in self._by_id[entity].values():
                if record.fields.get(key) is not None:
                    index[str(record.fields[key])].append(record)
            self._by_key[entity, key] = index
        index = self._by_key[entity, key]
        return [record for id_ in ids for record in index.get(id_, [])]


def root_entity(kind: str) -> str:
    """The entity of a `kind` document (`service` for `service_list`)."""
    return shape(kind).entity


# --- documents -> records -------------------------------------------------------------------


def flatten(kind: str, document: object, where: str) -> tuple[list[Record], list[Rejection]]:
    """The records in `document`: one `kind` (`service`, `organization`…), a JSON array of
    them, or an HSDS API page (`contents`). Rejections say `where` and the JSON path."""
    placed, rejections = flatten_placed(kind, document, where)
    return [record for _, record in placed], rejections


def flatten_placed(
    kind: str, document: object, where: str
) -> tuple[list[tuple[str, Record]], list[Rejection]]:
    """As `flatten`, each record with the place of its first copy (for later rejections).

    Records come referred-to first, then parents before their children: an order in which
    foreign keys can be checked one by one.
    """
    entity = root_entity(kind)
    flattener = _Flattener(where)
    if isinstance(document, list):
        items = [(f"$[{i}]", item) for i, item in enumerate(document)]
    elif isinstance(document, dict) and "contents" in document:
        contents = document["contents"]
        if not isinstance(contents, list):
            flattener.reject("$.contents", None, "must be an array")
            contents = []
        items = [(f"$.contents[{i}]", item) for i, item in enumerate(contents)]
    else:
        items = [("$", document)]
    for path, item in items:
        flattener.record(entity, item, path, None)
    placed = [
        (place, Record(entity, fields)) for (entity, _), (place, fields) in flattener.found.items()
    ]
    return placed, flattener.rejections


class _Flattener:
    def __init__(self, where: str) -> None:
        self.where = where
        self.found: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        self.rejections: list[Rejection] = []

    def reject(self, path: str, field: str | None, reason: str) -> None:
        self.rejections.append(Rejection(f"{self.where} {path}".strip(), field, reason))

    def record(
        self, entity: str, node: object, path: str, parent: tuple[Link, str, str] | None
    ) -> str | None:
        """Take `node` (and what it nests) as a record of `entity`; its id, if it was taken.

        `parent` is (link, entity, id) of the record whose array holds it.
        """
        if not isinstance(node, dict):
            self.reject(path, None, f"must be an object (a {entity})")
            return None
        spec = ENTITIES[entity]
        fields = {name: value for name, value in node.items() if spec.link(name) is None}
        id_ = fields.get("id")
        if not isinstance(id_, str) or not id_:
            self.reject(path, "id", f"is missing: every {entity} needs one")
            return None
        if parent is not None:
            via, parent_entity, parent_id = parent
            if fields.setdefault(via.key, parent_id) != parent_id:
                self.reject(path, via.key, f"names another {parent_entity} than it is nested in")
                return None
            if via.tag is not None:
                fields.setdefault(via.tag, parent_entity)
        # Referred records first: they set this record's keys before it is kept.
        for name, value in node.items():
            link = spec.link(name)
            if link is None or link.many:
                continue
            referred = self.record(link.entity, value, f"{path}.{name}", None)
            if referred is not None and fields.setdefault(link.key, referred) != referred:
                self.reject(f"{path}.{name}", link.key, f"names another {link.entity} than this")
        self.keep(entity, id_, fields, path)
        for name, value in node.items():
            link = spec.link(name)
            if link is None or not link.many:
                continue
            if not isinstance(value, list):
                self.reject(f"{path}.{name}", None, "must be an array")
                continue
            for i, item in enumerate(value):
                self.record(link.entity, item, f"{path}.{name}[{i}]", (link, entity, id_))
        return id_

    def keep(self, entity: str, id_: str, fields: dict[str, Any], path: str) -> None:
        """One record per id: copies must agree on every field both give (a copy may give
        fewer: a phone in `service.phones` knows `service_id`, in `location.phones` not)."""
        first = self.found.get((entity, id_))
        if first is None:
            self.found[entity, id_] = (path, fields)
            return
        first_path, first_fields = first
        clash = sorted(
            name for name in fields.keys() & first_fields if fields[name] != first_fields[name]
        )
        if clash:
            self.reject(
                path,
                clash[0] if len(clash) == 1 else None,
                f"has the id of {first_path} with different {', '.join(clash)}",
            )
        else:
            first_fields.update(fields)


# --- records -> documents -------------------------------------------------------------------


def nest(kind: str, root: Record, source: Source, *, full_service: bool = False) -> Document:
    """The nested document of one record; see `nest_many`."""
    return nest_many(kind, [root], source, full_service=full_service)[0]


def nest_many(
    kind: str, roots: Sequence[Record], source: Source, *, full_service: bool = False
) -> list[Document]:
    """The nested documents (`kind` as in `entities.SHAPES`) of `roots`, in their order.

    Arrays of children come sorted by id, `[]` if there are none; a referred record that is not
    there is left out (its key stays). `full_service`: an organisation with its `services`.
    Source calls: at most one per (entity, key) and per level of the shape, whatever the
    number of roots.
    """
    form = shape(kind, full_service)
    if wrong := {root.entity for root in roots} - {form.entity}:
        raise ValueError(f"{kind} documents are built from {form.entity} records, not {wrong}")
    fetched = _Fetched(source)
    level: list[tuple[Shape, list[Record]]] = [(form, list(roots))]
    while level:
        fetched.load(level)
        level = [
            (inner, found)
            for outer, records in level
            for link, inner in outer.links
            if (found := fetched.linked(link, records))
        ]
    return [fetched.build(form, root, None) for root in roots]


class _Fetched:
    """The records read so far, by (entity, key) and parent id, and by entity and id."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.children: dict[tuple[str, str], dict[str, list[Record]]] = defaultdict(dict)
        self.records: dict[str, dict[str, Record | None]] = defaultdict(dict)

    def load(self, level: list[tuple[Shape, list[Record]]]) -> None:
        """Read, in one call per (entity, key) and one per referred entity, what the links of
        this level need and has not been read."""
        wanted_children: dict[tuple[str, str], set[str]] = defaultdict(set)
        wanted_records: dict[str, set[str]] = defaultdict(set)
        for outer, records in level:
            for link, _ in outer.links:
                if link.many:
                    wanted_children[link.entity, link.key] |= {record.id for record in records}
                else:
                    wanted_records[link.entity] |= {
                        str(record.fields[link.key])
                        for record in records
                        if record.fields.get(link.key) is not None
                    }
        for (entity, key), ids in wanted_children.items():
            known = self.children[entity, key]
            if new := sorted(ids - known.keys()):
                for id_ in new:
                    known[id_] = []
                for child in self.source.children(entity, key, new):
                    known[str(child.fields[key])].append(child)
        for entity, ids in wanted_records.items():
            table = self.records[entity]
            if new := sorted(ids - table.keys()):
                table.update(dict.fromkeys(new))
                table.update({record.id: record for record in self.source.get(entity, new)})

    def linked(self, link: Link, records: list[Record]) -> list[Record]:
        """What `link` of these records holds, each record once."""
        found: dict[str, Record] = {}
        for record in records:
            for item in self._items(link, record):
                found[item.id] = item
        return list(found.values())

    def _items(self, link: Link, record: Record) -> list[Record]:
        if link.many:
            return sorted(self.children[link.entity, link.key].get(record.id, []), key=_by_id)
        key = record.fields.get(link.key)
        referred = self.records[link.entity].get(str(key)) if key is not None else None
        return [referred] if referred is not None else []

    def build(self, form: Shape, record: Record, placed_by: str | None) -> Document:
        """`record`'s document, without `placed_by` (its key to the parent it is nested in)."""
        nested: Document = {}
        hidden = {placed_by}
        for link, inner in form.links:
            items = self._items(link, record)
            if link.many:
                nested[link.name] = [self.build(inner, item, link.key) for item in items]
            elif items:
                nested[link.name] = self.build(inner, items[0], None)
                hidden.add(link.key)
        # In the schema's order; the compiled schemas' extras and fields no schema names
        # (invalid, but not to be lost) last.
        names = [*ENTITIES[form.entity].schema["properties"], *nested, *record.fields]
        document: Document = {}
        for name in names:
            if name in nested:
                document[name] = nested[name]
            elif name in record.fields and name not in hidden:
                document[name] = record.fields[name]
        return document


def _by_id(record: Record) -> str:
    return record.id
