"""The directory store on the real databases: SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from contracts import ReferralSubmitted
from directory import consumers, demo, services
from directory.app import MIGRATIONS
from directory.domain import ServiceAtLocation, ServiceStatus, TimeOfDay
from directory.store import (
    DirectoryUnitOfWork,
    OrganizationRow,
    ServiceFilter,
    ServiceRow,
    SqlOrganizationRepository,
)
from runtime.consumer import EventConsumer
from runtime.migrations import upgrade
from runtime.storage import inbox, outbox
from tests.kit import record_of

StartUow = Callable[[], DirectoryUnitOfWork]


@pytest.fixture
def sessions(engine_for: Callable[[str], Engine]) -> sessionmaker[Session]:
    engine = engine_for("directory")
    upgrade(MIGRATIONS, engine)
    return sessionmaker(engine, class_=Session, expire_on_commit=False)


@pytest.fixture
def start_uow(sessions: sessionmaker[Session]) -> StartUow:
    return lambda: DirectoryUnitOfWork(sessions, "/brobygger/directory")


@pytest.fixture
def seeded(start_uow: StartUow) -> StartUow:
    assert services.seed_demo(start_uow)
    return start_uow


def count(start_uow: StartUow, table: Any) -> int:
    with start_uow() as uow:
        return int(uow.session.execute(select(func.count()).select_from(table)).scalar_one())


def names(found: tuple[list[ServiceAtLocation], int]) -> list[str]:
    return [service_at_location.service.name for service_at_location in found[0]]


def test_seeding_twice_stores_the_demo_directory_once(seeded: StartUow) -> None:
    assert not services.seed_demo(seeded)
    assert count(seeded, ServiceRow) == 10
    stored = services.get_service(demo.VISITING_FRIEND_SERVICE_ID, seeded)
    assert stored.service == demo.VISITING_FRIEND
    assert stored.location == demo.BISPEBJERG_OFFICE


class _UnseenOrganizations(SqlOrganizationRepository):
    def count(self) -> int:
        return 0


class _LateReplicaUnitOfWork(DirectoryUnitOfWork):
    """Counts no organisations, as a replica that looked before another's seed committed."""

    def _open(self) -> None:
        super()._open()
        self.organizations = _UnseenOrganizations(self.session)


def test_a_replica_that_seeds_after_another_finds_the_demo_data_and_stores_no_copy(
    sessions: sessionmaker[Session], seeded: StartUow
) -> None:
    def late_replica() -> DirectoryUnitOfWork:
        return _LateReplicaUnitOfWork(sessions, "/brobygger/directory")

    assert not services.seed_demo(late_replica)
    assert count(seeded, OrganizationRow) == len(demo.ORGANIZATIONS)
    assert count(seeded, ServiceRow) == len(demo.SERVICES)


def test_a_new_organisation_location_and_service_read_back_as_written(
    start_uow: StartUow,
) -> None:
    organization = services.create_organization(
        services.CreateOrganization(
            "Brønshøj Seniorsvømning",
            "Svømning for seniorer.",
            "k@svom.example",
            website="https://svom.example/",
        ),
        start_uow,
    )
    location = services.create_location(
        services.CreateLocation(
            organization.id,
            "Svømmehallen",
            "Frederikssundsvej 1",
            "2700",
            "Brønshøj",
            "Brønshøj-Husum",
            wheelchair_accessible=True,
            latitude=55.7,
            longitude=12.49,
        ),
        start_uow,
    )
    created = services.create_service(
        services.CreateService(
            organization.id,
            location.id,
            "Morgensvømning",
            "Hver morgen.",
            time_of_day=TimeOfDay.MORNING,
            capacity=8,
            free_places=2,
            interests=["exercise"],
            languages=["da", "pl"],
            target_groups=["older_people"],
        ),
        start_uow,
    )
    assert services.get_organization(organization.id, start_uow) == organization
    assert services.get_service(created.service.id, start_uow) == created


def test_keywords_and_districts_that_grow_when_lower_cased_are_stored_and_found(
    start_uow: StartUow,
) -> None:
    # Within the API's limits, but longer once folded: "ß" becomes "ss", "İ" "i" and a dot.
    district, interest = "ß" * 100, "İ" * 40
    organization = services.create_organization(
        services.CreateOrganization("Straße", "Et fællesskab.", "k@strasse.example"), start_uow
    )
    location = services.create_location(
        services.CreateLocation(organization.id, "Huset", "Gade 1", "2200", "København", district),
        start_uow,
    )
    created = services.create_service(
        services.CreateService(
            organization.id,
            location.id,
            "Gåtur",
            "Hver dag.",
            time_of_day=TimeOfDay.MORNING,
            capacity=5,
            interests=[interest],
            languages=["da"],
        ),
        start_uow,
    )
    found = services.search_services(
        ServiceFilter(district="SS" * 100, interest=interest.lower()), 0, 10, start_uow
    )
    assert found == ([created], 1)


def test_services_are_searched_by_district_interest_and_language(seeded: StartUow) -> None:
    def search(**filters: str) -> list[str]:
        return names(services.search_services(ServiceFilter(**filters), 0, 50, seeded))

    # Any case, also for letters SQLite's lower() does not know.
    assert search(district="østerbro") == ["Skakklubben Østerbro Senior"]
    assert search(district="VESTERBRO") == [
        "Dansk Flygtningehjælp mentorordning",
        "Fællesspisning for seniorer på Vesterbro",
    ]
    assert sorted(search(interest="digital", language="ar")) == [
        demo.REFUGEE_MENTOR.name,
        demo.DIGITAL_HELP.name,
    ]
    assert search(district="Vesterbro", interest="cooking", language="ur") == [
        "Fællesspisning for seniorer på Vesterbro"
    ]
    assert search(district="Aarhus") == []


def test_a_search_is_paged_in_a_stable_order(seeded: StartUow) -> None:
    everything = services.search_services(ServiceFilter(), 0, 100, seeded)
    pages = [services.search_services(ServiceFilter(), offset, 4, seeded) for offset in (0, 4, 8)]
    assert [total for _, total in pages] == [10, 10, 10]
    assert [len(page) for page, _ in pages] == [4, 4, 2]
    assert [name for page in pages for name in names(page)] == names(everything)
    organizations, total = services.list_organizations(6, 5, seeded)
    assert (len(organizations), total) == (2, 8)


def test_an_update_replaces_the_keywords_in_the_database(seeded: StartUow) -> None:
    services.update_service(
        services.UpdateService(
            demo.OSTERBRO_CHESS_SERVICE_ID,
            interests=["cards"],
            languages=["tr"],
            free_places=0,
            status=ServiceStatus.INACTIVE,
        ),
        seeded,
    )
    stored = services.get_service(demo.OSTERBRO_CHESS_SERVICE_ID, seeded).service
    assert (stored.interests, stored.languages, stored.free_places) == (["cards"], ["tr"], 0)
    assert stored.status is ServiceStatus.INACTIVE
    assert stored.target_groups == ["older_people"]
    assert names(services.search_services(ServiceFilter(interest="chess"), 0, 10, seeded)) == []


async def test_a_redelivered_referral_is_matched_and_published_once(seeded: StartUow) -> None:
    async def never_dead_letter(*_: object) -> None:
        raise AssertionError("nothing should be dead-lettered")

    consumer = EventConsumer(
        group_id="brobygger-directory",
        handlers=consumers.handlers(),
        uow_factory=seeded,
        dead_letter_topic="directory.deadletter.v1",
        publish_raw=never_dead_letter,
    )
    event = ReferralSubmitted(
        referral_id=uuid4(),
        citizen_ref="cit_0123",
        age_band="75-79",
        district="Amager",
        interests=["singing"],
        languages=["da"],
        submitted_at=datetime.now(UTC),
    )
    record = record_of(event, offset=1, source="/brobygger/referrals")
    await consumer.handle(record)
    await consumer.handle(record)
    assert count(seeded, inbox) == 1
    with seeded() as uow:
        [row] = uow.session.execute(select(outbox)).all()
    assert row.key == str(event.referral_id)
    assert row.headers["ce_type"] == "dk.brobygger.directory.match.found.v1"
    assert str(demo.AMAGER_SINGING_SERVICE_ID) in row.value.decode()
