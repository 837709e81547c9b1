"""Revision 0006 turns the directory stored before it into HSDS records: what was there reads
back through the HSDS API, is matched and found, and the places held stay held."""

from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

from alembic import command
from sqlalchemy import Boolean, Engine, Float, Integer, String, Uuid, column, insert, table
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from directory import services
from directory.app import MIGRATIONS
from directory.hsds.vocabulary import Taxonomy, term_id
from directory.store import DirectoryUnitOfWork, ServiceQuery
from runtime.migrations import alembic_config
from tests.events import referral_accepted

SOURCE = "/brobygger/directory"
ORGANIZATION, LOCATION, SERVICE, REFERRAL = uuid4(), uuid4(), uuid4(), uuid4()

ORGANIZATION_0005 = table(
    "organization",
    column("id", Uuid()),
    column("name", String()),
    column("description", String()),
    column("email", String()),
    column("website", String()),
    column("coordinator_email", String()),
)
LOCATION_0005 = table(
    "location",
    column("id", Uuid()),
    column("organization_id", Uuid()),
    column("name", String()),
    column("address_1", String()),
    column("postal_code", String()),
    column("city", String()),
    column("district", String()),
    column("district_key", String()),
    column("wheelchair_accessible", Boolean()),
    column("latitude", Float()),
    column("longitude", Float()),
)
SERVICE_0005 = table(
    "service",
    column("id", Uuid()),
    column("organization_id", Uuid()),
    column("location_id", Uuid()),
    column("name", String()),
    column("description", String()),
    column("status", String()),
    column("time_of_day", String()),
    column("schedule_description", String()),
    column("capacity", Integer()),
    column("free_places", Integer()),
)
SERVICE_TERM_0005 = table(
    "service_term", column("service_id", Uuid()), column("taxonomy", String()), column("term")
)
PLACE_HOLD_0005 = table("place_hold", column("referral_id", Uuid()), column("service_id", Uuid()))
SERVICE_SEARCH_WORD_0005 = table(
    "service_search_word", column("service_id", Uuid()), column("part", String()), column("word")
)


def stored_at_0005(engine: Engine) -> None:
    """An organisation, its location and service (with an interest outside the vocabulary,
    two languages, a schedule in words) and a place held, as revision 0005 kept them."""
    with engine.begin() as connection:
        connection.execute(
            insert(ORGANIZATION_0005),
            [
                {
                    "id": ORGANIZATION,
                    "name": "Gåklubben Nørrebro",
                    "description": "En forening for gående.",
                    "email": "kontakt@gaa.example",
                    "website": "https://gaa.example/",
                    "coordinator_email": "koordinator@gaa.example",
                }
            ],
        )
        connection.execute(
            insert(LOCATION_0005),
            [
                {
                    "id": LOCATION,
                    "organization_id": ORGANIZATION,
                    "name": "Seniorhaven",
                    "address_1": "Heimdalsgade 20",
                    "postal_code": "2200",
                    "city": "København N",
                    "district": "Nørrebro",
                    "district_key": "nørrebro",
                    "wheelchair_accessible": True,
                    "latitude": 55.6985,
                    "longitude": 12.5448,
                }
            ],
        )
        connection.execute(
            insert(SERVICE_0005),
            [
                {
                    "id": SERVICE,
                    "organization_id": ORGANIZATION,
                    "location_id": LOCATION,
                    "name": "Gåtur om søerne",
                    "description": "Rundt om søerne med kaffe bagefter.",
                    "status": "active",
                    "time_of_day": "morning",
                    "schedule_description": "Tirsdag kl. 10 fra indgangen.",
                    "capacity": 12,
                    "free_places": 4,
                }
            ],
        )
        connection.execute(
            insert(SERVICE_TERM_0005),
            [
                {"service_id": SERVICE, "taxonomy": taxonomy, "term": term}
                for taxonomy, term in [
                    ("interest", "walking"),
                    ("interest", "boules"),  # not in Brobygger's vocabulary
                    ("language", "da"),
                    ("language", "pl"),
                    ("target_group", "older_people"),
                ]
            ],
        )
        connection.execute(
            insert(SERVICE_SEARCH_WORD_0005),
            [{"service_id": SERVICE, "part": "name", "word": "gatur"}],
        )
        connection.execute(
            insert(PLACE_HOLD_0005), [{"referral_id": REFERRAL, "service_id": SERVICE}]
        )


def upgraded(engine: Engine) -> Callable[[], DirectoryUnitOfWork]:
    """Store the directory at 0005, upgrade to the newest revision, and check that the
    models and the revisions then agree (as autogenerate compares them, types included)."""
    config = alembic_config(MIGRATIONS, engine)
    command.upgrade(config, "0005")
    stored_at_0005(engine)
    command.upgrade(config, "head")
    command.check(config)
    sessions = sessionmaker(engine, class_=Session, expire_on_commit=False)
    return lambda: DirectoryUnitOfWork(sessions, SOURCE)


def test_a_directory_from_before_reads_back_as_hsds_after_revision_0006(
    engine_for: Callable[[str], Engine],
) -> None:
    start_uow = upgraded(engine_for("directory"))
    service = services.one("service", SERVICE, start_uow)
    assert (service["name"], service["description"], service["status"]) == (
        "Gåtur om søerne",
        "Rundt om søerne med kaffe bagefter.",
        "active",
    )
    assert sorted(language["code"] for language in service["languages"]) == ["da", "pl"]
    [capacity] = service["capacities"]
    assert (capacity["available"], capacity["maximum"]) == (4, 12)
    assert [s["description"] for s in service["schedules"]] == ["Tirsdag kl. 10 fra indgangen."]
    assert sorted(a["taxonomy_term"]["id"] for a in service["attributes"]) == sorted(
        [
            str(term_id(Taxonomy.INTERESTS, "walking")),
            str(term_id(Taxonomy.TARGET_GROUPS, "older_people")),
        ]
    )
    [at] = service["service_at_locations"]
    assert at["location"]["id"] == str(LOCATION)
    assert [a["postal_code"] for a in at["location"]["addresses"]] == ["2200"]
    organization = services.one("organization", ORGANIZATION, start_uow)
    assert (organization["name"], organization["email"]) == (
        "Gåklubben Nørrebro",
        "kontakt@gaa.example",
    )
    assert "koordinator@gaa.example" not in str(organization), "never published"


def test_a_directory_from_before_is_matched_and_found_after_revision_0006(
    engine_for: Callable[[str], Engine],
) -> None:
    start_uow = upgraded(engine_for("directory"))
    with start_uow() as uow:
        found = uow.services.get(SERVICE)
    assert found is not None
    assert (found.service.interests, found.service.languages) == (["walking"], ["da", "pl"])
    assert (found.service.target_groups, found.location.district) == (["older_people"], "Nørrebro")
    assert (found.service.free_places, found.service.capacity) == (4, 12)
    assert found.location.wheelchair_accessible
    for words in ["gaatur", "soerne", "seniorhaven", "norrebro", "walk"]:
        page = services.services(ServiceQuery(search=words), services.Paging(1, 10), start_uow)
        assert [item["id"] for item in page.contents] == [str(SERVICE)], words


def test_a_place_held_before_revision_0006_is_still_held_after_it(
    engine_for: Callable[[str], Engine],
) -> None:
    start_uow = upgraded(engine_for("directory"))
    with start_uow() as uow:
        assert uow.place_holds.held_by(REFERRAL) == SERVICE
    # Held, so the same referral accepted again takes no second place.
    with start_uow() as uow:
        services.take_place(referral_accepted(referral_id=REFERRAL, service_id=SERVICE), uow)
    with start_uow() as uow:
        found = uow.services.get(SERVICE)
        assert found is not None and found.service.free_places == 4
        assert uow.place_holds.release(REFERRAL) == SERVICE
        assert uow.services.give_place_back(SERVICE)
