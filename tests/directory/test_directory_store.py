"""directory's use cases on the real databases, SQLite and PostgreSQL: seeding, importing,
and the places accepted referrals take and give back, also against a partner's edit."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import Engine, Row, func, select
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from contracts import IntegrationEvent, ReferralAccepted, ReferralErased, ServiceChanged
from directory import consumers, demo, services
from directory.app import MIGRATIONS
from directory.domain import Location, Organization, Service
from directory.hsds import brobygger, vocabulary
from directory.hsds.records import Record
from directory.store import DirectoryUnitOfWork, ServiceQuery
from directory.store.records import SqlRecordStore
from directory.store.tables import PlaceHoldRow
from runtime.consumer import EventConsumer
from runtime.migrations import upgrade
from runtime.storage import inbox, outbox
from tests.events import (
    referral_accepted,
    referral_cancelled,
    referral_completed,
    referral_failed,
)
from tests.kit import record_of, wait_for, waiting_for_a_lock

StartUow = Callable[[], DirectoryUnitOfWork]
SOURCE = "/brobygger/directory"
REFERRALS = "/brobygger/referrals"
WALKING = demo.NORREBRO_WALKING_GROUP_SERVICE_ID
CARD_CLUB = demo.NORREBRO_CARD_CLUB_SERVICE_ID
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
SEEDED_AT = NOW - timedelta(days=1)
PARTNER = services.Editor("partner-1", organization_id=demo.NORREBRO_WALKING_GROUP_ORG_ID)
IMPORTER = services.Editor("brobygger directory import")
WAIT_SECONDS = 30
ENDINGS = [referral_completed, referral_failed, referral_cancelled]
Ending = Callable[[ReferralAccepted], IntegrationEvent]


@pytest.fixture
def engine(engine_for: Callable[[str], Engine]) -> Engine:
    engine = engine_for("directory")
    upgrade(MIGRATIONS, engine)
    return engine


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, class_=Session, expire_on_commit=False)


@pytest.fixture
def start_uow(sessions: sessionmaker[Session]) -> StartUow:
    """A started directory: its vocabulary written, as on every start."""
    start: StartUow = lambda: DirectoryUnitOfWork(sessions, SOURCE)  # noqa: E731
    services.keep_vocabulary(start, clock=lambda: SEEDED_AT)
    return start


@pytest.fixture
def seeded(start_uow: StartUow) -> StartUow:
    assert services.seed_demo(start_uow, clock=lambda: SEEDED_AT)
    return start_uow


def count(start_uow: StartUow, table: Any) -> int:
    with start_uow() as uow:
        statement = select(func.count()).select_from(table)
        return int(uow.session.execute(statement).scalar_one())


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


def since_seeding(start_uow: StartUow) -> list[ServiceChanged]:
    return announced(start_uow)[len(demo.SERVICES) :]


def places(start_uow: StartUow, service_id: UUID = WALKING) -> dict[str, Any]:
    """The service's capacity in places as the HSDS API publishes it, checked to be what
    matching sees."""
    document = services.one("service", service_id, start_uow)
    [capacity] = document["capacities"]
    with start_uow() as uow:
        found = uow.services.get(service_id)
    assert found is not None
    assert (capacity["available"], capacity["maximum"]) == (
        found.service.free_places,
        found.service.capacity,
    )
    assert found.service.name == document["name"]
    return {**capacity, "name": document["name"]}


def free_places(start_uow: StartUow, service_id: UUID = WALKING) -> int:
    return int(places(start_uow, service_id)["available"])


def holds(start_uow: StartUow) -> dict[UUID, UUID]:
    with start_uow() as uow:
        rows = uow.session.execute(select(PlaceHoldRow)).scalars().all()
        return {row.referral_id: row.service_id for row in rows}


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


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


# --- seeding ---------------------------------------------------------------------------------


def test_seeding_fills_an_empty_directory_once(seeded: StartUow) -> None:
    assert not services.seed_demo(seeded, clock=lambda: NOW)
    with seeded() as uow:
        assert uow.records.count("organization") == len(demo.ORGANIZATIONS)
        assert uow.records.count("service") == len(demo.SERVICES)
    found = services.one("service", demo.VISITING_FRIEND_SERVICE_ID, seeded)
    assert (found["name"], found["description"]) == (
        demo.VISITING_FRIEND.facts.name,
        demo.VISITING_FRIEND.description,
    )
    assert found["last_modified"] == demo.AS_OF.isoformat(), "the second seed changed nothing"
    assert len(announced(seeded)) == len(demo.SERVICES)


def test_seeding_puts_one_change_of_each_demo_service_in_the_outbox(seeded: StartUow) -> None:
    rows = outbox_rows(seeded, "directory.service.v1")
    assert sorted(row.key for row in rows) == sorted(str(s.id) for s in demo.SERVICES)
    assert {row.headers["ce_type"] for row in rows} == {ServiceChanged.event_type}
    by_service = {event.service_id: event for event in announced(seeded)}
    for service in demo.SERVICES:
        event = by_service[service.id]
        assert (event.name, event.status, event.capacity, event.free_places) == (
            service.facts.name,
            service.facts.status.value,
            service.facts.capacity,
            service.facts.free_places,
        )
        assert event.changed_at == SEEDED_AT


class _SeesNoOrganizations(SqlRecordStore):
    def count(self, entity: str) -> int:
        return 0


class _LateReplicaUnitOfWork(DirectoryUnitOfWork):
    """Counts no organisations, as a replica that looked before another's seed committed."""

    def _open(self) -> None:
        super()._open()
        self.records = _SeesNoOrganizations(self.session)


def test_a_replica_that_seeds_after_another_finds_the_demo_data_and_stores_no_copy(
    sessions: sessionmaker[Session], seeded: StartUow
) -> None:
    def late_replica() -> DirectoryUnitOfWork:
        return _LateReplicaUnitOfWork(sessions, SOURCE)

    services.seed_demo(late_replica, clock=lambda: NOW)
    with seeded() as uow:
        assert uow.records.count("organization") == len(demo.ORGANIZATIONS)
        assert uow.records.count("service") == len(demo.SERVICES)
        assert len(uow.services.all()) == len(demo.SERVICES)


def test_seeding_leaves_a_directory_with_data_alone(start_uow: StartUow) -> None:
    services.create(
        "organization",
        {"name": "Lokal forening", "description": "Om os."},
        IMPORTER,
        start_uow,
        clock=lambda: NOW,
    )
    assert not services.seed_demo(start_uow, clock=lambda: NOW)
    with start_uow() as uow:
        assert (uow.records.count("organization"), uow.records.count("service")) == (1, 0)
    assert announced(start_uow) == []


# --- importing -------------------------------------------------------------------------------


def community(name: str) -> list[Record]:
    """An organisation with one location and one matchable service, as HSDS records."""
    organization = Organization(uuid4(), name, "En forening.", f"k@{uuid4().hex[:8]}.example")
    location = Location(
        uuid4(), organization.id, f"{name}s lokale", "Gade 1", "2200", "København N",
        "Nørrebro", wheelchair_accessible=False,
    )  # fmt: skip
    service = Service(
        uuid4(), organization.id, location.id, f"{name} gåtur", capacity=10, free_places=4,
        interests=["walking"], languages=["da"],
    )  # fmt: skip
    return [
        *brobygger.organization_records(organization),
        *brobygger.location_records(location),
        *brobygger.service_records(service, location, updated_at=NOW),
    ]


def of(records: list[Record], entity: str) -> Record:
    [found] = [record for record in records if record.entity == entity]
    return found


def with_fields(record: Record, **fields: Any) -> Record:
    return Record(record.entity, record.fields | fields)


def test_an_organisation_with_a_rejected_record_is_left_as_it_was_while_the_others_import(
    start_uow: StartUow,
) -> None:
    first = community("Gåklubben")
    assert services.import_records(first, IMPORTER, start_uow, lambda: NOW).organizations == 1
    organization = of(first, "organization")
    renamed = with_fields(organization, name="Gåklubben Nørrebro")
    # A phone of the organisation at a location that is not there: the whole organisation
    # is refused.
    phone = Record(
        "phone",
        {
            "id": str(uuid4()),
            "organization_id": organization.id,
            "location_id": str(uuid4()),
            "number": "+45 12 34 56 78",
        },
    )
    other = community("Sangkoret")
    imported = services.import_records(
        [renamed, phone, *other],
        IMPORTER,
        start_uow,
        lambda: NOW,
        where={("phone", phone.id): "phones.csv row 2"},
    )
    assert (imported.organizations, imported.refused_organizations) == (1, 1)
    [rejection] = imported.rejected
    assert (rejection.where, rejection.field) == ("phones.csv row 2", "location_id")
    assert "not there" in rejection.reason
    assert services.one("organization", UUID(organization.id), start_uow)["name"] == "Gåklubben"
    with start_uow() as uow:
        assert uow.records.known("phone", [phone.id]) == set()
    assert services.one("organization", UUID(of(other, "organization").id), start_uow)


def test_an_import_counts_what_it_created_changed_and_left_unchanged(
    start_uow: StartUow,
) -> None:
    records = community("Gåklubben")
    # The unit of places every service counts in is the directory's, there from the start.
    new = len(records) - 1
    imported = services.import_records(records, IMPORTER, start_uow, lambda: NOW)
    assert (imported.organizations, imported.created, imported.changed) == (1, new, 0)
    assert (imported.unchanged, imported.rejected, imported.refused_organizations) == (1, [], 0)
    service = of(records, "service")
    changed = [with_fields(r, description="Nu med kaffe.") if r is service else r for r in records]
    again = services.import_records(changed, IMPORTER, start_uow, lambda: NOW + timedelta(hours=1))
    assert (again.organizations, again.created, again.changed, again.unchanged) == (
        1,
        0,
        1,
        len(records) - 1,
    )
    assert services.one("service", UUID(service.id), start_uow)["description"] == "Nu med kaffe."


def test_the_directorys_own_records_are_imported_first_whatever_their_order(
    start_uow: StartUow,
) -> None:
    """A service may be tagged with a term the same import brings: the records of no
    organisation (taxonomies, their terms) go in first, in a transaction of their own."""
    taxonomy = Record(
        "taxonomy", {"id": str(uuid4()), "name": "Bydelens aktiviteter", "description": "."}
    )
    term = Record(
        "taxonomy_term",
        {
            "id": str(uuid4()),
            "taxonomy_id": taxonomy.id,
            "code": "petanque",
            "name": "Petanque",
            "description": "Kuglespil.",
        },
    )
    records = community("Petanqueklubben")
    service = of(records, "service")
    tag = Record(
        "attribute",
        {
            "id": str(uuid4()),
            "link_id": service.id,
            "link_entity": "service",
            "link_type": "activity",
            "taxonomy_term_id": term.id,
        },
    )
    imported = services.import_records(
        [*records, tag, term, taxonomy], IMPORTER, start_uow, lambda: NOW
    )
    assert (imported.rejected, imported.organizations) == ([], 1)
    assert imported.created == len(records) - 1 + 3  # the unit of places was there
    with start_uow() as uow:
        assert uow.records.organization_of("taxonomy_term", term.id) is None
        assert uow.records.organization_of("attribute", tag.id) == UUID(
            of(records, "organization").id
        )
    found = services.services(
        ServiceQuery(taxonomy_term_ids=[UUID(term.id)]), services.Paging(1, 10), start_uow
    )
    assert [item["id"] for item in found.contents] == [service.id]


def test_a_partner_may_not_change_the_directorys_own_records(start_uow: StartUow) -> None:
    term = vocabulary.taxonomy_term_records()[0]
    changed = with_fields(term, name="Noget andet")
    imported = services.import_records([changed], PARTNER, start_uow, lambda: NOW)
    assert imported.created + imported.changed == 0
    [rejection] = imported.rejected
    assert "operators" in rejection.reason
    with start_uow() as uow:
        [stored] = uow.records.get("taxonomy_term", [term.id])
    assert stored.fields == term.fields


# --- places ----------------------------------------------------------------------------------


def test_places_are_taken_and_given_back_never_below_none_nor_above_the_maximum(
    seeded: StartUow,
) -> None:
    with seeded() as uow:
        taken = [uow.services.take_place(CARD_CLUB) for _ in range(2)]
        given = [uow.services.give_place_back(CARD_CLUB) for _ in range(17)]
        found = uow.services.get(CARD_CLUB)
        assert found is not None
        assert (taken, given, found.service.free_places) == (
            [False, False],
            [True] * 16 + [False],
            16,
        )
        assert not uow.services.take_place(uuid4())
        assert not uow.services.give_place_back(uuid4())


@pytest.mark.parametrize("ending", ENDINGS)
async def test_an_accepted_referral_holds_a_place_until_it_ends_and_each_is_announced(
    seeded: StartUow, ending: Ending
) -> None:
    consumer = consumer_on(seeded)
    acceptance = referral_accepted(service_id=WALKING)
    await consumer.handle(record_of(acceptance, 1, REFERRALS))
    assert (free_places(seeded), holds(seeded)) == (5, {acceptance.referral_id: WALKING})
    assert places(seeded)["updated"] == stamp(NOW)
    await consumer.handle(record_of(ending(acceptance), 2, REFERRALS))
    assert (free_places(seeded), holds(seeded)) == (6, {})
    taken, given_back = since_seeding(seeded)
    assert (taken.free_places, given_back.free_places) == (5, 6)
    assert (taken.service_id, taken.capacity, taken.changed_at) == (WALKING, 20, NOW)


async def test_an_acceptance_for_a_full_or_unknown_service_changes_nothing(
    seeded: StartUow,
) -> None:
    before = places(seeded, CARD_CLUB)
    consumer = consumer_on(seeded)
    await consumer.handle(record_of(referral_accepted(service_id=CARD_CLUB), 1, REFERRALS))
    await consumer.handle(record_of(referral_accepted(), 2, REFERRALS))
    assert places(seeded, CARD_CLUB) == before
    assert holds(seeded) == {}
    assert since_seeding(seeded) == []
    assert count(seeded, inbox) == 2


async def test_a_redelivered_acceptance_takes_one_place_in_the_database(
    seeded: StartUow,
) -> None:
    consumer = consumer_on(seeded)
    referral_id = uuid4()
    record = record_of(referral_accepted(referral_id=referral_id, service_id=WALKING), 1, REFERRALS)
    await consumer.handle(record)
    await consumer.handle(record)
    # The same acceptance again, under another event id.
    again = referral_accepted(referral_id=referral_id, service_id=WALKING)
    await consumer.handle(record_of(again, 2, REFERRALS))
    assert (free_places(seeded), holds(seeded)) == (5, {referral_id: WALKING})
    assert len(since_seeding(seeded)) == 1
    assert count(seeded, inbox) == 2


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
    assert (free_places(seeded), holds(seeded)) == (5, {second.referral_id: WALKING})
    assert [e.free_places for e in since_seeding(seeded)] == [5, 4, 5]
    assert count(seeded, inbox) == 3


async def test_an_erasure_drops_the_place_hold_and_gives_a_place_still_held_back_once(
    seeded: StartUow,
) -> None:
    consumer = consumer_on(seeded)
    held, cancelled, other = (referral_accepted(service_id=WALKING) for _ in range(3))
    for offset, event in enumerate((held, cancelled, other, referral_cancelled(cancelled))):
        await consumer.handle(record_of(event, offset, REFERRALS))
    assert free_places(seeded) == 4
    for offset, erased in enumerate((held, cancelled), start=4):
        event = ReferralErased(
            referral_id=erased.referral_id, organization_ids=[uuid4()], erased_at=NOW
        )
        record = record_of(event, offset, REFERRALS)
        await consumer.handle(record)
        await consumer.handle(record)
    assert (free_places(seeded), holds(seeded)) == (5, {other.referral_id: WALKING})
    assert [e.free_places for e in since_seeding(seeded)] == [5, 4, 3, 4, 5]
    assert count(seeded, inbox) == 6


def test_a_partners_patch_of_the_capacities_sets_the_free_places_it_sends(
    seeded: StartUow,
) -> None:
    with seeded() as uow:
        services.take_place(referral_accepted(service_id=WALKING), uow, clock=lambda: NOW)
    capacity = places(seeded)
    patch = {
        "capacities": [
            {
                "id": capacity["id"],
                "unit_id": str(brobygger.PLACES_UNIT_ID),
                "available": 12,
                "maximum": 12,
                "updated": stamp(NOW),
            }
        ]
    }
    services.change("service", str(WALKING), patch, PARTNER, seeded, clock=lambda: NOW)
    assert (free_places(seeded), places(seeded)["maximum"]) == (12, 12)
    assert [(e.free_places, e.capacity) for e in since_seeding(seeded)] == [(5, 20), (12, 12)]


# --- a place taken while a partner edits the service -----------------------------------------


def take_a_place(start_uow: StartUow) -> None:
    with start_uow() as uow:
        services.take_place(referral_accepted(service_id=WALKING), uow, clock=lambda: NOW)


def rename(start_uow: StartUow) -> dict[str, Any]:
    return services.change(
        "service", str(WALKING), {"name": "Gågruppen"}, PARTNER, start_uow, clock=lambda: NOW
    )


def assert_place_and_rename_both_kept(seeded: StartUow) -> None:
    """Published, seen by matching and last announced: the new name, and the place taken."""
    assert (places(seeded)["name"], free_places(seeded)) == ("Gågruppen", 5)
    last = since_seeding(seeded)[-1]
    assert (last.name, last.free_places) == ("Gågruppen", 5)
    assert len(holds(seeded)) == 1


@pytest.mark.parametrize("engine_for", ["postgresql"], indirect=True)
def test_a_partners_edit_waits_for_a_place_being_taken_and_keeps_it(
    engine: Engine, sessions: sessionmaker[Session], seeded: StartUow
) -> None:
    """Both transactions open at once: the referral's has taken the place (and holds the
    rows' locks) but not committed when the partner's PATCH reads and writes the service."""
    place_written, commit_place = threading.Event(), threading.Event()

    class CommitsWhenTold(DirectoryUnitOfWork):
        def commit(self) -> None:
            place_written.set()
            assert commit_place.wait(WAIT_SECONDS), "never told to commit"
            super().commit()

    with ThreadPoolExecutor(2) as pool:
        taking = pool.submit(take_a_place, lambda: CommitsWhenTold(sessions, SOURCE))
        assert place_written.wait(WAIT_SECONDS), "the place was never taken"
        patch = pool.submit(rename, seeded)
        wait_for(lambda: waiting_for_a_lock(engine), "the partner's PATCH to wait", WAIT_SECONDS)
        commit_place.set()
        taking.result(timeout=WAIT_SECONDS)
        answered = patch.result(timeout=WAIT_SECONDS)

    assert (answered["name"], answered["capacities"][0]["available"]) == ("Gågruppen", 5)
    assert_place_and_rename_both_kept(seeded)


def test_a_place_taken_while_a_partner_edits_the_service_is_kept(
    engine: Engine, sessions: sessionmaker[Session], seeded: StartUow
) -> None:
    """The partner's PATCH has read the service (with its free places) when a referral
    comes to take a place; then the PATCH writes. The taker waits for the partner's lock on
    the service, so the places it writes are never the ones the partner read."""
    partner_read, go_on, taker_locking = threading.Event(), threading.Event(), threading.Event()

    class PausesAfterReading(SqlRecordStore):
        def children(self, entity: str, key: str, ids: Any) -> list[Record]:
            found = super().children(entity, key, ids)
            if entity == "service_capacity" and not partner_read.is_set():
                partner_read.set()
                assert go_on.wait(WAIT_SECONDS), "never told to go on"
            return found

    class SaysWhenItLocks(SqlRecordStore):
        def lock(self, entity: str, record_id: str) -> Record | None:
            taker_locking.set()
            return super().lock(entity, record_id)

    def unit_of_work(store: type[SqlRecordStore]) -> StartUow:
        class WithStore(DirectoryUnitOfWork):
            def _open(self) -> None:
                super()._open()
                self.records = store(self.session)

        return lambda: WithStore(sessions, SOURCE)

    with ThreadPoolExecutor(2) as pool:
        patch = pool.submit(rename, unit_of_work(PausesAfterReading))
        assert partner_read.wait(WAIT_SECONDS), "the partner's PATCH never read the service"
        taking = pool.submit(take_a_place, unit_of_work(SaysWhenItLocks))
        assert taker_locking.wait(WAIT_SECONDS), "the referral never came to take its place"
        go_on.set()
        patch.result(timeout=WAIT_SECONDS)
        taking.result(timeout=WAIT_SECONDS)

    assert_place_and_rename_both_kept(seeded)
