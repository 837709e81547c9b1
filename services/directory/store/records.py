"""The HSDS publication in SQL: records by entity and id, their foreign keys one row each,
and the queries of the HSDS API's lists, each one statement whatever the page size."""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import ColumnElement, Select, and_, case, delete, exists, func, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from directory.hsds.records import Record
from directory.search import query_words
from directory.store.tables import PointRow, RecordRow, ReferenceRow, SearchWordRow

METRES_PER_DEGREE = 111_320.0
"""Of latitude everywhere, and of longitude at the equator: close enough within a city."""


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

    def remove(self, entity: str, record_id: str) -> None: ...

    def touch(self, entity: str, record_id: str, modified_at: datetime) -> None:
        """Mark a record modified, e.g. a service one of whose children changed."""
        ...

    def place(
        self, location_id: str, postal_code: str | None, latitude: Any, longitude: Any
    ) -> None:
        """Keep where a location is, for searches near a postcode."""
        ...

    def index_words(self, record_id: str, words: Iterable[tuple[str, str]]) -> None:
        """Write anew the (part, folded word) pairs a service or organisation is found by."""
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

    def get(self, entity: str, ids: Collection[str]) -> list[Record]:
        if not ids:
            return []
        rows = self.session.exec(
            select(RecordRow.id, RecordRow.fields)
            .where(RecordRow.entity == entity, col(RecordRow.id).in_(_uuids(ids)))
            .order_by(col(RecordRow.id))
        ).all()
        return [Record(entity, json.loads(fields)) for _, fields in rows]

    def children(self, entity: str, key: str, ids: Collection[str]) -> list[Record]:
        if not ids:
            return []
        rows = self.session.exec(
            select(RecordRow.fields)
            .join(
                ReferenceRow,
                and_(
                    col(ReferenceRow.entity) == col(RecordRow.entity),
                    col(ReferenceRow.id) == col(RecordRow.id),
                ),
            )
            .where(
                ReferenceRow.entity == entity,
                ReferenceRow.key == key,
                col(ReferenceRow.target).in_(_uuids(ids)),
            )
            .order_by(col(RecordRow.id))
        ).all()
        return [Record(entity, json.loads(fields)) for fields in rows]

    def known(self, entity: str, ids: Collection[str]) -> set[str]:
        if not ids:
            return set()
        found = self.session.exec(
            select(RecordRow.id).where(
                RecordRow.entity == entity, col(RecordRow.id).in_(_uuids(ids))
            )
        ).all()
        return {str(record_id) for record_id in found}

    def lock(self, entity: str, record_id: str) -> Record | None:
        fields = self.session.exec(
            select(RecordRow.fields)
            .where(RecordRow.entity == entity, RecordRow.id == UUID(record_id))
            .with_for_update()  # a row lock on PostgreSQL; SQLite has one writer anyway
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
        record_id = UUID(record.id)
        row = self.session.get(RecordRow, (record.entity, record_id))
        fields = json.dumps(record.fields, ensure_ascii=False, sort_keys=True)
        name = record.fields.get("name")
        name = name if isinstance(name, str) else None
        if row is None:
            self.session.add(
                RecordRow(
                    entity=record.entity,
                    id=record_id,
                    fields=fields,
                    name=name,
                    organization_id=organization_id,
                    modified_at=modified_at,
                )
            )
        else:
            row.fields, row.name = fields, name
            row.organization_id, row.modified_at = organization_id, modified_at
        self._delete_references(record.entity, record_id)
        self.session.add_all(
            ReferenceRow(entity=record.entity, id=record_id, key=key, target=UUID(target))
            for key, target in references.items()
        )
        self.session.flush()

    def remove(self, entity: str, record_id: str) -> None:
        self._delete_references(entity, UUID(record_id))
        self.session.execute(
            delete(RecordRow)
            .where(col(RecordRow.entity) == entity, col(RecordRow.id) == UUID(record_id))
            .execution_options(synchronize_session=False)
        )
        if entity == "location":
            self.session.execute(
                delete(PointRow).where(col(PointRow.location_id) == UUID(record_id))
            )
        if entity in ("service", "organization"):
            self.index_words(record_id, ())

    def touch(self, entity: str, record_id: str, modified_at: datetime) -> None:
        self.session.execute(
            update(RecordRow)
            .where(col(RecordRow.entity) == entity, col(RecordRow.id) == UUID(record_id))
            .values(modified_at=modified_at)
            .execution_options(synchronize_session=False)
        )

    def place(
        self, location_id: str, postal_code: str | None, latitude: Any, longitude: Any
    ) -> None:
        self.session.merge(
            PointRow(
                location_id=UUID(location_id),
                postal_code=postal_code,
                latitude=_number(latitude),
                longitude=_number(longitude),
            )
        )
        self.session.flush()

    def index_words(self, record_id: str, words: Iterable[tuple[str, str]]) -> None:
        self.session.execute(
            delete(SearchWordRow)
            .where(col(SearchWordRow.record_id) == UUID(record_id))
            .execution_options(synchronize_session=False)
        )
        self.session.add_all(
            SearchWordRow(record_id=UUID(record_id), part=part, word=word)
            for part, word in set(words)
        )
        self.session.flush()

    def services(
        self, query: ServiceQuery, offset: int, limit: int | None
    ) -> tuple[list[str], int]:
        service = aliased(RecordRow, name="service_record")
        statement, order = _service_filters(
            select(service.id).where(service.entity == "service"), service, query
        )
        return self._page(statement, [*order, service.name, service.id], offset, limit)

    def services_at_locations(
        self, query: ServiceQuery, near: Near, offset: int, limit: int | None
    ) -> tuple[list[str], int]:
        at = aliased(RecordRow, name="sal")
        service = aliased(RecordRow, name="service_record")
        of_service = aliased(ReferenceRow, name="of_service")
        statement = (
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
        statement, order = _service_filters(statement, service, query)
        if near.postal_code is not None or near.metres is not None:
            at_location = aliased(ReferenceRow, name="at_location")
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
        statement = select(RecordRow.id).where(RecordRow.entity == "organization")
        statement, order = _search(statement, RecordRow, search)
        return self._page(statement, [*order, RecordRow.name, RecordRow.id], offset, limit)

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
        total = self.session.exec(select(func.count()).select_from(statement.subquery())).one()
        statement = statement.order_by(*order).offset(offset)
        if limit is not None:
            statement = statement.limit(limit)
        return [str(row[0]) for row in self.session.execute(statement)], total

    def _delete_references(self, entity: str, record_id: UUID) -> None:
        self.session.execute(
            delete(ReferenceRow)
            .where(col(ReferenceRow.entity) == entity, col(ReferenceRow.id) == record_id)
            .execution_options(synchronize_session=False)
        )


def _service_filters(
    statement: Select[Any], service: Any, query: ServiceQuery
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
    return _search(statement, service, query.search)


def _search(
    statement: Select[Any], record: Any, search: str | None
) -> tuple[Select[Any], list[Any]]:
    """Only the records any of the words of `search` finds, and the order that puts the
    best hits first."""
    words = query_words(search or "")
    if not words:
        return statement, []
    found, in_name, in_all = _hits(words)
    statement = statement.join(found, found.c.record_id == record.id)
    return statement, [in_name.desc(), in_all.desc()]


def _has_attribute(service: Any, terms: Any) -> ColumnElement[bool]:
    """The service has an attribute naming one of `terms` (ids, or a subquery of them)."""
    link = aliased(ReferenceRow, name="link")
    term = aliased(ReferenceRow, name="term")
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
    return and_(*conditions) if conditions else or_(True)


def _hits(words: list[str]) -> tuple[Any, ColumnElement[int], ColumnElement[int]]:
    """The services any of the words starts a word of (a subquery with `service_id`), and
    for each how many of the words its name matches and how many it matches in all."""
    row = SearchWordRow
    # Folded words hold letters and digits only: no LIKE wildcard to escape.
    starts = [col(row.word).like(f"{word}%") for word in words]
    in_name = [
        func.max(_when(and_(like, col(row.part) == "name"))).label(f"name_{i}")
        for i, like in enumerate(starts)
    ]
    in_all = [func.max(_when(like)).label(f"any_{i}") for i, like in enumerate(starts)]
    found = (
        select(col(row.record_id), *in_name, *in_all)
        .where(or_(*starts))
        .group_by(col(row.record_id))
        .subquery()
    )

    def total(labels: list[Any]) -> ColumnElement[int]:
        columns = [found.c[label.name] for label in labels]
        result: ColumnElement[int] = columns[0]
        for column in columns[1:]:
            result = result + column
        return result

    return found, total(in_name), total(in_all)


def _when(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)


def _uuids(ids: Collection[str]) -> list[UUID]:
    return [UUID(str(record_id)) for record_id in ids]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None
