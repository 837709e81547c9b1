"""Ranking a referral in SQL, on SQLite and PostgreSQL: the same matches, scores, reasons and
no-match counts as the domain's `rank` over every service, in a bounded number of
statements that visit the services in batches, best bound first, and leave out the batches
that cannot reach the last place."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import time
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from contracts import IntegrationEvent, MatchesFound, NoMatchFound
from directory import services
from directory.app import MIGRATIONS
from directory.domain import (
    Location,
    Referral,
    Service,
    ServiceAtLocation,
    ServiceStatus,
    TimeOfDay,
    WeeklySchedule,
    Weights,
    rank,
)
from directory.geography import DISTRICTS
from directory.store import DirectoryUnitOfWork
from runtime.migrations import upgrade
from tests.events import referral_submitted

StartUow = Callable[[], DirectoryUnitOfWork]

INTERESTS = ["walking", "talk", "chess", "singing", "boules"]
"""`boules` is no term `store.matching` numbers: it matches through `service_term`."""
GROUPS = ["older_people", "hard_to_leave_home", "wheelchair_access", "lonely_men"]
LANGUAGES = ["da", "en", "pl", "kl"]
PLACES = [
    *(district.name for district in DISTRICTS),
    "Nordvest",
    "norrebro",
    "2200",
    "Frederiksberg",
    "",
]
SLOTS = [(time(9), time(11)), (time(11), time(13)), (time(14), time(16)), (time(18), time(20))]


@pytest.fixture
def start_uow(engine_for: Callable[[str], Engine]) -> StartUow:
    engine = engine_for("directory")
    upgrade(MIGRATIONS, engine)
    sessions = sessionmaker(engine, class_=Session, expire_on_commit=False)
    return lambda: DirectoryUnitOfWork(sessions, "/brobygger/directory")


def some(rng: random.Random, terms: list[str], most: int) -> list[str]:
    return rng.sample(terms, rng.randint(0, most))


def random_directory(rng: random.Random, size: int) -> list[ServiceAtLocation]:
    """Services at shared locations, with coordinates or without, and many near-ties: few
    names, small capacities (1 of 8 free scores exactly half a hundredth) and clones."""
    locations = []
    for n in range(max(1, size // 4)):
        district = rng.choice(PLACES)
        at = (55.6 + rng.random() / 8, 12.45 + rng.random() / 6) if rng.random() < 0.5 else None
        locations.append(
            Location(
                id=UUID(int=rng.getrandbits(128)),
                organization_id=UUID(int=1),
                name=f"Sted {n}",
                address_1="Gade 1",
                postal_code=rng.choice(["2200", "1300", "2300", "2720", "9999"]),
                city="København",
                district=district,
                wheelchair_accessible=rng.random() < 0.6,
                latitude=at[0] if at else None,
                longitude=at[1] if at else None,
            )
        )
    found = []
    for _ in range(size):
        location = rng.choice(locations)
        capacity = rng.choice([1, 4, 8, 10, 40])
        service = Service(
            id=UUID(int=rng.getrandbits(128)),
            organization_id=UUID(int=1),
            location_id=location.id,
            name=rng.choice(["Gåtur", "Kaffe", "Skak", "Sang"]),
            capacity=capacity,
            free_places=rng.choice([0, 1, capacity // 2, capacity]),
            status=ServiceStatus.ACTIVE if rng.random() < 0.9 else ServiceStatus.INACTIVE,
            interests=some(rng, INTERESTS, 3),
            languages=some(rng, LANGUAGES, 2),
            target_groups=some(rng, GROUPS, 2),
            schedules=[
                WeeklySchedule(("MO", "TH"), *slot) for slot in rng.sample(SLOTS, rng.randint(0, 2))
            ],
        )
        found.append(ServiceAtLocation(service, location))
        if rng.random() < 0.1:  # clones: the same fit, told apart by id only
            found += [
                ServiceAtLocation(
                    Service(**{**service.__dict__, "id": UUID(int=rng.getrandbits(128))}),
                    location,
                )
                for _ in range(rng.randint(2, 12))
            ]
    return found


def random_referral(rng: random.Random) -> Referral:
    return Referral(
        id=UUID(int=rng.getrandbits(128)),
        district=rng.choice([*PLACES, "Atlantis"]),
        interests=frozenset(some(rng, INTERESTS, 3)),
        languages=frozenset(some(rng, LANGUAGES, 2)),
        needs=frozenset(some(rng, GROUPS, 2)),
        preferred_times=frozenset(rng.sample(list(TimeOfDay), rng.randint(0, 2))),
    )


def random_weights(rng: random.Random) -> Weights:
    return Weights(*(rng.choice([0, 1, 2, 3, 0.5, 1.7, 2.25]) for _ in range(7)))


def projected(start_uow: StartUow, directory: list[ServiceAtLocation]) -> None:
    with start_uow() as uow:
        for found in directory:
            uow.services.project(found)
        uow.commit()


def test_the_sql_ranking_equals_the_domain_ranking_of_every_service(start_uow: StartUow) -> None:
    rng = random.Random(8)
    projected(start_uow, random_directory(rng, 160))
    with start_uow() as uow:
        everything = uow.services.all()
        for _ in range(120):
            referral, weights = random_referral(rng), random_weights(rng)
            max_matches = rng.choice([1, 2, 3, 5, 10])
            expected = rank(referral, everything, max_matches=max_matches, weights=weights)
            best = uow.services.best_fits(referral, max_matches=max_matches, weights=weights)
            found = rank(referral, best, max_matches=max_matches, weights=weights)
            assert found.matches == expected.matches, (referral, weights, max_matches)
            assert uow.services.exclusions(referral) == expected.excluded


def test_the_sql_ranking_equals_the_domain_ranking_where_batches_are_left_out_and_services_move(
    start_uow: StartUow,
) -> None:
    # Many services in every area, sharing 0-3 interests and some needs with a referral:
    # many batches, about half of them left out for the best few; where weights of 0 tie
    # the areas, interests or target groups, the ties cross batches. Then services move
    # between areas (an area's reach stays as high as it was: a bound still) and are
    # matched again.
    rng = random.Random(13)
    directory = random_directory(rng, 900)
    with start_uow() as uow:
        uow.services.project_many(directory)
        uow.commit()
    for moved in range(2):
        with start_uow() as uow:
            everything = uow.services.all()
            for _ in range(60):
                referral = random_referral(rng)
                weights = random_weights(rng) if rng.random() < 0.5 else Weights()
                max_matches = rng.choice([1, 3, 5, 10])
                expected = rank(referral, everything, max_matches=max_matches, weights=weights)
                best = uow.services.best_fits(referral, max_matches=max_matches, weights=weights)
                found = rank(referral, best, max_matches=max_matches, weights=weights)
                assert found.matches == expected.matches, (moved, referral, weights, max_matches)
        elsewhere = [each.location for each in random_directory(rng, 40)]
        with start_uow() as uow:
            for each in rng.sample(directory, 300):
                there = rng.choice(elsewhere)
                uow.services.project(
                    ServiceAtLocation(replace(each.service, location_id=there.id), there)
                )
            uow.commit()


def test_services_that_round_to_the_same_score_are_told_apart_as_the_domain_does(
    start_uow: StartUow,
) -> None:
    # More services than the query fetches round alike at the last place: a metre further
    # away is a lower score yet the same rounded one, where free places and the name decide;
    # 1 of 8 places free scores exact halves of a hundredth, which SQL would round otherwise.
    rng = random.Random(3)
    directory = random_directory(rng, 60)
    for n in range(1, 40):
        location = Location(
            id=UUID(int=n),
            organization_id=UUID(int=1),
            name="Sted",
            address_1="Gade 1",
            postal_code="2200",
            city="København N",
            district="Nørrebro",
            wheelchair_accessible=True,
            latitude=55.6960 + n / 100_000,
            longitude=12.5490,
        )
        service = Service(
            id=UUID(int=n),
            organization_id=UUID(int=1),
            location_id=location.id,
            name=f"{'Gåtur' if n % 3 else 'Kaffe'} {50 - n}",
            capacity=8,
            free_places=rng.choice([1, 1, 2, 8]),
            interests=["walking", "talk"],
            languages=["da"],
            target_groups=["older_people"],
        )
        directory.append(ServiceAtLocation(service, location))
    projected(start_uow, directory)
    referral = Referral(
        UUID(int=0),
        "Nørrebro",
        frozenset({"walking", "talk"}),
        frozenset({"da"}),
        frozenset({"older_people"}),
    )
    with start_uow() as uow:
        everything = uow.services.all()
        for max_matches in (1, 2, 4, 15, 30):
            expected = rank(referral, everything, max_matches=max_matches)
            best = uow.services.best_fits(referral, max_matches=max_matches, weights=Weights())
            assert rank(referral, best, max_matches=max_matches).matches == expected.matches


@pytest.fixture
def statements(start_uow: StartUow) -> Iterator[list[str]]:
    """The SQL statements run while the list is being recorded into."""
    recorded: list[str] = []
    with start_uow() as uow:
        engine = uow.session.get_bind()
    assert isinstance(engine, Engine)

    def record(*args: Any) -> None:
        recorded.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    yield recorded
    event.remove(engine, "before_cursor_execute", record)


def matched(start_uow: StartUow, **changes: Any) -> IntegrationEvent:
    published: list[IntegrationEvent] = []
    with start_uow() as uow:
        uow.publish = published.append  # type: ignore[method-assign,assignment]
        services.match_referral(referral_submitted(**changes), uow, max_matches=5)
    [found] = published
    return found


@pytest.mark.parametrize("size", [20, 400])
def test_matching_runs_as_many_statements_for_many_services_as_for_few(
    start_uow: StartUow, statements: list[str], size: int
) -> None:
    projected(start_uow, random_directory(random.Random(size), size))
    statements.clear()
    found = matched(start_uow, interests=["walking", "talk"], languages=["da", "en"])
    assert isinstance(found, MatchesFound)
    assert len(found.matches) == 5
    # The areas' reach, rounds of batches (twice as many each round: at most four for the
    # 22 batches of two interests, no need and 11 areas), the five rows, their terms; the
    # unit of work's own begin and commit aside.
    assert 4 <= len([s for s in statements if "service" in s]) <= 7, statements
    statements.clear()
    unmet = matched(start_uow, interests=["knitting"], languages=["kl"], needs=[])
    assert isinstance(unmet, NoMatchFound)
    # The areas' reach, rounds of batches (at most four for the 11 of one interest), the
    # counts of what ruled services out.
    assert 3 <= len([s for s in statements if "FROM service" in s]) <= 6, statements


def test_a_referral_nothing_fits_is_told_what_ruled_out_how_many(start_uow: StartUow) -> None:
    directory = random_directory(random.Random(5), 80)
    projected(start_uow, directory)
    with start_uow() as uow:
        everything = uow.services.all()
    changes: dict[str, Any] = {
        "district": "Valby",
        "interests": ["chess", "boules"],
        "languages": ["fi"],
        "needs": ["wheelchair_access"],
    }
    found = matched(start_uow, **changes)
    assert isinstance(found, NoMatchFound)
    referral = Referral(
        UUID(int=0),
        "Valby",
        frozenset(changes["interests"]),
        frozenset(changes["languages"]),
        frozenset(changes["needs"]),
    )
    expected = rank(referral, everything, max_matches=5)
    assert not expected.matches
    assert len(expected.excluded) == 4  # every criterion rules some out
    assert found.reason == expected.no_match_reason()
