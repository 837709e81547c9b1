"""Reading the directory as the HSDS 3.0 API serves it: one record fully nested, or a page
of records in the list form (one-to-one fields only) or fully nested."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from directory.geography import postcode_centre
from directory.hsds import nested
from directory.hsds.records import Record
from directory.hsds.vocabulary import sibling_terms
from directory.services.common import NotFound, UnitOfWork, UnitOfWorkFactory
from directory.store import Near, ServiceQuery

STREAM_BATCH = 500
"""Records nested per query when a list is streamed whole (`format=ndjson`)."""


@dataclass(frozen=True)
class Paging:
    page: int
    """From 1."""
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


@dataclass(frozen=True)
class Page:
    """One page of an HSDS list, with the counts the HSDS `Page` object has."""

    contents: list[dict[str, Any]]
    total_items: int
    paging: Paging


def one(kind: str, record_id: UUID, start_uow: UnitOfWorkFactory, **form: bool) -> dict[str, Any]:
    """The record of `kind` fully nested (an organisation with its services when
    `full_service`); `NotFound` if there is none."""
    with start_uow() as uow:
        roots = uow.records.get(kind, [str(record_id)])
        if not roots:
            raise NotFound(f"no {kind} {record_id}")
        return nested.nest_many(kind, roots, uow.records, **form)[0]


def services(
    query: ServiceQuery,
    paging: Paging,
    start_uow: UnitOfWorkFactory,
    *,
    full: bool = False,
    minimal: bool = False,
) -> Page:
    """A page of the services that meet every filter of `query`."""
    with start_uow() as uow:
        ids, total = uow.records.services(_resolved(query, uow), paging.offset, paging.per_page)
        return Page(_services(uow, ids, full=full, minimal=minimal), total, paging)


def all_services(
    query: ServiceQuery, start_uow: UnitOfWorkFactory, *, full: bool = False
) -> Iterator[dict[str, Any]]:
    """Every service that meets `query`, one after the other, as `format=ndjson` streams
    them: the ids in one query, then nested a batch at a time."""
    with start_uow() as uow:
        ids, _ = uow.records.services(_resolved(query, uow), 0, None)
        for start in range(0, len(ids), STREAM_BATCH):
            yield from _services(uow, ids[start : start + STREAM_BATCH], full=full, minimal=False)


def services_at_locations(
    query: ServiceQuery,
    near: Near,
    paging: Paging,
    start_uow: UnitOfWorkFactory,
    *,
    full: bool = False,
) -> Page:
    """A page of services at locations whose service meets `query`, at locations `near`
    (a postcode alone: its locations; with a distance: within it of the postcode's centre)."""
    with start_uow() as uow:
        ids, total = uow.records.services_at_locations(
            _resolved(query, uow), _centred(near), paging.offset, paging.per_page
        )
        return Page(_nested(uow, "service_at_location", ids, full), total, paging)


def organizations(
    search: str | None,
    paging: Paging,
    start_uow: UnitOfWorkFactory,
    *,
    full: bool = False,
    full_service: bool = False,
) -> Page:
    with start_uow() as uow:
        ids, total = uow.records.organizations(search, paging.offset, paging.per_page)
        roots = uow.records.get("organization", ids)
        contents = (
            nested.nest_many("organization", _in_order(roots, ids), uow.records, full_service=True)
            if full_service
            else _nested(uow, "organization", ids, full)
        )
        return Page(contents, total, paging)


def taxonomies(paging: Paging, start_uow: UnitOfWorkFactory) -> Page:
    with start_uow() as uow:
        ids, total = uow.records.taxonomies(paging.offset, paging.per_page)
        return Page(_nested(uow, "taxonomy", ids, True), total, paging)


def taxonomy_terms(
    taxonomy_id: UUID | None,
    parent_id: UUID | None,
    top_only: bool,
    paging: Paging,
    start_uow: UnitOfWorkFactory,
) -> Page:
    with start_uow() as uow:
        ids, total = uow.records.taxonomy_terms(
            taxonomy_id, parent_id, top_only, paging.offset, paging.per_page
        )
        return Page(_nested(uow, "taxonomy_term", ids, True), total, paging)


def _resolved(query: ServiceQuery, uow: UnitOfWork) -> ServiceQuery:
    """A term stands for itself and, for the directory's own vocabularies, its wording in
    the other languages: a service tagged 'walking' is found by 'gåture' and 'promenader'."""
    if query.taxonomy_term_ids is None:
        return query
    terms = {term for given in query.taxonomy_term_ids for term in sibling_terms(given)}
    return replace(query, taxonomy_term_ids=sorted(terms))


def _centred(near: Near) -> Near:
    if near.metres is None or near.postal_code is None:
        return near
    centre = postcode_centre(near.postal_code)
    if centre is None:
        raise NotFound(f"no known centre of postcode {near.postal_code}")
    return Near(latitude=centre[0], longitude=centre[1], metres=near.metres)


def _services(
    uow: UnitOfWork, ids: list[str], *, full: bool, minimal: bool
) -> list[dict[str, Any]]:
    if minimal:
        roots = _in_order(uow.records.get("service", ids), ids)
        return [
            {
                key: root.fields[key]
                for key in ("id", "name", "status", "last_modified")
                if key in root.fields
            }
            for root in roots
        ]
    return _nested(uow, "service", ids, full)


def _nested(uow: UnitOfWork, kind: str, ids: list[str], full: bool) -> list[dict[str, Any]]:
    roots = _in_order(uow.records.get(kind, ids), ids)
    return nested.nest_many(kind if full else f"{kind}_list", roots, uow.records)


def _in_order(roots: list[Any], ids: list[str]) -> list[Any]:
    by_id = {root.id: root for root in roots}
    return [by_id[record_id] for record_id in ids if record_id in by_id]


def all_records(start_uow: UnitOfWorkFactory) -> list[Record]:
    """Every record of the directory, as the tabular form holds them."""
    with start_uow() as uow:
        return uow.records.every()


def export_documents(
    start_uow: UnitOfWorkFactory,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The directory as HSDS JSON: every organisation fully nested with its services, and
    every taxonomy and term (also those no service uses)."""
    with start_uow() as uow:
        ids, _ = uow.records.organizations(None, 0, None)
        roots = _in_order(uow.records.get("organization", ids), ids)
        organizations = nested.nest_many("organization", roots, uow.records, full_service=True)
        return (
            organizations,
            _nested(uow, "taxonomy", uow.records.taxonomies(0, None)[0], True),
            _nested(
                uow,
                "taxonomy_term",
                uow.records.taxonomy_terms(None, None, False, 0, None)[0],
                True,
            ),
        )
