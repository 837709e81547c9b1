"""The HSDS publication in SQL: records by entity and id, their foreign keys one row each,
and the queries of the HSDS API's lists, each one statement whatever the page size."""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from directory.hsds.records import Record, is_uuid
from directory.search import query_words
from directory.store.tables import (
    PointRow,
    RecordRow,
    ReferenceRow,
    SearchWordRow,
)

METRES_PER_DEGREE = 111_320.0
"""Of latitude everywhere, and of longitude at the equator: close enough within a city."""

T = TypeVar("T")

CHUNK = 500
"""Ids bound in one IN list at most: a list of any length is read in statements of this
many, well under every database's limit on bound parameters."""


@dataclass(frozen=True)
class Stored:
    """A record as stored, with the organisation it belongs to."""

    record: Record
    organization_id: UUID | None


@dataclass(frozen=True)
class Put:
    """A record to write, with its owner and foreign keys."""

    record: Record
    organization_id: UUID | None
    references: dict[str, str]
    replaces: bool = True
    """Whether a stored record may be there, whose foreign keys go (False: it is new, or its
    keys follow from its id, as a change log entry's do, and are overwritten)."""


@dataclass(frozen=True)
class Point:
    """Where a location is, for searches near a postcode."""

    location_id: str
    postal_code: str | None
    latitude: Any
    longitude: Any


@dataclass(frozen=True)
class ServiceQuery:
    """The HSDS API's filters of services (and of services at locations), combined as AND;
    None leaves one out."""

    search: str | None = None
    taxonomy_term_ids: Collection[UUID] | None = None
    """Services with an attribute naming any of these terms."""
    taxonomy_id: UUID | None = None
    organization_id: UUID | None = None
    modified_after: datetime | None = None


@dataclass(frozen=True)
class Near:
    """Locations at a postcode, or within `metres` of a point."""

    postal_code: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    metres: float | None = None


@dataclass(frozen=True)
class Indexed:
    """What a record is found by: its folded words (see `directory.search`)."""

    entity: str
    words: Iterable[tuple[str, str]]


class RecordStore(Protocol):
    def get(self, entity: str, ids: Collection[str]) -> list[Record]: ...

    def children(self, entity: str, key: str, ids: Collection[str]) -> list[Record]:
        """The `entity` records whose foreign key `key` names one of `ids`."""
        ...

    def known(self, entity: str, ids: Collection[str]) -> set[str]:
        """Which of `ids` name an `entity` record."""
        ...

    def lock(self, entity: str, record_id: str) -> Record | None:
        """The record, locked against concurrent writers until the transaction ends."""
        ...

    def organization_of(self, entity: str, record_id: str) -> UUID | None: ...

    def stored(self, entity: str, ids: Collection[str]) -> dict[str, Stored]:
        """The `entity` records with these ids that are there, with their owners, by id."""
        ...

    def put(
        self,
        record: Record,
        *,
        organization_id: UUID | None,
        references: dict[str, str],
        modified_at: datetime,
    ) -> None:
        """Insert or replace the record with its foreign keys."""
        ...

    def put_many(self, puts: Sequence[Put], modified_at: datetime) -> None:
        """Insert or replace the records with their foreign keys (of one id, the last)."""
        ...

    def remove_many(self, keys: Collection[tuple[str, str]]) -> None:
        """Remove the records (entity, id) with their keys, points and words."""
        ...

    def touch(self, entity: str, record_id: str, modified_at: datetime) -> None:
        """Mark a record modified, e.g. a service one of whose children changed."""
        ...

    def touch_many(self, entity: str, ids: Collection[str], modified_at: datetime) -> None: ...

    def place_many(self, points: Sequence[Point]) -> None:
        """Keep where locations are, for searches near a postcode."""
        ...

    def index_words_many(self, entries: dict[str, Indexed]) -> None:
        """Write anew what each record (by id) is found by and listed as."""
        ...

    def services(
        self, query: ServiceQuery, offset: int, limit: int | None
    ) -> tuple[list[str], int]:
        """One page of service ids, best search hits first, then by name; and how many
        match in all. No limit: every one."""
        ...

    def services_at_locations(
        self, query: ServiceQuery, near: Near, offset: int, limit: int | None
    ) -> tuple[list[str], int]: ...

    def organizations(
        self, search: str | None, offset: int, limit: int | None
    ) -> tuple[list[str], int]: ...

    def taxonomies(self, offset: int, limit: int | None) -> tuple[list[str], int]: ...

    def taxonomy_terms(
        self,
        taxonomy_id: UUID | None,
        parent_id: UUID | None,
        top_only: bool,
        offset: int,
        limit: int | None,
    ) -> tuple[list[str], int]: ...

    def count(self, entity: str) -> int: ...

    def every(self) -> list[Record]:
        """Every record, by entity and id."""
        ...


class SqlRecordStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def get(self, entity: str, ids: Collection[str]) -> list[Record]:
        return [found.record for found in self._stored(entity, ids)]

    def stored(self, entity: str, ids: Collection[str]) -> dict[str, Stored]:
        return {found.record.id: found for found in self._stored(entity, ids)}

    def _stored(self, entity: str, ids: Collection[str]) -> list[Stored]:
        rows = [
            row
            for chunk in _chunks(ids)
            for row in self.session.exec(
                select(RecordRow.id, RecordRow.fields, RecordRow.organization_id).where(
                    RecordRow.entity == entity, col(RecordRow.id).in_(chunk)
                )
            ).all()
        ]
        rows.sort(key=lambda row: row[0])
        return [Stored(Record(entity, json.loads(fields)), owner) for _, fields, owner in rows]

    def children(self, entity: str, key: str, ids: Collection[str]) -> list[Record]:
        rows = [
            row
            for chunk in _chunks(ids)
            for row in self.session.exec(
                # The ids from the index of references, then the records by primary key: a
                # join would let SQLite's planner read every record of the entity instead.
                select(RecordRow.id, RecordRow.fields).where(
                    RecordRow.entity == entity,
                    col(RecordRow.id).in_(
                        select(ReferenceRow.id).where(
                            ReferenceRow.entity == entity,
                            ReferenceRow.key == key,
                            col(ReferenceRow.target).in_(chunk),
                        )
                    ),
                )
            ).all()
        ]
        rows.sort(key=lambda row: row[0])
        return [Record(entity, json.loads(fields)) for _, fields in rows]

    def known(self, entity: str, ids: Collection[str]) -> set[str]:
        return {
            str(record_id)
            for chunk in _chunks(ids)
            for record_id in self.session.exec(
                select(RecordRow.id).where(RecordRow.entity == entity, col(RecordRow.id).in_(chunk))
            ).all()
        }

    def lock(self, entity: str, record_id: str) -> Record | None:
        # A write first, which takes PostgreSQL's row lock and SQLite's one writer's lock
        # before anything is read: what is read next is the latest commit, and stays so.
        self.session.execute(
            update(RecordRow)
            .where(col(RecordRow.entity) == entity, col(RecordRow.id) == UUID(record_id))
            .values(modified_at=RecordRow.modified_at)
            .execution_options(synchronize_session=False)
        )
        fields = self.session.exec(
            select(RecordRow.fields).where(
                RecordRow.entity == entity, RecordRow.id == UUID(record_id)
            )
        ).first()
        return Record(entity, json.loads(fields)) if fields is not None else None

    def organization_of(self, entity: str, record_id: str) -> UUID | None:
        return self.session.exec(
            select(RecordRow.organization_id).where(
                RecordRow.entity == entity, RecordRow.id == UUID(record_id)
            )
        ).first()

    def put(
        self,
        record: Record,
        *,
        organization_id: UUID | None,
        references: dict[str, str],
        modified_at: datetime,
    ) -> None:
        self.put_many([Put(record, organization_id, references)], modified_at)

    def put_many(self, puts: Sequence[Put], modified_at: datetime) -> None:
        last = {(put.record.entity, put.record.id): put for put in puts}
        rows = []
        for (entity, record_id), put in last.items():
            name = put.record.fields.get("name")
            rows.append(
                {
                    "entity": entity,
                    "id": UUID(record_id),
                    "fields": json.dumps(put.record.fields, ensure_ascii=False, sort_keys=True),
                    "name": name if isinstance(name, str) else None,
                    "organization_id": put.organization_id,
                    "modified_at": modified_at,
                }
            )
        upsert(self.session, table_of(RecordRow), rows, ("entity", "id"))
        self._delete_references([key for key, put in last.items() if put.replaces])
        references = [
            {"entity": entity, "id": UUID(record_id), "key": key, "target": UUID(target)}
            for (entity, record_id), put in last.items()
            for key, target in put.references.items()
        ]
        upsert(self.session, table_of(ReferenceRow), references, ("entity", "id", "key"))

    def remove_many(self, keys: Collection[tuple[str, str]]) -> None:
        self._delete_references(keys)
        for entity, ids in _by_entity(keys).items():
            for chunk in _chunks(ids):
                self.session.execute(
                    delete(RecordRow)
                    .where(col(RecordRow.entity) == entity, col(RecordRow.id).in_(chunk))
                    .execution_options(synchronize_session=False)
                )
                if entity == "location":
                    self.session.execute(
                        delete(PointRow).where(col(PointRow.location_id).in_(chunk))
                    )
                if entity in ("service", "organization"):
                    self._delete_words(chunk)

    def touch(self, entity: str, record_id: str, modified_at: datetime) -> None:
        self.touch_many(entity, [record_id], modified_at)

    def touch_many(self, entity: str, ids: Collection[str], modified_at: datetime) -> None:
        for chunk in _chunks(ids):
            self.session.execute(
                update(RecordRow)
                .where(col(RecordRow.entity) == entity, col(RecordRow.id).in_(chunk))
                .values(modified_at=modified_at)
                .execution_options(synchronize_session=False)
            )

    def place_many(self, points: Sequence[Point]) -> None:
        rows = {
            point.location_id: {
                "location_id": UUID(point.location_id),
                "postal_code": point.postal_code,
                "latitude": _number(point.latitude),
                "longitude": _number(point.longitude),
            }
            for point in points
        }
        upsert(self.session, table_of(PointRow), list(rows.values()), ("location_id",))

    def index_words_many(self, entries: dict[str, Indexed]) -> None:
        for chunk in _chunks(entries):
            self._delete_words(chunk)
        words = [
            {"record_id": UUID(record_id), "entity": entry.entity, "part": part, "word": word}
            for record_id, entry in entries.items()
            for part, word in set(entry.words)
        ]
        if words:
            self.session.execute(insert(table_of(SearchWordRow)), words)

    def _delete_words(self, ids: Sequence[UUID]) -> None:
        self.session.execute(
            delete(SearchWordRow)
            .where(col(SearchWordRow.record_id).in_(ids))
            .execution_options(synchronize_session=False)
        )

    def services(
        self, query: ServiceQuery, offset: int, limit: int | None
    ) -> tuple[list[str], int]:
        if query.search and query_words(query.search) and _only_search(query):
            # Found and listed through the index of words alone.
            return self._searched("service", query.search, offset, limit)
        service: Any = aliased(RecordRow, name="service_record")
        statement, order = _service_filters(
            select(service.id).where(service.entity == "service"), service, query, self._dialect
        )
        return self._page(statement, [*order, service.name, service.id], offset, limit)

    def services_at_locations(
        self, query: ServiceQuery, near: Near, offset: int, limit: int | None
    ) -> tuple[list[str], int]:
        at: Any = aliased(RecordRow, name="sal")
        service: Any = aliased(RecordRow, name="service_record")
        of_service: Any = aliased(ReferenceRow, name="of_service")
        statement: Select[Any] = (
            select(at.id)
            .join(
                of_service,
                and_(
                    of_service.entity == "service_at_location",
                    of_service.id == at.id,
                    of_service.key == "service_id",
                ),
            )
            .join(service, and_(service.entity == "service", service.id == of_service.target))
            .where(at.entity == "service_at_location")
        )
        statement, order = _service_filters(statement, service, query, self._dialect)
        if near.postal_code is not None or near.metres is not None:
            at_location: Any = aliased(ReferenceRow, name="at_location")
            statement = statement.join(
                at_location,
                and_(
                    at_location.entity == "service_at_location",
                    at_location.id == at.id,
                    at_location.key == "location_id",
                ),
            ).join(PointRow, col(PointRow.location_id) == at_location.target)
            statement = statement.where(_near(near))
        return self._page(statement, [*order, service.name, at.id], offset, limit)

    def organizations(
        self, search: str | None, offset: int, limit: int | None
    ) -> tuple[list[str], int]:
        if query_words(search or ""):
            return self._searched("organization", search or "", offset, limit)
        statement = select(RecordRow.id).where(RecordRow.entity == "organization")
        return self._page(statement, [RecordRow.name, RecordRow.id], offset, limit)

    def _searched(
        self, entity: str, search: str, offset: int, limit: int | None
    ) -> tuple[list[str], int]:
        """The `entity` records the words of `search` find, best hits first, then by id: from
        the index of words alone (listing equal hits by name would read every hit's name)."""
        found, in_name, in_all = _hits(query_words(search), self._dialect, entity)
        statement: Select[Any] = select(found.c.record_id)
        return self._page(
            statement, [in_name.desc(), in_all.desc(), found.c.record_id], offset, limit
        )

    def taxonomies(self, offset: int, limit: int | None) -> tuple[list[str], int]:
        statement = select(RecordRow.id).where(RecordRow.entity == "taxonomy")
        return self._page(statement, [RecordRow.name, RecordRow.id], offset, limit)

    def taxonomy_terms(
        self,
        taxonomy_id: UUID | None,
        parent_id: UUID | None,
        top_only: bool,
        offset: int,
        limit: int | None,
    ) -> tuple[list[str], int]:
        term = RecordRow
        statement = select(term.id).where(term.entity == "taxonomy_term")
        for key, target in (("taxonomy_id", taxonomy_id), ("parent_id", parent_id)):
            if target is not None:
                statement = statement.where(_references(term, key, [target]))
        if top_only:
            statement = statement.where(~_references(term, "parent_id", None))
        return self._page(statement, [term.name, term.id], offset, limit)

    def count(self, entity: str) -> int:
        return self.session.exec(
            select(func.count()).select_from(RecordRow).where(RecordRow.entity == entity)
        ).one()

    def every(self) -> list[Record]:
        rows = self.session.exec(
            select(RecordRow.entity, RecordRow.fields).order_by(
                col(RecordRow.entity), col(RecordRow.id)
            )
        ).all()
        return [Record(entity, json.loads(fields)) for entity, fields in rows]

    def _page(
        self, statement: Select[Any], order: Sequence[Any], offset: int, limit: int | None
    ) -> tuple[list[str], int]:
        # The count rides along with the page (a window over every match), so that a search
        # is worked out once, not once for the page and again for the count.
        paged = statement.add_columns(func.count().over().label("total"))
        paged = paged.order_by(*order).offset(offset)
        if limit is not None:
            paged = paged.limit(limit)
        rows = self.session.execute(paged).all()
        if rows:
            return [str(row[0]) for row in rows], int(rows[0].total)
        # Past the last page (or nothing matches): the count alone.
        total = self.session.exec(select(func.count()).select_from(statement.subquery())).one()
        return [], total

    def _delete_references(self, keys: Collection[tuple[str, str]]) -> None:
        for entity, ids in _by_entity(keys).items():
            for chunk in _chunks(ids):
                self.session.execute(
                    delete(ReferenceRow)
                    .where(col(ReferenceRow.entity) == entity, col(ReferenceRow.id).in_(chunk))
                    .execution_options(synchronize_session=False)
                )


def upsert(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]
) -> None:
    """Insert the rows, or update those whose `keys` are there: one statement, executed
    for many rows (each key once: PostgreSQL refuses to update a row twice in one)."""
    if not rows:
        return
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    changes = {c.name: statement.excluded[c.name] for c in table.columns if c.name not in keys}
    statement = (
        statement.on_conflict_do_update(index_elements=list(keys), set_=changes)
        if changes
        else statement.on_conflict_do_nothing(index_elements=list(keys))
    )
    session.execute(statement, list(rows))


def table_of(model: type[Any]) -> Table:
    table: Table = model.__table__
    return table


def chunked(items: Sequence[T]) -> Iterator[Sequence[T]]:
    """The items, `CHUNK` at a time: each chunk bound in one IN list."""
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _chunks(ids: Iterable[Any]) -> Iterator[Sequence[UUID]]:
    """The ids as UUIDs, `CHUNK` at a time; a text that is no UUID names no stored record
    (a record's check refuses it), so it is left out of the lookup."""
    return chunked(_uuids(i for i in ids if isinstance(i, UUID) or is_uuid(str(i))))


def _by_entity(keys: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for entity, record_id in keys:
        grouped.setdefault(entity, []).append(record_id)
    return grouped


def _service_filters(
    statement: Select[Any], service: Any, query: ServiceQuery, dialect: str
) -> tuple[Select[Any], list[Any]]:
    """The query's conditions on the services `service` stands for, and the order its
    search asks for (best hits first)."""
    if query.organization_id is not None:
        statement = statement.where(service.organization_id == query.organization_id)
    if query.modified_after is not None:
        statement = statement.where(service.modified_at >= query.modified_after)
    if query.taxonomy_term_ids is not None:
        statement = statement.where(_has_attribute(service, list(query.taxonomy_term_ids)))
    if query.taxonomy_id is not None:
        terms = select(ReferenceRow.id).where(
            ReferenceRow.entity == "taxonomy_term",
            ReferenceRow.key == "taxonomy_id",
            ReferenceRow.target == query.taxonomy_id,
        )
        statement = statement.where(_has_attribute(service, terms))
    return _search(statement, service, query.search, dialect)


def _search(
    statement: Select[Any], service: Any, search: str | None, dialect: str
) -> tuple[Select[Any], list[Any]]:
    """Only the services any of the words of `search` finds, and the order that puts the
    best hits first."""
    words = query_words(search or "")
    if not words:
        return statement, []
    found, in_name, in_all = _hits(words, dialect, "service")
    statement = statement.join(found, found.c.record_id == service.id)
    return statement, [in_name.desc(), in_all.desc()]


def _only_search(query: ServiceQuery) -> bool:
    """The query filters by its words alone."""
    return (query.organization_id, query.modified_after, query.taxonomy_term_ids) == (
        None,
        None,
        None,
    ) and query.taxonomy_id is None


def _has_attribute(service: Any, terms: Any) -> ColumnElement[bool]:
    """The service has an attribute naming one of `terms` (ids, or a subquery of them)."""
    link: Any = aliased(ReferenceRow, name="link")
    term: Any = aliased(ReferenceRow, name="term")
    return exists().where(
        link.entity == "attribute",
        link.key == "link_id",
        link.target == service.id,
        term.entity == "attribute",
        term.id == link.id,
        term.key == "taxonomy_term_id",
        term.target.in_(terms),
    )


def _references(record: Any, key: str, targets: list[UUID] | None) -> ColumnElement[bool]:
    """The record has the foreign key `key` (naming one of `targets`, if given)."""
    conditions = [
        ReferenceRow.entity == record.entity,
        ReferenceRow.id == record.id,
        ReferenceRow.key == key,
    ]
    if targets is not None:
        conditions.append(col(ReferenceRow.target).in_(targets))
    return exists().where(*conditions)


def _near(near: Near) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = []
    if near.metres is not None and near.latitude is not None and near.longitude is not None:
        # Squared metres on a plane through the point: no square root or trigonometry in
        # SQL, the same on SQLite and PostgreSQL.
        across = METRES_PER_DEGREE * math.cos(math.radians(near.latitude))
        north = (col(PointRow.latitude) - near.latitude) * METRES_PER_DEGREE
        east = (col(PointRow.longitude) - near.longitude) * across
        conditions.append(north * north + east * east <= near.metres * near.metres)
    elif near.postal_code is not None:
        conditions.append(col(PointRow.postal_code) == near.postal_code)
    return and_(*conditions) if conditions else true()


def _hits(
    words: list[str], dialect: str, entity: str
) -> tuple[Any, ColumnElement[int], ColumnElement[int]]:
    """The records any of the words starts a word of (a subquery with `record_id`), and
    for each how many of the words its name matches and how many it matches in all.

    One index range per word, their rows put together (each row says which word it met),
    then counted per record: no word is matched twice."""
    row = SearchWordRow
    met = union_all(
        *(
            select(
                col(row.record_id),
                case((col(row.part) == "name", 1), else_=0).label("in_name"),
                literal(k).label("word"),
            ).where(col(row.entity) == entity, _starts(col(row.word), word, dialect))
            for k, word in enumerate(words)
        )
    ).subquery()
    in_name = [
        func.max(case((and_(met.c.word == k, met.c.in_name == 1), 1), else_=0)).label(f"name_{k}")
        for k in range(len(words))
    ]
    in_all = [
        func.max(case((met.c.word == k, 1), else_=0)).label(f"any_{k}") for k in range(len(words))
    ]
    found = (
        select(met.c.record_id.label("record_id"), *in_name, *in_all)
        .group_by(met.c.record_id)
        .subquery()
    )

    def total(labels: list[Any]) -> ColumnElement[int]:
        columns = [found.c[label.name] for label in labels]
        result: ColumnElement[int] = columns[0]
        for column in columns[1:]:
            result = result + column
        return result

    return found, total(in_name), total(in_all)


def _starts(word_column: Any, prefix: str, dialect: str) -> ColumnElement[bool]:
    """`word_column` begins with `prefix`, in the form each database answers from an index:
    PostgreSQL's LIKE 'x%' (the index has text_pattern_ops), SQLite's GLOB 'x*' (its LIKE
    ignores case, and so uses no index). Folded words hold letters and digits only: no
    wildcard to escape."""
    if dialect == "sqlite":
        glob: ColumnElement[bool] = word_column.op("GLOB", is_comparison=True)(f"{prefix}*")
        return glob
    like: ColumnElement[bool] = word_column.like(f"{prefix}%")
    return like


def _when(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)


def _uuids(ids: Iterable[Any]) -> list[UUID]:
    return [i if isinstance(i, UUID) else UUID(str(i)) for i in ids]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None
