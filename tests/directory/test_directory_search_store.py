"""A citizen's search in SQL, on SQLite and PostgreSQL: folded words kept per service and
matched by prefix, ranked, combined with the filters, and kept up as services change."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID, uuid4

import pytest
from alembic import command
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from directory import services
from directory.app import MIGRATIONS
from directory.domain import Location, Organization, Service, TimeOfDay
from directory.search import MAX_QUERY_WORDS
from directory.store import (
    DirectoryUnitOfWork,
    LocationRow,
    OrganizationRow,
    ServiceFilter,
    ServiceRow,
    ServiceSearchWordRow,
    ServiceTermRow,
)
from runtime.migrations import alembic_config, upgrade

StartUow = Callable[[], DirectoryUnitOfWork]
SOURCE = "/brobygger/directory"


@pytest.fixture
def engine(engine_for: Callable[[str], Engine]) -> Engine:
    return engine_for("directory")


@pytest.fixture
def start_uow(engine: Engine) -> StartUow:
    upgrade(MIGRATIONS, engine)
    sessions = sessionmaker(engine, class_=Session, expire_on_commit=False)
    return lambda: DirectoryUnitOfWork(sessions, SOURCE)


class Directory:
    """A small directory built through the use cases, as partners build it."""

    def __init__(self, start_uow: StartUow) -> None:
        self.start_uow = start_uow
        self.organization = services.create_organization(
            services.CreateOrganization(
                name="Forening", description="En forening.", coordinator_email="k@f.example"
            ),
            start_uow,
        )
        self.locations: dict[tuple[str, str], UUID] = {}

    def location(self, name: str, district: str) -> UUID:
        if (name, district) not in self.locations:
            self.locations[name, district] = services.create_location(
                services.CreateLocation(
                    organization_id=self.organization.id,
                    name=name,
                    address_1="Gade 1",
                    postal_code="2200",
                    city="København",
                    district=district,
                ),
                self.start_uow,
            ).id
        return self.locations[name, district]

    def service(
        self,
        name: str,
        description: str = "Et fællesskab.",
        *,
        district: str = "Valby",
        location: str = "Huset",
        interests: tuple[str, ...] = (),
        languages: tuple[str, ...] = ("da",),
    ) -> UUID:
        return services.create_service(
            services.CreateService(
                organization_id=self.organization.id,
                location_id=self.location(location, district),
                name=name,
                description=description,
                time_of_day=TimeOfDay.MORNING,
                capacity=10,
                interests=list(interests),
                languages=list(languages),
            ),
            self.start_uow,
        ).service.id

    def search(self, words: str, **filters: str) -> list[str]:
        found, total = services.search_services(
            ServiceFilter(search=words, **filters), 0, 50, self.start_uow
        )
        assert total == len(found)
        return [each.service.name for each in found]


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
    assert directory.search("gåtur") == ["Gaatur i parken"]
    assert directory.search("Nørrebro") == ["Strikkeklub"]


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


def test_name_matches_come_first_then_more_matched_words_then_by_name(
    directory: Directory,
) -> None:
    directory.service("Kortklub", "Kaffe og gåtur bagefter.")
    directory.service("Boldspil", "Gåtur og kaffe og kage.")
    directory.service("Gåtur", "Rundt om søerne.")
    directory.service("Aftengåtur", "Med kaffe.")  # "gåtur" does not start a word of it
    directory.service("Gåtur med kaffe", "Hver dag.")
    directory.service("Strik", "Intet af det.")
    assert directory.search("gåtur kaffe") == [
        "Gåtur med kaffe",  # both words in the name
        "Gåtur",  # one in the name
        "Boldspil",  # both in the description, then by name
        "Kortklub",
        "Aftengåtur",  # one in the description
    ]


def test_a_search_holds_together_with_every_other_filter(directory: Directory) -> None:
    directory.service("Gåtur Valby", district="Valby", interests=("walking",))
    directory.service("Gåtur Amager", district="Amager", interests=("walking",))
    directory.service("Gåtur på engelsk", district="Amager", languages=("en",))
    assert directory.search("gåtur", district="amager") == ["Gåtur Amager", "Gåtur på engelsk"]
    assert directory.search("gåtur", language="en") == ["Gåtur på engelsk"]
    assert directory.search("gåtur", interest="walking", district="Valby") == ["Gåtur Valby"]


def test_a_search_is_paged_and_counted_in_its_ranked_order(directory: Directory) -> None:
    for name in ["Gåtur C", "Gåtur A", "Gåtur B", "Sang med gåtur", "Skak"]:
        directory.service(name, "Gåtur bagefter." if name == "Skak" else "Et fællesskab.")
    filters = ServiceFilter(search="gåtur")
    pages = [
        services.search_services(filters, offset, 2, directory.start_uow) for offset in (0, 2, 4)
    ]
    assert [total for _, total in pages] == [5, 5, 5]
    assert [[each.service.name for each in page] for page, _ in pages] == [
        ["Gåtur A", "Gåtur B"],
        ["Gåtur C", "Sang med gåtur"],
        ["Skak"],
    ]


def test_a_search_of_many_words_binds_a_bounded_number_of_them(directory: Directory) -> None:
    directory.service("Gåtur")
    words = " ".join(["skak"] + [f"ord{n}" for n in range(50)] + ["gåtur"])
    assert MAX_QUERY_WORDS < 52
    assert directory.search(words) == []
    assert directory.search(" ".join(["skak"] * 50 + ["gåtur"])) == ["Gåtur"]


def test_a_search_without_letters_or_digits_narrows_nothing(directory: Directory) -> None:
    directory.service("B")
    directory.service("A")
    assert directory.search(" \u2013 !? ") == ["A", "B"]


def test_a_changed_service_is_found_by_its_new_words_only(directory: Directory) -> None:
    service_id = directory.service("Gåtur", interests=("walking",))
    elsewhere = directory.location("Seniorhaven", "Nørrebro")
    services.update_service(
        services.UpdateService(
            service_id=service_id,
            name="Strikkeklub",
            description="Vi strikker.",
            interests=["knitting"],
            location_id=elsewhere,
        ),
        directory.start_uow,
    )
    for old in ["gåtur", "fællesskab", "walking", "valby", "huset"]:
        assert directory.search(old) == [], old
    for new in ["strik", "knitting", "nørrebro", "seniorhaven"]:
        assert directory.search(new) == ["Strikkeklub"], new


def test_a_change_of_places_keeps_the_words(directory: Directory) -> None:
    service_id = directory.service("Gåtur")
    services.update_service(
        services.UpdateService(service_id=service_id, free_places=3), directory.start_uow
    )
    assert directory.search("gåtur") == ["Gåtur"]


def test_services_that_were_there_before_the_revision_are_found_after_it(
    engine: Engine,
) -> None:
    config = alembic_config(MIGRATIONS, engine)
    command.upgrade(config, "0004")
    organization = Organization(uuid4(), "Forening", "En forening.", "k@f.example")
    location = Location(
        uuid4(), organization.id, "Seniorhaven", "Gade 1", "2200", "Kbh", "Valby", False
    )
    service = Service(
        id=uuid4(),
        organization_id=organization.id,
        location_id=location.id,
        name="Gåtur",
        description="Rundt om søerne.",
        time_of_day=TimeOfDay.MORNING,
        capacity=10,
        free_places=10,
    )
    sessions = sessionmaker(engine, class_=Session)
    with sessions.begin() as session:
        # Written as the tables stood at 0004: the search words came with 0005.
        session.add(OrganizationRow.model_validate(organization, from_attributes=True))
        session.flush()
        session.add(LocationRow(**vars(location), district_key=location.district.casefold()))
        session.flush()
        session.add(
            ServiceRow(
                id=service.id,
                organization_id=organization.id,
                location_id=location.id,
                name=service.name,
                description=service.description,
                status=service.status.value,
                time_of_day=service.time_of_day.value,
                capacity=10,
                free_places=10,
            )
        )
        session.flush()
        session.add(ServiceTermRow(service_id=service.id, taxonomy="interest", term="walking"))

    command.upgrade(config, "head")
    start_uow: StartUow = lambda: DirectoryUnitOfWork(  # noqa: E731
        sessionmaker(engine, class_=Session), SOURCE
    )
    for words in ["gaatur", "soerne", "seniorhaven", "valby", "walk"]:
        found, _ = services.search_services(ServiceFilter(search=words), 0, 10, start_uow)
        assert [each.service.id for each in found] == [service.id], words
    command.downgrade(config, "0004")
    command.upgrade(config, "head")
    with sessions() as session:
        assert session.execute(select(func.count()).select_from(ServiceSearchWordRow)).scalar()
