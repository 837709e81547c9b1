"""Saving HSDS records (`writing.save`, every write of the directory) on SQLite and
PostgreSQL: what a save writes, logs, indexes and announces, and what it refuses."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from contracts import ServiceChanged
from directory import demo, services
from directory.app import MIGRATIONS
from directory.domain import ServiceStatus
from directory.hsds.brobygger import PLACES_UNIT_ID
from directory.hsds.records import Record
from directory.hsds.vocabulary import Taxonomy, term_id
from directory.services import Editor, Forbidden, Rejected
from directory.services.importing import DEMO
from directory.services.writing import Saved, save
from directory.store import DirectoryUnitOfWork, Near, ServiceQuery
from runtime.migrations import upgrade
from runtime.storage import outbox

StartUow = Callable[[], DirectoryUnitOfWork]
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
OPERATOR = Editor("operator-7")
WALKING = demo.NORREBRO_WALKING_GROUP
CARDS = demo.NORREBRO_CARD_CLUB


@pytest.fixture
def start_uow(engine_for: Callable[[str], Engine]) -> StartUow:
    engine = engine_for("directory")
    upgrade(MIGRATIONS, engine)
    sessions = sessionmaker(engine, class_=Session, expire_on_commit=False)

    def start() -> DirectoryUnitOfWork:
        return DirectoryUnitOfWork(sessions, "/brobygger/directory")

    services.keep_vocabulary(start, lambda: NOW)  # as the service does on start
    return start


@pytest.fixture
def seeded(start_uow: StartUow) -> StartUow:
    saving(start_uow, demo.records(NOW), DEMO, NOW)
    return start_uow


def saving(
    start_uow: StartUow,
    records: list[Record],
    editor: Editor = OPERATOR,
    now: datetime = LATER,
    **options: Any,
) -> Saved:
    with start_uow() as uow:
        saved = save(records, editor, uow, now, **options)
        uow.commit()
    return saved


def stored(start_uow: StartUow, entity: str, record_id: UUID | str) -> Record:
    with start_uow() as uow:
        [record] = uow.records.get(entity, [str(record_id)])
    return record


def changed(start_uow: StartUow, entity: str, record_id: UUID | str, **fields: Any) -> Record:
    record = stored(start_uow, entity, record_id)
    return Record(entity, record.fields | fields)


def log_of(start_uow: StartUow, record_id: UUID | str) -> list[dict[str, Any]]:
    """The change log's entries on a record, oldest first (HSDS keeps only the day of a
    change: within a day, its creation first)."""
    with start_uow() as uow:
        entries = uow.records.children("metadata", "resource_id", [str(record_id)])
    return sorted(
        (e.fields for e in entries),
        key=lambda f: (f["last_action_date"], f["last_action_type"] != "create", f["id"]),
    )


def announced(start_uow: StartUow) -> list[ServiceChanged]:
    with start_uow() as uow:
        rows = uow.session.execute(
            select(outbox.c.value)
            .where(outbox.c.topic == "directory.service.v1")
            .order_by(outbox.c.seq)
        ).all()
    return [ServiceChanged.model_validate_json(row.value) for row in rows]


def found(start_uow: StartUow, search: str) -> list[str]:
    with start_uow() as uow:
        ids, _ = uow.records.services(ServiceQuery(search=search), 0, None)
    return ids


def count(start_uow: StartUow, entity: str) -> int:
    with start_uow() as uow:
        return uow.records.count(entity)


def test_the_demo_saved_whole_is_created_logged_per_record_and_each_service_announced(
    start_uow: StartUow,
) -> None:
    records = demo.records(NOW)
    vocabulary_logged = count(start_uow, "metadata")
    saved = saving(start_uow, records, DEMO, NOW)
    # The unit of places is the directory's, kept with its vocabulary: there already.
    new = {(r.entity, r.id) for r in records} - {("unit", str(PLACES_UNIT_ID))}
    assert (saved.created, saved.changed, saved.unchanged) == (len(new), 0, 1)
    assert saved.services == sorted(s.id for s in demo.SERVICES)
    assert count(start_uow, "metadata") == vocabulary_logged + len(new)
    [creation] = log_of(start_uow, WALKING.id)
    assert creation["last_action_type"] == "create"
    assert (creation["updated_by"], creation["resource_type"]) == (DEMO.name, "service")
    assert creation["last_action_date"] == "2026-12-01"
    assert sorted(e.service_id for e in announced(start_uow)) == saved.services
    with start_uow() as uow:
        matchable = {found.service.id: found for found in uow.services.all()}
    assert matchable.keys() == set(saved.services)
    walking = matchable[WALKING.id]
    assert walking.service == WALKING.facts
    assert (walking.location.district, walking.location.postal_code) == ("Nørrebro", "2200")


def test_saving_the_same_records_again_changes_logs_and_announces_nothing(
    seeded: StartUow,
) -> None:
    records = demo.records(NOW)
    before = count(seeded, "metadata")
    saved = saving(seeded, records, OPERATOR, LATER)
    unique = {(r.entity, r.id) for r in records}
    assert (saved.created, saved.changed, saved.unchanged) == (0, 0, len(unique))
    assert saved.services == []
    assert count(seeded, "metadata") == before
    assert len(announced(seeded)) == len(demo.SERVICES)


def test_a_changed_field_is_logged_with_both_values_and_the_service_found_by_its_new_words(
    seeded: StartUow,
) -> None:
    renamed = changed(seeded, "service", WALKING.id, name="Vandreklubben Nørrebro")
    saved = saving(seeded, [renamed])
    assert (saved.created, saved.changed, saved.services) == (0, 1, [WALKING.id])
    update = log_of(seeded, WALKING.id)[-1]
    assert update["last_action_type"] == "update"
    assert (update["field_name"], update["updated_by"]) == ("name", OPERATOR.name)
    assert update["previous_value"] == WALKING.facts.name
    assert update["replacement_value"] == "Vandreklubben Nørrebro"
    assert found(seeded, "vandreklub") == [str(WALKING.id)]
    assert found(seeded, "gågruppe") == []
    [last] = announced(seeded)[len(demo.SERVICES) :]
    assert (last.service_id, last.name, last.changed_at) == (
        WALKING.id,
        "Vandreklubben Nørrebro",
        LATER,
    )
    with seeded() as uow:
        ids, _ = uow.records.services(ServiceQuery(modified_after=LATER), 0, None)
    assert ids == [str(WALKING.id)]


def test_a_changed_child_refreshes_its_service_for_matching_and_logs_on_the_child(
    seeded: StartUow,
) -> None:
    capacity = next(r for r in WALKING.records(NOW) if r.entity == "service_capacity")
    saving(seeded, [changed(seeded, "service_capacity", capacity.id, available=2, maximum=8)])
    with seeded() as uow:
        walking = uow.services.get(WALKING.id)
    assert walking is not None
    assert (walking.service.capacity, walking.service.free_places) == (8, 2)
    fields = {e["field_name"]: e["replacement_value"] for e in log_of(seeded, capacity.id)[1:]}
    assert fields == {"available": "2", "maximum": "8"}
    assert announced(seeded)[-1].free_places == 2


def test_every_fault_is_rejected_at_its_place_and_nothing_is_written(seeded: StartUow) -> None:
    before = count(seeded, "service_at_location")
    nowhere = Record(
        "service_at_location",
        {"id": str(uuid4()), "service_id": str(WALKING.id), "location_id": str(uuid4())},
    )
    broken = changed(seeded, "service", CARDS.id, status="sometimes")
    with pytest.raises(Rejected) as rejected:
        saving(seeded, [nowhere, broken], where={("service", str(CARDS.id)): "cards.json $"})
    faults = {(r.where, r.field) for r in rejected.value.rejections}
    assert ("cards.json $", "status") in faults
    assert (f"service_at_location {nowhere.id}", "location_id") in faults
    assert count(seeded, "service_at_location") == before
    assert stored(seeded, "service", CARDS.id).fields["status"] == "active"


def test_a_partner_changes_its_own_records_only_and_never_the_directorys_vocabulary(
    seeded: StartUow,
) -> None:
    partner = Editor("coordinator", organization_id=WALKING.facts.organization_id)
    red_cross = demo.VISITING_FRIEND.id
    with pytest.raises(Forbidden):
        saving(seeded, [changed(seeded, "service", red_cross, name="Ours now")], partner)
    stolen = Record(
        "phone",
        {"id": str(uuid4()), "service_id": str(red_cross), "number": "+45 11 22 33 44"},
    )
    with pytest.raises(Forbidden):
        saving(seeded, [stolen], partner)
    term = str(term_id(Taxonomy.INTERESTS, "walking"))
    with pytest.raises(Forbidden):
        saving(seeded, [changed(seeded, "taxonomy_term", term, name="Løb")], partner)
    assert stored(seeded, "service", red_cross).fields["name"] == demo.VISITING_FRIEND.facts.name
    own = saving(seeded, [changed(seeded, "service", WALKING.id, name="Vores gåtur")], partner)
    assert own.changed == 1
    # Sending the vocabulary unchanged is no change of it.
    assert saving(seeded, [stored(seeded, "taxonomy_term", term)], partner).unchanged == 1


def test_a_document_saved_whole_removes_the_parts_it_leaves_out_and_logs_each_removal(
    seeded: StartUow,
) -> None:
    document = services.one("service", WALKING.id, seeded)
    english = next(lang for lang in document["languages"] if lang["code"] == "en")
    services.change(
        "service",
        str(WALKING.id),
        {
            "languages": [
                {k: v for k, v in lang.items() if k != "metadata"}
                for lang in document["languages"]
                if lang["code"] != "en"
            ]
        },
        OPERATOR,
        seeded,
        lambda: LATER,
    )
    with seeded() as uow:
        assert uow.records.get("language", [english["id"]]) == []
        walking = uow.services.get(WALKING.id)
    assert walking is not None and walking.service.languages == ["da"]
    removal = [e for e in log_of(seeded, WALKING.id) if e["last_action_type"] == "delete"]
    assert [(e["field_name"], e["previous_value"]) for e in removal] == [
        ("language", english["id"])
    ]
    assert announced(seeded)[-1].service_id == WALKING.id


def test_a_service_that_loses_what_matching_needs_is_closed_and_announced(
    seeded: StartUow,
) -> None:
    services.change("service", str(WALKING.id), {"capacities": []}, OPERATOR, seeded, lambda: LATER)
    with seeded() as uow:
        walking = uow.services.get(WALKING.id)
    assert walking is not None and walking.service.status is ServiceStatus.INACTIVE
    last = announced(seeded)[-1]
    assert (last.service_id, last.status) == (WALKING.id, "inactive")


def test_a_moved_address_moves_its_location_for_postcode_searches_and_refreshes_its_services(
    seeded: StartUow,
) -> None:
    address = next(
        r for r in demo.records(NOW) if r.entity == "address" and r.fields["postal_code"] == "2200"
    )
    saved = saving(seeded, [changed(seeded, "address", address.id, postal_code="2100")])
    assert saved.services == sorted([WALKING.id, CARDS.id])
    with seeded() as uow:
        near, _ = uow.records.services_at_locations(
            ServiceQuery(), Near(postal_code="2100"), 0, None
        )
        left, _ = uow.records.services_at_locations(
            ServiceQuery(), Near(postal_code="2200"), 0, None
        )
        walking = uow.services.get(WALKING.id)
    at_rooms = {
        r.id for s in (WALKING, CARDS) for r in s.records(NOW) if r.entity == "service_at_location"
    }
    assert at_rooms <= set(near) and left == []
    assert walking is not None and walking.location.postal_code == "2100"
    assert {e.service_id for e in announced(seeded)[len(demo.SERVICES) :]} == {
        WALKING.id,
        CARDS.id,
    }


def test_organisations_are_found_by_the_words_of_their_name_and_description(
    seeded: StartUow,
) -> None:
    with seeded() as uow:
        by_name, _ = uow.records.organizations("flygtningehjaelp", 0, None)
        by_text, _ = uow.records.organizations("besøgsvenner", 0, None)
    assert by_name == [str(demo.FLYGTNINGEHJAELP.id)]
    assert by_text == [str(demo.RODE_KORS.id)]
