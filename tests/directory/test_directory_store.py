"""The directory store on the real databases: SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import Engine, Row, func, select, text
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from contracts import IntegrationEvent, ReferralAccepted, ReferralErased, ServiceChanged
from directory import consumers, demo, services
from directory.app import MIGRATIONS
from directory.domain import InvalidService, ServiceAtLocation, ServiceStatus, TimeOfDay
from directory.store import (
    DirectoryUnitOfWork,
    OrganizationRow,
    PlaceHoldRow,
    ServiceFilter,
    ServiceRow,
    SqlOrganizationRepository,
    SqlServiceRepository,
)
from runtime.consumer import EventConsumer
from runtime.migrations import upgrade
from runtime.storage import inbox, outbox
from tests.events import (
    referral_accepted,
    referral_cancelled,
    referral_completed,
    referral_failed,
    referral_submitted,
)
from tests.kit import record_of, wait_for

StartUow = Callable[[], DirectoryUnitOfWork]
SOURCE = "/brobygger/directory"
REFERRALS = "/brobygger/referrals"
WALKING = demo.NORREBRO_WALKING_GROUP_SERVICE_ID
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
WAIT_SECONDS = 30
ENDINGS = [referral_completed, referral_failed, referral_cancelled]
Ending = Callable[[ReferralAccepted], IntegrationEvent]


@pytest.fixture
def sessions(engine_for: Callable[[str], Engine]) -> sessionmaker[Session]:
    engine = engine_for("directory")
    upgrade(MIGRATIONS, engine)
    return sessionmaker(engine, class_=Session, expire_on_commit=False)


@pytest.fixture
def start_uow(sessions: sessionmaker[Session]) -> StartUow:
    return lambda: DirectoryUnitOfWork(sessions, SOURCE)


@pytest.fixture
def seeded(start_uow: StartUow) -> StartUow:
    assert services.seed_demo(start_uow)
    return start_uow


def count(start_uow: StartUow, table: Any) -> int:
    with start_uow() as uow:
        return int(uow.session.execute(select(func.count()).select_from(table)).scalar_one())


def names(found: tuple[list[ServiceAtLocation], int]) -> list[str]:
    return [service_at_location.service.name for service_at_location in found[0]]


def outbox_rows(start_uow: StartUow, topic: str) -> list[Row[Any]]:
    with start_uow() as uow:
        return list(
            uow.session.execute(
                select(outbox).where(outbox.c.topic == topic).order_by(outbox.c.seq)
            ).all()
        )


def announced(start_uow: StartUow) -> list[ServiceChanged]:
    """The ServiceChanged events in the outbox, in the order they go out."""
    return [
        ServiceChanged.model_validate_json(row.value)
        for row in outbox_rows(start_uow, "directory.service.v1")
    ]


def stored(start_uow: StartUow, service_id: UUID = WALKING) -> Any:
    return services.get_service(service_id, start_uow).service


def holds(start_uow: StartUow) -> dict[UUID, UUID]:
    with start_uow() as uow:
        rows = uow.session.execute(select(PlaceHoldRow.referral_id, PlaceHoldRow.service_id))
        return {referral_id: service_id for referral_id, service_id in rows}


def consumer_on(start_uow: StartUow) -> EventConsumer:
    async def never_dead_letter(*_: object) -> None:
        raise AssertionError("nothing should be dead-lettered")

    return EventConsumer(
        group_id="brobygger-directory",
        handlers=consumers.handlers(max_matches=5, clock=lambda: NOW),
        uow_factory=start_uow,
        dead_letter_topic="directory.deadletter.v1",
        publish_raw=never_dead_letter,
    )


def test_seeding_twice_stores_the_demo_directory_once(seeded: StartUow) -> None:
    assert not services.seed_demo(seeded)
    assert count(seeded, ServiceRow) == 10
    found = services.get_service(demo.VISITING_FRIEND_SERVICE_ID, seeded)
    assert found.service == demo.VISITING_FRIEND
    assert found.location == demo.BISPEBJERG_OFFICE


def test_seeding_puts_one_change_of_each_demo_service_in_the_outbox(seeded: StartUow) -> None:
    rows = outbox_rows(seeded, "directory.service.v1")
    assert sorted(row.key for row in rows) == sorted(str(s.id) for s in demo.SERVICES)
    assert {row.headers["ce_type"] for row in rows} == {ServiceChanged.event_type}
    assert {event.free_places for event in announced(seeded)} == {
        service.free_places for service in demo.SERVICES
    }


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
        return _LateReplicaUnitOfWork(sessions, SOURCE)

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
        handlers=consumers.handlers(max_matches=5),
        uow_factory=seeded,
        dead_letter_topic="directory.deadletter.v1",
        publish_raw=never_dead_letter,
    )
    event = referral_submitted(age_band="75-79", district="Amager", interests=["singing"])
    record = record_of(event, offset=1, source="/brobygger/referrals")
    await consumer.handle(record)
    await consumer.handle(record)
    assert count(seeded, inbox) == 1
    [row] = outbox_rows(seeded, "directory.match.v1")
    assert row.key == str(event.referral_id)
    assert row.headers["ce_type"] == "dk.brobygger.directory.match.found.v1"
    assert str(demo.AMAGER_SINGING_SERVICE_ID) in row.value.decode()


def test_an_update_writes_only_the_fields_and_keywords_sent(seeded: StartUow) -> None:
    services.update_service(
        services.UpdateService(WALKING, interests=["Chess", "walking"], schedule_description=None),
        seeded,
    )
    service = stored(seeded)
    assert (service.interests, service.schedule_description) == (["chess", "walking"], None)
    before = demo.NORREBRO_WALKING_GROUP
    assert (service.languages, service.target_groups) == (before.languages, before.target_groups)
    assert (service.name, service.free_places, service.capacity) == (before.name, 6, 20)
    [change] = announced(seeded)[len(demo.SERVICES) :]
    assert (change.service_id, change.free_places) == (WALKING, 6)


@pytest.mark.parametrize(
    "update",
    [
        services.UpdateService(WALKING, capacity=5),
        services.UpdateService(WALKING, free_places=21),
        services.UpdateService(WALKING, capacity=10, free_places=11, name="Gågruppen"),
    ],
)
def test_an_update_that_leaves_more_free_places_than_capacity_is_rolled_back(
    seeded: StartUow, update: services.UpdateService
) -> None:
    with pytest.raises(InvalidService, match="free_places"):
        services.update_service(update, seeded)
    assert stored(seeded) == demo.NORREBRO_WALKING_GROUP
    assert len(announced(seeded)) == len(demo.SERVICES)


def test_places_are_taken_and_given_back_never_below_none_nor_above_the_capacity(
    seeded: StartUow,
) -> None:
    services.update_service(services.UpdateService(WALKING, capacity=2, free_places=1), seeded)
    with seeded() as uow:
        taken = [uow.services.take_place(WALKING) for _ in range(2)]
        assert (taken, stored_in(uow)) == ([True, False], 0)
        given = [uow.services.give_place_back(WALKING) for _ in range(3)]
        assert (given, stored_in(uow)) == ([True, True, False], 2)
        assert not uow.services.take_place(uuid4())


def stored_in(uow: DirectoryUnitOfWork) -> int:
    found = uow.services.get(WALKING)
    assert found is not None
    return found.service.free_places


@pytest.mark.parametrize("ending", ENDINGS)
async def test_an_accepted_referral_holds_a_place_until_it_ends_and_each_is_announced(
    seeded: StartUow, ending: Ending
) -> None:
    consumer = consumer_on(seeded)
    acceptance = referral_accepted(service_id=WALKING)
    await consumer.handle(record_of(acceptance, 1, REFERRALS))
    assert (stored(seeded).free_places, holds(seeded)) == (5, {acceptance.referral_id: WALKING})
    await consumer.handle(record_of(ending(acceptance), 2, REFERRALS))
    assert (stored(seeded).free_places, holds(seeded)) == (6, {})
    taken, given_back = announced(seeded)[len(demo.SERVICES) :]
    assert (taken.free_places, given_back.free_places) == (5, 6)
    assert (taken.service_id, taken.changed_at) == (WALKING, NOW)


async def test_an_acceptance_for_a_full_or_unknown_service_changes_nothing(
    seeded: StartUow,
) -> None:
    consumer = consumer_on(seeded)
    await consumer.handle(
        record_of(referral_accepted(service_id=demo.NORREBRO_CARD_CLUB_SERVICE_ID), 1, REFERRALS)
    )
    await consumer.handle(record_of(referral_accepted(), 2, REFERRALS))
    assert stored(seeded, demo.NORREBRO_CARD_CLUB_SERVICE_ID).free_places == 0
    assert holds(seeded) == {}
    assert len(announced(seeded)) == len(demo.SERVICES)
    assert count(seeded, inbox) == 2


async def test_a_redelivered_acceptance_takes_one_place_in_the_database(
    seeded: StartUow,
) -> None:
    consumer = consumer_on(seeded)
    record = record_of(referral_accepted(service_id=WALKING), 1, REFERRALS)
    await consumer.handle(record)
    await consumer.handle(record)
    assert stored(seeded).free_places == 5
    assert len(announced(seeded)) == len(demo.SERVICES) + 1
    assert count(seeded, inbox) == 1


@pytest.mark.parametrize("ending", ENDINGS)
async def test_a_redelivered_ending_gives_back_one_place_in_the_database(
    seeded: StartUow, ending: Ending
) -> None:
    consumer = consumer_on(seeded)
    first, second = referral_accepted(service_id=WALKING), referral_accepted(service_id=WALKING)
    await consumer.handle(record_of(first, 1, REFERRALS))
    await consumer.handle(record_of(second, 2, REFERRALS))
    record = record_of(ending(first), 3, REFERRALS)
    await consumer.handle(record)
    await consumer.handle(record)
    assert (stored(seeded).free_places, holds(seeded)) == (5, {second.referral_id: WALKING})
    assert [e.free_places for e in announced(seeded)[len(demo.SERVICES) :]] == [5, 4, 5]
    assert count(seeded, inbox) == 3


async def test_an_erasure_drops_the_place_hold_and_gives_a_place_still_held_back_once(
    seeded: StartUow,
) -> None:
    consumer = consumer_on(seeded)
    held, cancelled, other = (referral_accepted(service_id=WALKING) for _ in range(3))
    for offset, event in enumerate((held, cancelled, other, referral_cancelled(cancelled))):
        await consumer.handle(record_of(event, offset, REFERRALS))
    assert stored(seeded).free_places == 4
    for offset, erased in enumerate((held, cancelled), start=4):
        event = ReferralErased(
            referral_id=erased.referral_id, organization_ids=[uuid4()], erased_at=NOW
        )
        record = record_of(event, offset, REFERRALS)
        await consumer.handle(record)
        await consumer.handle(record)
    assert (stored(seeded).free_places, holds(seeded)) == (5, {other.referral_id: WALKING})
    assert [e.free_places for e in announced(seeded)[len(demo.SERVICES) :]] == [5, 4, 3, 4, 5]
    assert count(seeded, inbox) == 6


def assert_place_and_rename_both_kept(answered: ServiceAtLocation, seeded: StartUow) -> None:
    """The partner's rename answered, stored and announced with the place taken before it."""
    assert (answered.service.name, answered.service.free_places) == ("Gågruppen", 5)
    assert (stored(seeded).name, stored(seeded).free_places) == ("Gågruppen", 5)
    taken, renamed = announced(seeded)[len(demo.SERVICES) :]
    assert (taken.name, taken.free_places) == (demo.NORREBRO_WALKING_GROUP.name, 5)
    assert (renamed.name, renamed.free_places) == ("Gågruppen", 5)


def test_a_place_taken_while_a_partner_edits_the_service_is_kept(
    sessions: sessionmaker[Session], seeded: StartUow
) -> None:
    """The partner's PATCH has read the service when a referral takes a place and commits;
    then the PATCH writes. Rewriting the row as read would give the place back."""
    partner_read, place_taken = threading.Event(), threading.Event()

    class PausesAfterFirstRead(SqlServiceRepository):
        def get(self, service_id: UUID) -> ServiceAtLocation | None:
            found = super().get(service_id)
            if not partner_read.is_set():
                partner_read.set()
                assert place_taken.wait(WAIT_SECONDS), "the place was never taken"
            return found

    class PartnersUnitOfWork(DirectoryUnitOfWork):
        def _open(self) -> None:
            super()._open()
            self.services = PausesAfterFirstRead(self.session)

    with ThreadPoolExecutor(1) as pool:
        patch = pool.submit(
            services.update_service,
            services.UpdateService(WALKING, name="Gågruppen"),
            lambda: PartnersUnitOfWork(sessions, SOURCE),
        )
        assert partner_read.wait(WAIT_SECONDS), "the partner's update never read the service"
        with seeded() as uow:
            services.take_place(referral_accepted(service_id=WALKING), uow)
        place_taken.set()
        answered = patch.result(timeout=WAIT_SECONDS)

    assert_place_and_rename_both_kept(answered, seeded)


@pytest.mark.parametrize("engine_for", ["postgresql"], indirect=True)
def test_a_partners_edit_waits_for_a_place_being_taken_and_keeps_it(
    sessions: sessionmaker[Session], seeded: StartUow
) -> None:
    """Both transactions open at once: the referral's has taken the place (and holds the
    row's lock) but not committed when the partner's PATCH writes the same row."""
    place_written, commit_place = threading.Event(), threading.Event()

    class CommitsWhenTold(DirectoryUnitOfWork):
        def commit(self) -> None:
            place_written.set()
            assert commit_place.wait(WAIT_SECONDS), "never told to commit"
            super().commit()

    def take() -> None:
        with CommitsWhenTold(sessions, SOURCE) as uow:
            services.take_place(referral_accepted(service_id=WALKING), uow)

    def waiting_for_a_lock() -> bool:
        with seeded() as uow:
            return bool(
                uow.session.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                ).scalar_one()
            )

    with ThreadPoolExecutor(2) as pool:
        taking = pool.submit(take)
        assert place_written.wait(WAIT_SECONDS), "the place was never taken"
        patch = pool.submit(
            services.update_service, services.UpdateService(WALKING, name="Gågruppen"), seeded
        )
        wait_for(waiting_for_a_lock, "the partner's update to wait for the row", WAIT_SECONDS)
        commit_place.set()
        taking.result(timeout=WAIT_SECONDS)
        answered = patch.result(timeout=WAIT_SECONDS)

    assert_place_and_rename_both_kept(answered, seeded)
