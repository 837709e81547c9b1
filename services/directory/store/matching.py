"""The view of the directory that matching reads: each service with what matching needs,
read from its HSDS records (see `directory.hsds.brobygger`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import time
from functools import cache
from itertools import combinations
from math import inf
from typing import Any, NamedTuple, Protocol, cast
from uuid import UUID

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ColumnElement,
    CursorResult,
    Float,
    Integer,
    Select,
    Text,
    and_,
    any_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    not_,
    or_,
    union_all,
    update,
)
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from directory.domain import (
    DEFAULT_WEIGHTS,
    SCORE_DECIMALS,
    WHEELCHAIR_NEED,
    Exclusion,
    Location,
    Referral,
    Service,
    ServiceAtLocation,
    ServiceStatus,
    TimeOfDay,
    WeeklySchedule,
    Weights,
    closeness,
    distance_km,
    scores_rounding_as,
)
from directory.geography import DISTRICTS, district_named
from directory.store.records import chunked, table_of, upsert
from directory.store.tables import LocationRow, ReachRow, ServiceRow, ServiceTermRow

INTEREST, LANGUAGE, TARGET_GROUP = "interest", "language", "target_group"
TAXONOMY_OF_FIELD = {"interests": INTEREST, "languages": LANGUAGE, "target_groups": TARGET_GROUP}
INTEREST_PAIR = "interest_pair"
"""Two of a service's interests (see `_pairs`), one `service_term` row for each pair: the
few services sharing two or more of a referral's interests are found from the short
posting lists of its pairs, not from the long ones of each interest."""

# The terms numbered in a service row's bits, so that ranking tests terms with bitwise AND
# instead of a join. Append only, and re-project the services when appending: a stored
# row's bits say nothing of a term numbered after it was written. A term not numbered here
# still matches exactly, through `service_term` (see `other_terms`), only slower.
NUMBERED = {
    INTEREST: (
        "cards", "chess", "cooking", "crafts", "culture", "dancing", "digital", "exercise",
        "excursions", "faith", "gardening", "games", "knitting", "meals", "music", "nature",
        "reading", "singing", "talk", "walking",
    ),
    TARGET_GROUP: (
        "dementia", "hard_to_leave_home", "hearing_impairment", "mental_disability",
        "minority_background", "older_people", "physical_disability", "visual_impairment",
        "wheelchair_access",
    ),
    LANGUAGE: (
        "da", "en", "sv", "no", "nb", "nn", "de", "fr", "es", "it", "pl", "uk", "ru", "ar",
        "tr", "ur", "fa", "so", "ps", "ti", "sq", "bs", "hr", "sr", "ro", "vi", "zh", "ta",
        "hi", "pa", "ku", "fi", "is", "nl", "pt", "tl", "th", "lt", "lv", "et",
    ),
}  # fmt: skip
BITS_COLUMN = {
    INTEREST: col(ServiceRow.interest_bits),
    TARGET_GROUP: col(ServiceRow.target_group_bits),
    LANGUAGE: col(ServiceRow.language_bits),
}
PART_OF_DAY_BIT = {part: 1 << k for k, part in enumerate(TimeOfDay)}
NEAR_COLUMNS = tuple(getattr(ServiceRow, f"near_{k}") for k in range(len(DISTRICTS)))
SLACK = 8
"""Rows fetched beyond the matches asked for, so that a tie at the last place rarely needs
a second query (see `best_fits`)."""
NOWHERE = len(DISTRICTS)
"""The area of a service whose location is near no district's centroid, or unknown."""
MARGIN = 1e-9
"""Added to each batch's bound: far more than the rounding of a sum of a few floats, far
less than a hundredth, the steps scores are ranked in."""


class ServiceRepository(Protocol):
    def project(self, found: ServiceAtLocation) -> None:
        """Write the service and its location as matching is to see them now."""
        ...

    def close(self, service_id: UUID) -> bool:
        """Nothing more is to be matched to the service (its records no longer say what
        matching needs); whether it was open."""
        ...

    def project_many(self, found: Sequence[ServiceAtLocation]) -> None:
        """`project` for many services: a statement per table, whatever their number."""
        ...

    def close_many(self, service_ids: Collection[UUID]) -> list[ServiceAtLocation]:
        """`close` for many services: those of them that were open, now closed."""
        ...

    def get(self, service_id: UUID) -> ServiceAtLocation | None: ...

    def take_place(self, service_id: UUID) -> bool:
        """One free place fewer, if one is free; whether it took one."""
        ...

    def give_place_back(self, service_id: UUID) -> bool:
        """One free place more, if that stays within the capacity; whether it gave one."""
        ...

    def all(self) -> list[ServiceAtLocation]: ...

    def best_fits(
        self, referral: Referral, *, max_matches: int, weights: Weights
    ) -> list[ServiceAtLocation]:
        """The services `domain.rank` would put first for the referral, at most
        `max_matches`, in no particular order: all of them fit."""
        ...

    def exclusions(self, referral: Referral) -> dict[Exclusion, int]:
        """How many services do not fit the referral, by the first criterion of `assess`
        each fails; only the criteria that rule some out."""
        ...


class SqlServiceRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def project(self, found: ServiceAtLocation) -> None:
        self.project_many([found])

    def project_many(self, found: Sequence[ServiceAtLocation]) -> None:
        last = {each.service.id: each for each in found}
        locations = {each.location.id: location_row(each.location) for each in last.values()}
        # Locations first: services refer to them.
        rows = [_columns(row) for row in locations.values()]
        upsert(self.session, table_of(LocationRow), rows, ("id",))
        rows = [_columns(service_row(each)) for each in last.values()]
        upsert(self.session, table_of(ServiceRow), rows, ("id",))
        for chunk in chunked(list(last)):
            self.session.execute(
                delete(ServiceTermRow)
                .where(col(ServiceTermRow.service_id).in_(chunk))
                .execution_options(synchronize_session=False)
            )
        near = {service_id: _nearness(each.location) for service_id, each in last.items()}
        area = {service_id: _area(nearness) for service_id, nearness in near.items()}
        terms = [
            {
                "service_id": service.id,
                "taxonomy": taxonomy,
                "term": term,
                "area": area[service.id],
                "target_group_bits": _bits(TARGET_GROUP, set(service.target_groups)),
            }
            for service in (each.service for each in last.values())
            for taxonomy, some in (
                *(
                    (taxonomy, set(getattr(service, name)))
                    for name, taxonomy in TAXONOMY_OF_FIELD.items()
                ),
                (INTEREST_PAIR, _pairs(service.interests)),
            )
            for term in some
        ]
        if terms:
            self.session.execute(insert(table_of(ServiceTermRow)), terms)
        highest: dict[tuple[int, int], float] = {}
        for service_id, nearness in near.items():
            for home, each in enumerate(nearness):
                key = (home, area[service_id])
                highest[key] = max(each, highest.get(key, 0.0))
        self._raise_reach(highest)

    def _raise_reach(self, highest: dict[tuple[int, int], float]) -> None:
        """Raise each (home, area)'s closeness in `service_reach` to `highest`'s, where
        that is higher (from every home, for an area not there yet): matching's bounds
        stay bounds."""
        found = self.session.execute(select(ReachRow.home, ReachRow.area, ReachRow.closeness))
        known = {(home, area): most for home, area, most in found}
        rows = [
            {"home": home, "area": area, "closeness": most}
            for (home, area), most in sorted(highest.items())
            if most > known.get((home, area), -inf)
        ]
        if not rows:
            return
        # Raised in the statement, not from what was read: a concurrent projection may have
        # raised it since. In key order, so that two of them never lock crosswise.
        dialect = postgresql if self._on_postgresql() else sqlite
        statement = dialect.insert(table_of(ReachRow))
        stored, new = col(ReachRow.closeness), statement.excluded.closeness
        self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["home", "area"],
                set_={"closeness": case((new > stored, new), else_=stored)},
            ),
            rows,
        )

    def close_many(self, service_ids: Collection[UUID]) -> list[ServiceAtLocation]:
        closed: list[ServiceAtLocation] = []
        for chunk in chunked(list(service_ids)):
            open_ = self.session.exec(
                select(ServiceRow.id).where(
                    col(ServiceRow.id).in_(chunk),
                    col(ServiceRow.status) != ServiceStatus.INACTIVE.value,
                )
            ).all()
            if open_:
                self.session.execute(
                    update(ServiceRow)
                    .where(col(ServiceRow.id).in_(open_))
                    .values(status=ServiceStatus.INACTIVE.value)
                    .execution_options(synchronize_session=False)
                )
                closed += self._load(list(open_))
        return closed

    def close(self, service_id: UUID) -> bool:
        return self._update(
            service_id,
            {"status": ServiceStatus.INACTIVE.value},
            col(ServiceRow.status) != ServiceStatus.INACTIVE.value,
        )

    def get(self, service_id: UUID) -> ServiceAtLocation | None:
        found = self.session.connection().execute(_READ.one, {"id": service_id}).all()
        return self._to_domain(found)[0] if found else None

    def take_place(self, service_id: UUID) -> bool:
        # Relative and conditional in one statement: the row's current value counts, not
        # one read earlier, and concurrent takers queue on the row lock.
        return self._update(
            service_id,
            {"free_places": col(ServiceRow.free_places) - 1},
            col(ServiceRow.free_places) > 0,
        )

    def give_place_back(self, service_id: UUID) -> bool:
        return self._update(
            service_id,
            {"free_places": col(ServiceRow.free_places) + 1},
            col(ServiceRow.free_places) < col(ServiceRow.capacity),
        )

    def all(self) -> list[ServiceAtLocation]:
        return self._to_domain(self.session.connection().execute(_READ.every).all())

    def best_fits(
        self, referral: Referral, *, max_matches: int, weights: Weights
    ) -> list[ServiceAtLocation]:
        # `rank` orders by (full, rounded score, more free places, name, id). The services
        # that fit come in batches (shared interests x area, see `_batches`), each with a
        # bound on its scores; they are visited best bound first, a statement per round of
        # batches, until no batch left can reach the last place's rounded score. SQL orders
        # by the unrounded score, computed as `assess` computes it, operation for operation,
        # and the rows that round alike at the last place are then told apart as `rank`
        # does.
        if max_matches < 1:
            return []
        slots = _slots(referral)
        statements = _statements(slots, self._on_postgresql())
        values = _values(referral, weights)
        fetched = max_matches + SLACK
        # Core, not the ORM: these are rows of values, not entities to keep track of.
        connection = self.session.connection()
        left, visited, step = self._batches(referral, weights), list[_Batch](), 1
        rows: list[Any] = []
        while True:
            floor = _floor(rows, max_matches)
            if not (left := [batch for batch in left if batch.bound >= floor]):
                break
            # One batch first (the best may well decide), then twice as many each round:
            # a few statements even when the best batches hold little.
            taken = _first(left, step)
            left, visited, step = left[len(taken) :], visited + taken, step * 2
            found = connection.execute(
                statements.best, {**values, **_visiting(taken, slots), "fetched": fetched}
            ).all()
            # The best of the batches visited so far, as one statement over them all would
            # have fetched them.
            rows = sorted([*rows, *found], key=_row_order)[:fetched]
        if len(rows) <= max_matches:
            return self._load([row.id for row in rows])
        last = rows[max_matches - 1]
        low, high = scores_rounding_as(round(last.score, SCORE_DECIMALS))
        if len(rows) < fetched or rows[-1].full != last.full or rows[-1].score < low:
            # Every row that rounds as the last place does was fetched: picked as `rank`
            # orders them, only those are read whole.
            picked = sorted(rows, key=_rank_order)[:max_matches]
            return self._load([row.id for row in picked])
        # More rows round alike at the last place than were fetched: the ones above it,
        # then those with the most free places, by name and id, as `rank` picks them. None
        # of them is in a batch left unvisited: those all score below `low`.
        ids = self.session.execute(
            statements.tied,
            {
                **values,
                **_visiting(visited, slots),
                "last_full": last.full,
                "low": low,
                "high": high,
                "fetched": max_matches,
            },
        ).scalars()
        return self._load(list(ids))

    def _batches(self, referral: Referral, weights: Weights) -> list[_Batch]:
        """The batches the services that fit the referral fall in, best bound first: by
        how many of its interests they share (none: they fit by a target group alone), by
        which of its needs they have as target groups, and by area, bounded by the highest
        closeness any of the area's locations has had to the referral's district
        (`service_reach`). No batch when no service has any of its languages: none fits,
        and visiting them all would only show that."""
        home = _home(referral)
        # An area's first projection writes its reach from every home (see `_raise_reach`).
        reach = (
            self.session.connection()
            .execute(_READ.reach, {"home": home or 0, "languages": sorted(referral.languages)})
            .all()
        )
        if not all(speaks for _, _, speaks in reach):
            return []
        # `assess`'s sum, term by term in its order, each term at its highest: the terms
        # that depend on neither the batch's interests nor its area worked out once.
        distance = {
            area: max(0.0, weights.distance * (0.0 if home is None else most))
            for area, most, _ in reach
        }
        accessibility = weights.accessibility if WHEELCHAIR_NEED in referral.needs else 0.0
        time_of_day, free_places = max(0.0, weights.time_of_day), max(0.0, weights.free_places)
        needs = _bits(TARGET_GROUP, set(referral.needs))
        unnumbered = len(referral.needs - set(NUMBERED[TARGET_GROUP]))
        in_groups = {
            groups: max(0.0, weights.target_group * (groups.bit_count() + unnumbered))
            for groups in _subsets(needs)
        }
        batches: list[_Batch] = []
        for shared in range(0 if referral.needs else 1, len(referral.interests) + 1):
            interest = weights.interest * shared + weights.language
            for groups, target_group in in_groups.items():
                if not (shared or groups or unnumbered):
                    continue
                batches += [
                    _Batch(
                        shared,
                        groups,
                        area,
                        interest
                        + near
                        + accessibility
                        + time_of_day
                        + free_places
                        + target_group
                        + MARGIN,
                    )
                    for area, near in distance.items()
                ]
        return sorted(batches, key=lambda batch: -batch.bound)

    def exclusions(self, referral: Referral) -> dict[Exclusion, int]:
        counts = self.session.execute(
            _statements(_slots(referral), self._on_postgresql()).excluded,
            _values(referral, DEFAULT_WEIGHTS),
        ).one()
        return {reason: n for reason, n in zip(Exclusion, counts, strict=True) if n}

    def _load(self, ids: list[UUID]) -> list[ServiceAtLocation]:
        if not ids:
            return []
        return self._to_domain(self.session.connection().execute(_READ.among, {"ids": ids}).all())

    def _update(
        self, service_id: UUID, values: dict[str, Any], *conditions: ColumnElement[bool]
    ) -> bool:
        result: CursorResult[Any] = self.session.execute(  # type: ignore[assignment]
            update(ServiceRow)
            .where(col(ServiceRow.id) == service_id, *conditions)
            .values(values)
            # Reads go to the database, not the session (see `_Reading`).
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1

    def _on_postgresql(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    def _to_domain(self, rows: Sequence[Any]) -> list[ServiceAtLocation]:
        """The services of rows of `_READ`'s statements, with their terms: one query for
        the terms of many services (a chunk of ids bound at a time, for `all`), not one
        per service."""
        terms: dict[UUID, dict[str, list[str]]] = {row.id: {} for row in rows}
        connection = self.session.connection()
        for chunk in chunked(list(terms)):
            for service_id, taxonomy, term in connection.execute(_READ.terms, {"ids": chunk}):
                terms[service_id].setdefault(taxonomy, []).append(term)
        return [ServiceAtLocation(_service(row, terms[row.id]), _location(row)) for row in rows]


@dataclass(frozen=True)
class _Reading:
    """The statements that read services whole, built once: as Core rows, not ORM
    entities, which cost more to build and keep track of than the rest of a match. What
    the database holds now, then, not the session's copies from before its own (or a
    concurrent transaction's committed) column-wise updates."""

    every: Select[Any]
    """Each service with its location's columns (named `location__...`)."""
    one: Select[Any]
    """`every`, of the service `id`."""
    among: Select[Any]
    """`every`, of the services `ids`."""
    terms: Select[Any]
    """The terms of the services `ids`, in order: service id, taxonomy, term."""
    reach: Select[Any]
    """`service_reach` from `home`: area, closeness, and whether some service speaks one
    of `languages`."""


def _reading() -> _Reading:
    service, location, term = table_of(ServiceRow), table_of(LocationRow), table_of(ServiceTermRow)
    every = sa_select(
        *(service.c[name] for name in SERVICE_FIELDS),
        *(location.c[name].label(f"location__{name}") for name in LOCATION_FIELDS),
    ).join_from(service, location, location.c.id == service.c.location_id)
    spoken = (
        sa_select(term.c.service_id)
        .where(
            term.c.taxonomy == LANGUAGE,
            term.c.term.in_(bindparam("languages", expanding=True)),
        )
        .exists()
    )
    reach = table_of(ReachRow)
    return _Reading(
        every=every,
        one=every.where(service.c.id == bindparam("id")),
        among=every.where(service.c.id.in_(bindparam("ids", expanding=True))),
        terms=sa_select(term.c.service_id, term.c.taxonomy, term.c.term)
        .where(
            term.c.service_id.in_(bindparam("ids", expanding=True)),
            term.c.taxonomy.in_(list(TAXONOMY_OF_FIELD.values())),
        )
        .order_by(term.c.term),
        reach=sa_select(reach.c.area, reach.c.closeness, spoken).where(
            reach.c.home == bindparam("home")
        ),
    )


SERVICE_FIELDS = (
    "id", "organization_id", "location_id", "name", "status", "schedules", "capacity",
    "free_places",
)  # fmt: skip
"""What a `Service` is built from, besides its terms."""
LOCATION_FIELDS = (
    "id", "organization_id", "name", "address_1", "postal_code", "city", "district",
    "wheelchair_accessible", "latitude", "longitude",
)  # fmt: skip
"""What a `Location` is built from."""
_READ = _reading()


def _columns(row: Any) -> dict[str, Any]:
    """A table row's values by column, for statements of many rows."""
    return {column.name: getattr(row, column.name) for column in row.__table__.columns}


def location_row(location: Location) -> LocationRow:
    return LocationRow(
        id=location.id,
        organization_id=location.organization_id,
        name=location.name,
        address_1=location.address_1,
        postal_code=location.postal_code,
        city=location.city,
        district=location.district,
        district_key=location.district.casefold(),
        wheelchair_accessible=location.wheelchair_accessible,
        latitude=location.latitude,
        longitude=location.longitude,
    )


def service_row(found: ServiceAtLocation) -> ServiceRow:
    """The service's row, with what ranking reads of it and of its location."""
    service, location = found.service, found.location
    terms = {taxonomy: set(getattr(service, name)) for name, taxonomy in TAXONOMY_OF_FIELD.items()}
    near = {f"near_{k}": closeness for k, closeness in enumerate(_nearness(location))}
    return ServiceRow(
        id=service.id,
        organization_id=service.organization_id,
        location_id=service.location_id,
        name=service.name,
        status=service.status.value,
        schedules=json.dumps([_schedule_json(s) for s in service.schedules]),
        capacity=service.capacity,
        free_places=service.free_places,
        wheelchair_accessible=location.wheelchair_accessible,
        parts_of_day=sum(PART_OF_DAY_BIT[part] for part in service.parts_of_day),
        interest_bits=_bits(INTEREST, terms[INTEREST]),
        target_group_bits=_bits(TARGET_GROUP, terms[TARGET_GROUP]),
        language_bits=_bits(LANGUAGE, terms[LANGUAGE]),
        other_terms=any(terms[taxonomy] - set(NUMBERED[taxonomy]) for taxonomy in NUMBERED),
        **near,
    )


def _pairs(interests: Collection[str]) -> set[str]:
    """Each two of the interests as one term, spelt so that no two pairs spell alike."""
    return {f"{len(a)}:{a}{b}" for a, b in combinations(sorted(set(interests)), 2)}


def _nearness(location: Location) -> list[float]:
    """How near the location is to each district's centroid, in `DISTRICTS`' order."""
    return [closeness(distance_km(district.name, location)) for district in DISTRICTS]


def _area(nearness: list[float]) -> int:
    """The district whose centroid is nearest (the first of equals), or `NOWHERE`."""
    nearest = max(range(len(nearness)), key=nearness.__getitem__)
    return nearest if nearness[nearest] > 0 else NOWHERE


def _bits(taxonomy: str, terms: set[str]) -> int:
    return sum(1 << k for k, term in enumerate(NUMBERED[taxonomy]) if term in terms)


def _referral_terms(referral: Referral) -> dict[str, frozenset[str]]:
    return {
        INTEREST: referral.interests,
        TARGET_GROUP: referral.needs,
        LANGUAGE: referral.languages,
    }


SLOTS = 3
"""Interests or numbered target groups a statement counts; a referral with more has its own."""


class _Batch(NamedTuple):
    shared: int
    """How many of the referral's interests its services share; 0: they fit by a target
    group alone."""
    groups: int
    """Which of the referral's needs its services have as a target group, as bits (see
    `NUMBERED`; a need not numbered counts in the bound as if each had it)."""
    area: int
    """Its services' area (see `ServiceTermRow.area`)."""
    bound: float
    """No service of the batch scores more."""


@dataclass(frozen=True)
class _Statements:
    best: Any
    """The best rows of some batches that fit, as SQL orders them: id, full, score, free
    places, name."""
    tied: Any
    """The ids of the best of some batches that fit, where more rows than `best` fetched
    round alike."""
    excluded: Any
    """How many rows fail each of `Exclusion`'s criteria first, in its order."""


def _slots(referral: Referral) -> int:
    groups = referral.needs & set(NUMBERED[TARGET_GROUP])
    return max(SLOTS, len(referral.interests), len(groups))


def _visiting(batches: list[_Batch], slots: int) -> dict[str, list[int]]:
    """The parameters of `_statements` that choose the batches."""

    def areas(chosen: Callable[[int], bool]) -> list[int]:
        return sorted({b.area for b in batches if chosen(b.shared)})

    return {
        "areas_alone": areas(lambda shared: shared == 0),
        "areas_singly": areas(lambda shared: shared == 1),
        "areas_pairs": areas(lambda shared: shared >= 2),
        "batches": sorted(_key(b.shared, b.groups, b.area) for b in batches),
    }


def _key(shared: Any, groups: Any, area: Any) -> Any:
    """A batch as one number, in Python or in SQL."""
    return (shared * (1 << len(NUMBERED[TARGET_GROUP])) + groups) * (NOWHERE + 1) + area


def _subsets(bits: int) -> list[int]:
    """Every subset of the bits, as bits."""
    subsets = [0]
    for bit in (1 << k for k in range(bits.bit_length()) if bits >> k & 1):
        subsets += [subset | bit for subset in subsets]
    return subsets


def _home(referral: Referral) -> int | None:
    """The referral's district, numbered as `DISTRICTS`; None when it is none of them."""
    home = district_named(referral.district)
    return None if home is None else DISTRICTS.index(home)


def _floor(rows: list[Any], max_matches: int) -> float:
    """The lowest score a service must have to rank among the best `max_matches`, going
    by the best `rows` (in `_row_order`): the lowest that rounds as the last place's, once
    that many have room; until then, anything."""
    if len(rows) < max_matches or rows[max_matches - 1].full:
        return -inf
    return scores_rounding_as(round(rows[max_matches - 1].score, SCORE_DECIMALS))[0]


PAIRED_COST = 0.125
"""What a batch of services sharing two or more interests counts for in a round, against 1
for the others: they are found from their pairs' short posting lists, and are few."""


def _first(batches: list[_Batch], budget: float) -> list[_Batch]:
    """The first of the batches (one at least) that a round visits for `budget`."""
    spent = 0.0
    for n, batch in enumerate(batches):
        spent += PAIRED_COST if batch.shared >= 2 else 1.0
        if n and spent > budget:
            return batches[:n]
    return batches


def _paired(shared: int) -> int:
    """How many pairs of interests a service sharing so many interests shares."""
    return shared * (shared - 1) // 2


def _row_order(row: Any) -> tuple[bool, float, int, str, str]:
    """As SQL orders the rows: by the unrounded score."""
    return (bool(row.full), -row.score, -row.free_places, row.name, str(row.id))


def _rank_order(row: Any) -> tuple[bool, float, int, str, str]:
    """As `domain.rank` orders the matches: by the rounded score."""
    return (
        bool(row.full),
        -round(row.score, SCORE_DECIMALS),
        -row.free_places,
        row.name,
        str(row.id),
    )


@cache
def _statements(slots: int, on_postgresql: bool) -> _Statements:
    """The statements, the same for every referral with up to `slots` interests: its
    terms, district, times, the weights and the batches visited are parameters (see
    `_values` and `_visiting`), so that they are built and compiled once, not per
    referral. A list is one parameter, an array on PostgreSQL and JSON on SQLite: the
    statement's text is the same whatever the lists, so that the driver prepares it once
    and it is not planned anew (nor, on SQLite, rewritten with a parameter per item on
    every execution: a round's batches are hundreds)."""

    def number(name: str) -> Any:
        return bindparam(name, type_=Float)

    def flag(name: str) -> Any:
        return bindparam(name, type_=Boolean)

    def among(column: Any, name: str, kind: Any) -> ColumnElement[bool]:
        if on_postgresql:
            return cast(ColumnElement[bool], column == any_(bindparam(name, type_=ARRAY(kind))))
        items = func.json_each(bindparam(name, type_=JSON)).table_valued("value")
        return cast(ColumnElement[bool], column.in_(sa_select(items.c.value)))

    def has(taxonomy: str, bits: str) -> ColumnElement[bool]:
        return BITS_COLUMN[taxonomy].op("&")(bindparam(bits, type_=BigInteger)) != 0

    def terms_among(taxonomy: str, *what: Any) -> Any:
        return select(*what).where(
            col(ServiceTermRow.service_id) == ServiceRow.id,
            col(ServiceTermRow.taxonomy) == taxonomy,
            among(col(ServiceTermRow.term), f"{taxonomy}_others", Text),
        )

    def any_shared(taxonomy: str) -> ColumnElement[bool]:
        # Terms without a bit only where the service has some: most rows never look.
        unnumbered = terms_among(taxonomy, ServiceTermRow.term).exists()
        return or_(has(taxonomy, f"{taxonomy}_bits"), and_(col(ServiceRow.other_terms), unnumbered))

    def count_shared(taxonomy: str) -> ColumnElement[int]:
        count: ColumnElement[int] = literal(0)
        for slot in range(slots):
            count = count + case((has(taxonomy, f"{taxonomy}_{slot}"), 1), else_=0)
        unnumbered = terms_among(taxonomy, func.count()).scalar_subquery()
        return count + case((col(ServiceRow.other_terms), unnumbered), else_=0)

    # The batches' services, each once, with how many interests it shares: from the
    # postings of the referral's terms in the batches' areas, read from an index with the
    # target groups of each. Those sharing one interest from its interests' postings; those
    # sharing k > 1 from its pairs', as the services with k(k-1)/2 of them; those sharing
    # none from its needs'. A service's postings are all of its one area.
    term, other = ServiceTermRow, aliased(ServiceTermRow)
    groups = func.max(col(term.target_group_bits)).op("&")(
        bindparam(f"{TARGET_GROUP}_bits", type_=BigInteger)
    )

    def chosen(shared: Any) -> Any:
        key = _key(shared, groups, func.min(col(term.area)))
        return among(key, "batches", BigInteger)

    def postings(taxonomy: str, terms: str, areas: str, *conditions: Any) -> Any:
        return (
            select(col(term.service_id).label("service_id"))
            .where(
                col(term.taxonomy) == taxonomy,
                among(col(term.term), terms, Text),
                among(col(term.area), f"areas_{areas}", Integer),
                *conditions,
            )
            .group_by(col(term.service_id))
        )

    singly = (
        postings(INTEREST, "interests", "singly")
        .add_columns(literal(1).label("shared"))
        .having(func.count() == 1, chosen(1))
    )
    shared = case(*((func.count() == _paired(k), k) for k in range(2, slots + 1)), else_=0)
    by_pairs = (
        postings(INTEREST_PAIR, "pairs", "pairs")
        .add_columns(shared.label("shared"))
        .having(chosen(shared))
    )
    shares_an_interest = (
        select(col(other.service_id))
        .where(
            col(other.service_id) == col(term.service_id),
            col(other.taxonomy) == INTEREST,
            among(col(other.term), "interests", Text),
        )
        .exists()
    )
    by_group_alone = (
        postings(TARGET_GROUP, "needs", "alone", not_(shares_an_interest))
        .add_columns(literal(0).label("shared"))
        .having(chosen(0))
    )
    batch = union_all(singly, by_pairs, by_group_alone).subquery("batch")

    active = col(ServiceRow.status) == ServiceStatus.ACTIVE.value
    reachable = or_(flag("anyone"), col(ServiceRow.wheelchair_accessible))
    in_common = or_(any_shared(INTEREST), any_shared(TARGET_GROUP))
    # In a batch, a service shares an interest or a target group already.
    fits = and_(active, reachable, any_shared(LANGUAGE))
    near = case(
        {k: column for k, column in enumerate(NEAR_COLUMNS)},
        value=bindparam("home", type_=Integer),
        else_=literal(0.0, Float),
    )
    timely = or_(flag("any_time"), col(ServiceRow.parts_of_day).op("&")(bindparam("wanted")) != 0)
    # `assess`'s sum, term by term in its order.
    score = (
        number("interest") * batch.c.shared
        + number("language")
        + number("distance") * near
        + number("accessibility")
        + case((timely, number("time_of_day")), else_=literal(0.0, Float))
        + number("free_places") * col(ServiceRow.free_places) / col(ServiceRow.capacity)
        + number("target_group") * count_shared(TARGET_GROUP)
    )
    full = col(ServiceRow.free_places) == 0
    rest = (col(ServiceRow.free_places).desc(), col(ServiceRow.name), col(ServiceRow.id))
    last_full, low = flag("last_full"), score >= number("low")
    in_reach = or_(
        and_(not_(full), or_(last_full, low)),
        and_(full, last_full, low),
    )
    first_failed = (
        not_(active),
        and_(active, not_(reachable)),
        and_(active, reachable, not_(in_common)),
        and_(active, reachable, in_common, not_(any_shared(LANGUAGE))),
    )
    batched = select(col(ServiceRow.id)).join_from(
        batch, ServiceRow, col(ServiceRow.id) == batch.c.service_id
    )
    # Ordered by the labels: the expressions are not written out twice.
    full_, score_ = full.label("full"), score.label("score")
    return _Statements(
        best=batched.add_columns(full_, score_, col(ServiceRow.free_places), col(ServiceRow.name))
        .where(fits)
        .order_by(full_, score_.desc(), *rest)
        .limit(bindparam("fetched")),
        tied=batched.where(fits, in_reach)
        .order_by(full, (score > number("high")).desc(), *rest)
        .limit(bindparam("fetched")),
        excluded=select(*(func.count().filter(failed) for failed in first_failed)),
    )


def _values(referral: Referral, weights: Weights) -> dict[str, Any]:
    """The parameters of `_statements` for a referral, but the batches (`_visiting`).
    Weights as floats: an integer weight must not make SQLite divide integers."""
    terms = _referral_terms(referral)
    values: dict[str, Any] = {
        "interests": sorted(referral.interests),
        "pairs": sorted(_pairs(referral.interests)),
        "needs": sorted(referral.needs),
    }
    for taxonomy, numbered in NUMBERED.items():
        bits = [1 << k for k, term in enumerate(numbered) if term in terms[taxonomy]]
        values[f"{taxonomy}_bits"] = sum(bits)
        values[f"{taxonomy}_others"] = sorted(terms[taxonomy] - set(numbered))
        if taxonomy == TARGET_GROUP:
            padded = bits + [0] * (_slots(referral) - len(bits))
            values |= {f"{taxonomy}_{slot}": bit for slot, bit in enumerate(padded)}
    needs_wheelchair = WHEELCHAIR_NEED in referral.needs
    return values | {
        "home": _home(referral),
        "anyone": not needs_wheelchair,
        "any_time": not referral.preferred_times,
        "wanted": sum(PART_OF_DAY_BIT[part] for part in referral.preferred_times),
        "interest": float(weights.interest),
        "language": float(weights.language),
        "distance": float(weights.distance),
        "accessibility": float(weights.accessibility) if needs_wheelchair else 0.0,
        "time_of_day": float(weights.time_of_day),
        "free_places": float(weights.free_places),
        "target_group": float(weights.target_group),
    }


def _schedule_json(schedule: WeeklySchedule) -> dict[str, Any]:
    return {
        "days": list(schedule.days),
        "opens_at": schedule.opens_at.isoformat(),
        "closes_at": schedule.closes_at.isoformat(),
    }


def _service(row: Any, terms: dict[str, list[str]]) -> Service:
    return Service(
        id=row.id,
        organization_id=row.organization_id,
        location_id=row.location_id,
        name=row.name,
        status=ServiceStatus(row.status),
        schedules=[
            WeeklySchedule(
                tuple(s["days"]),
                time.fromisoformat(s["opens_at"]),
                time.fromisoformat(s["closes_at"]),
            )
            for s in json.loads(row.schedules)
        ],
        capacity=row.capacity,
        free_places=row.free_places,
        interests=terms.get(INTEREST, []),
        languages=terms.get(LANGUAGE, []),
        target_groups=terms.get(TARGET_GROUP, []),
    )


def _location(row: Any) -> Location:
    """The location of a row of `_READ`'s statements."""
    values = row._mapping
    return Location(**{name: values[f"location__{name}"] for name in LOCATION_FIELDS})
