"""Filling the directory from HSDS files, and with the demo: one organisation at a time, each
whole or not at all."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from uuid import UUID

from sqlalchemy.exc import IntegrityError

from directory import demo
from directory.hsds import brobygger, vocabulary
from directory.hsds.records import Record, Rejection
from directory.services.common import (
    Clock,
    Editor,
    Forbidden,
    Rejected,
    UnitOfWorkFactory,
)
from directory.services.writing import owners, save
from runtime.storage import utcnow

DEMO = Editor("brobygger demo")
DIRECTORY = Editor("brobygger")


@dataclass
class Imported:
    """What an import did: counts, and each record it could not take, with why."""

    organizations: int = 0
    created: int = 0
    changed: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    refused_organizations: int = 0
    """Organisations left as they were, because one of their records was rejected."""


def import_records(
    records: Sequence[Record],
    editor: Editor,
    start_uow: UnitOfWorkFactory,
    clock: Clock = utcnow,
    *,
    where: Mapping[tuple[str, str], str] | None = None,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> Imported:
    """Upsert `records` by id: the directory's own records first (vocabularies, and records
    of no organisation, which only operators change), then each organisation with
    everything of it, in a transaction of its own; an organisation one of whose records is
    rejected is left as it was, and the others are imported. `where` names the place each
    record was read from, for the rejections."""
    result = Imported()
    groups = _by_organization(records, start_uow)
    for done, (organization_id, group) in enumerate(sorted(groups.items(), key=_shared_first)):
        with start_uow() as uow:
            try:
                saved = save(group, editor, uow, clock(), where=where)
            except Rejected as rejected:
                result.rejected += rejected.rejections
                result.refused_organizations += organization_id is not None
            except Forbidden as forbidden:
                result.rejected.append(
                    Rejection(f"organization {organization_id}", None, str(forbidden))
                )
                result.refused_organizations += organization_id is not None
            else:
                uow.commit()
                result.organizations += organization_id is not None
                result.created += saved.created
                result.changed += saved.changed
                result.unchanged += saved.unchanged
        progress(done + 1, len(groups))
    return result


def keep_vocabulary(start_uow: UnitOfWorkFactory, clock: Clock = utcnow) -> int:
    """Write Brobygger's taxonomies, their terms and the unit of places as this version has
    them (on every start: what services are tagged with and counted in); how many records
    that created or changed."""
    with start_uow() as uow:
        try:
            now = clock()
            saved = save(
                [
                    *vocabulary.taxonomy_records(),
                    *vocabulary.taxonomy_term_records(),
                    brobygger.places_unit(),
                ],
                DIRECTORY,
                uow,
                now,
            )
            uow.commit()
        except IntegrityError:
            # Another replica wrote the same stable ids between the read and now.
            return 0
    return saved.created + saved.changed


def seed_demo(start_uow: UnitOfWorkFactory, clock: Clock = utcnow) -> bool:
    """Fill an empty directory with the demo communities, and tell who follows the
    directory's services of each; True if it did.

    A directory that has any organisation is left alone, so restarts change nothing.
    """
    with start_uow() as uow:
        if uow.records.count("organization"):
            return False
        try:
            # The same records on every replica and every run: one that seeds after another
            # (between its count and now) changes and announces nothing.
            saved = save(demo.records(demo.AS_OF), DEMO, uow, clock())
            uow.commit()
        except IntegrityError:
            # Another replica seeded the same stable ids between the count and now.
            return False
    return saved.created > 0


def _by_organization(
    records: Sequence[Record], start_uow: UnitOfWorkFactory
) -> dict[UUID | None, list[Record]]:
    groups: dict[UUID | None, list[Record]] = {}
    with start_uow() as uow:
        whose = owners(records, uow)
    for record in records:
        groups.setdefault(whose[record.entity, record.id], []).append(record)
    return groups


def _shared_first(item: tuple[UUID | None, list[Record]]) -> tuple[bool, str]:
    return item[0] is not None, str(item[0])
