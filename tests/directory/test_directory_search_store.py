"""A citizen's search in SQL, on SQLite and PostgreSQL: the folded words of each HSDS service
(and organisation) matched by prefix, ranked, combined with the HSDS API's filters, paged,
and kept up as services change."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from directory import services
from directory.app import MIGRATIONS
from directory.domain import Location, Organization, Service
from directory.hsds import brobygger
from directory.hsds.records import Record
from directory.hsds.vocabulary import Taxonomy, term_id
from directory.search import MAX_QUERY_WORDS
from directory.store import DirectoryUnitOfWork, ServiceQuery
from runtime.migrations import upgrade
from tests.events import referral_accepted
from tests.fakes import FakeClock

StartUow = Callable[[], DirectoryUnitOfWork]
SOURCE = "/brobygger/directory"
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
OPERATOR = services.Editor("operator-1")


@pytest.fixture
def engine(engine_for: Callable[[str], Engine]) -> Engine:
    engine = engine_for("directory")
    upgrade(MIGRATIONS, engine)
    return engine


@pytest.fixture
def start_uow(engine: Engine) -> StartUow:
    sessions = sessionmaker(engine, class_=Session, expire_on_commit=False)
    start: StartUow = lambda: DirectoryUnitOfWork(sessions, SOURCE)  # noqa: E731
    services.keep_vocabulary(start, clock=lambda: NOW)
    return start


class Directory:
    """A small directory, imported as HSDS records the way partners' data comes in."""

    def __init__(self, start_uow: StartUow) -> None:
        self.start_uow = start_uow
        self.clock = FakeClock(NOW)
        self.organization = self.new_organization("Forening", "En forening.")
        self.locations: dict[tuple[str, str], Location] = {}

    def new_organization(self, name: str, description: str) -> UUID:
        organization = Organization(uuid4(), name, description, "k@forening.example")
        self.save(brobygger.organization_records(organization))
        return organization.id

    def save(self, records: list[Record]) -> None:
        imported = services.import_records(records, OPERATOR, self.start_uow, self.clock)
        assert imported.rejected == []

    def location(self, name: str, district: str) -> Location:
        if (name, district) not in self.locations:
            location = Location(
                uuid4(), self.organization, name, "Gade 1", "2200", "København", district, False
            )
            self.save(brobygger.location_records(location))
            self.locations[name, district] = location
        return self.locations[name, district]

    def service(
        self,
        name: str,
        description: str = "Et fællesskab.",
        *,
        district: str = "Valby",
        location: str = "Huset",
        interests: tuple[str, ...] = (),
        organization: UUID | None = None,
    ) -> UUID:
        place = self.location(location, district)
        service = Service(
            uuid4(),
            organization or self.organization,
            place.id,
            name,
            capacity=10,
            free_places=10,
            interests=list(interests),
            languages=["da"],
        )
        records = brobygger.service_records(service, place, updated_at=self.clock())
        self.save(
            [
                Record("service", r.fields | {"description": description})
                if r.entity == "service"
                else r
                for r in records
            ]
        )
        return service.id

    def found(
        self, query: ServiceQuery, page: int = 1, per_page: int = 50
    ) -> tuple[list[str], int]:
        found = services.services(query, services.Paging(page, per_page), self.start_uow)
        return [item["name"] for item in found.contents], found.total_items

    def search(self, words: str, **filters: Any) -> list[str]:
        names, total = self.found(ServiceQuery(search=words, **filters))
        assert total == len(names)
        return names


@pytest.fixture
def directory(start_uow: StartUow) -> Directory:
    return Directory(start_uow)


def test_a_search_ignores_case_and_danish_and_swedish_spellings(directory: Directory) -> None:
    directory.service("Gåtur i parken")
    directory.service("Strikkeklub", district="Nørrebro")
    directory.service("Fællessang")
    assert directory.search("gaatur") == ["Gåtur i parken"]
    assert directory.search("gatur") == ["Gåtur i parken"]
    assert directory.search("GÅTUR") == ["Gåtur i parken"]
    assert directory.search("norrebro") == ["Strikkeklub"]
    assert directory.search("noerrebro") == ["Strikkeklub"]
    assert directory.search("faellessang") == ["Fællessang"]
    assert directory.search("skak") == []


def test_the_reverse_spellings_are_found_too(directory: Directory) -> None:
    directory.service("Gaatur i parken")
    directory.service("Strikkeklub", district="Norrebro")
    directory.service("Väster om søen")
    assert directory.search("gåtur") == ["Gaatur i parken"]
    assert directory.search("Nørrebro") == ["Strikkeklub"]
    assert directory.search("vester") == ["Väster om søen"]


def test_the_start_of_a_word_finds_it_but_its_middle_does_not(directory: Directory) -> None:
    directory.service("Gåtur i parken")
    assert directory.search("gåt") == ["Gåtur i parken"]
    assert directory.search("tur") == []


def test_a_search_looks_at_name_description_location_district_and_interests(
    directory: Directory,
) -> None:
    directory.service("A", "Vi går ture.")
    directory.service("B", location="Seniorhaven")
    directory.service("C", district="Amager")
    directory.service("D", interests=("gardening",))
    directory.service("E")
    assert directory.search("ture") == ["A"]
    assert directory.search("seniorhaven") == ["B"]
    assert directory.search("amager") == ["C"]
    assert directory.search("garden") == ["D"]


def test_name_matches_come_first_then_more_matched_words_then_the_same_way_each_time(
    directory: Directory,
) -> None:
    directory.service("Kortklub", "Kaffe og gåtur bagefter.")
    directory.service("Boldspil", "Gåtur og kaffe og kage.")
    directory.service("Gåtur", "Rundt om søerne.")
    directory.service("Aftengåtur", "Med kaffe.")  # "gåtur" does not start a word of it
    directory.service("Gåtur med kaffe", "Hver dag.")
    directory.service("Strik", "Intet af det.")
    found = directory.search("gåtur kaffe")
    assert found[:2] == [
        "Gåtur med kaffe",  # both words in the name
        "Gåtur",  # one in the name
    ]
    # Both words in the description: equal hits, listed by id (not by name: that would
    # read every hit's name), the same way on every search.
    assert set(found[2:4]) == {"Boldspil", "Kortklub"}
    assert found[4:] == ["Aftengåtur"]  # one in the description
    assert directory.search("gåtur kaffe") == found


def test_a_search_holds_together_with_every_other_filter(directory: Directory) -> None:
    directory.service("Gåtur i Valby", interests=("walking",))
    directory.service("Gåtur med skak", interests=("chess",))
    others = directory.new_organization("Andre", "Også en forening.")
    directory.service("Gåtur hos andre", interests=("walking",), organization=others)
    directory.service("Skak", interests=("walking",))
    walking = term_id(Taxonomy.INTERESTS, "walking")
    assert directory.search("gåtur", taxonomy_term_ids=[walking]) == [
        "Gåtur hos andre",
        "Gåtur i Valby",
        "Skak",  # by its interest's Danish name, "Gåture"
    ]
    assert directory.search("gåtur", organization_id=others) == ["Gåtur hos andre"]
    assert directory.search("gåtur", taxonomy_term_ids=[walking], organization_id=others) == [
        "Gåtur hos andre"
    ]
    directory.clock.advance(timedelta(hours=1))
    directory.service("Gåtur om aftenen")
    assert directory.search("gåtur", modified_after=NOW + timedelta(minutes=30)) == [
        "Gåtur om aftenen"
    ]


def test_a_search_is_paged_and_counted_in_its_ranked_order(directory: Directory) -> None:
    for name in ["Gåtur C", "Gåtur A", "Gåtur B", "Sang med gåtur", "Skak"]:
        directory.service(name, "Gåtur bagefter." if name == "Skak" else "Et fællesskab.")
    everything, _ = directory.found(ServiceQuery(search="gåtur"))
    pages = [directory.found(ServiceQuery(search="gåtur"), page, 2) for page in (1, 2, 3)]
    assert [total for _, total in pages] == [5, 5, 5]
    assert [name for names, _ in pages for name in names] == everything
    # The four with the word in their name first, then the one with it in its description.
    assert set(everything[:4]) == {"Gåtur A", "Gåtur B", "Gåtur C", "Sang med gåtur"}
    assert everything[4:] == ["Skak"]


def test_services_are_paged_by_name_in_a_stable_order(directory: Directory) -> None:
    for name in ["Strik", "Gåtur", "Sang", "Skak", "Gåtur", "Bowling", "Sang"]:
        directory.service(name)
    everything, total = directory.found(ServiceQuery())
    pages = [directory.found(ServiceQuery(), page, 3) for page in (1, 2, 3)]
    assert [len(names) for names, _ in pages] == [3, 3, 1]
    assert [name for names, _ in pages for name in names] == everything == sorted(everything)
    assert {count for _, count in pages} == {total} == {7}


def test_a_search_of_many_words_binds_a_bounded_number_of_them(
    engine: Engine, directory: Directory
) -> None:
    directory.service("Gåtur")
    with bound_parameters(engine) as few:
        assert directory.search(" ".join(f"ord{n}" for n in range(MAX_QUERY_WORDS))) == []
    with bound_parameters(engine) as many:
        # Only the first words count: "gåtur" comes too late to find anything.
        words = " ".join(["skak"] + [f"ord{n}" for n in range(50)] + ["gåtur"])
        assert directory.search(words) == []
    assert max(many) == max(few)
    assert directory.search(" ".join(["skak"] * 50 + ["gåtur"])) == ["Gåtur"]


@contextmanager
def bound_parameters(engine: Engine) -> Iterator[list[int]]:
    """How many parameters each statement binds, while the block runs."""
    counts: list[int] = []

    def count(*args: Any) -> None:
        parameters = args[3]
        counts.append(len(parameters) if isinstance(parameters, dict | tuple | list) else 0)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield counts
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_a_search_without_letters_or_digits_narrows_nothing(directory: Directory) -> None:
    directory.service("B")
    directory.service("A")
    assert directory.search(" \u2013 !? ") == ["A", "B"]


def test_a_changed_service_is_found_by_its_new_words_only(directory: Directory) -> None:
    service_id = directory.service("Gåtur", "Et fællesskab.", interests=("walking",))
    elsewhere = directory.location("Seniorhaven", "Nørrebro")
    current = services.one("service", service_id, directory.start_uow)
    [at] = current["service_at_locations"]
    [area] = current["service_areas"]
    [walking] = current["attributes"]
    knitting = str(term_id(Taxonomy.INTERESTS, "knitting"))
    services.change(
        "service",
        str(service_id),
        {
            "name": "Strikkeklub",
            "description": "Vi strikker.",
            "service_at_locations": [{"id": at["id"], "location_id": str(elsewhere.id)}],
            "service_areas": [{"id": area["id"], "name": "Nørrebro"}],
            "attributes": [
                {
                    "id": walking["id"],
                    "link_entity": "service",
                    "link_type": "interests",
                    "taxonomy_term_id": knitting,
                }
            ],
        },
        OPERATOR,
        directory.start_uow,
        clock=directory.clock,
    )
    for old in ["gåtur", "fællesskab", "walking", "valby", "huset"]:
        assert directory.search(old) == [], old
    for new in ["strik", "knitting", "nørrebro", "seniorhaven"]:
        assert directory.search(new) == ["Strikkeklub"], new


def test_a_change_of_places_keeps_the_words(directory: Directory) -> None:
    service_id = directory.service("Gåtur")
    with directory.start_uow() as uow:
        services.take_place(referral_accepted(service_id=service_id), uow, clock=directory.clock)
    assert directory.search("gåtur") == ["Gåtur"]


def test_organisations_are_searched_by_their_own_words_name_first(directory: Directory) -> None:
    directory.new_organization("Gåklubben", "Vi mødes i parken.")
    directory.new_organization("Sangkoret", "Sang og gåture.")
    directory.new_organization("Skakklubben", "Brætspil.")
    found = services.organizations("gaa", services.Paging(1, 10), directory.start_uow)
    assert [item["name"] for item in found.contents] == ["Gåklubben", "Sangkoret"]
    assert found.total_items == 2
    everyone = services.organizations(None, services.Paging(2, 2), directory.start_uow)
    assert [item["name"] for item in everyone.contents] == ["Sangkoret", "Skakklubben"]
    assert everyone.total_items == 4
