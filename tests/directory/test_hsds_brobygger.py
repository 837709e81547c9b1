"""Brobygger's organisations, locations and services as HSDS 3.0 records, and read back."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest

from directory.domain import Location, Organization, Service, ServiceStatus, WeeklySchedule
from directory.hsds.brobygger import (
    PLACES_UNIT_ID,
    location_facts,
    location_records,
    organization_records,
    schedule_reason,
    service_facts,
    service_records,
)
from directory.hsds.records import Record, Rejection
from directory.hsds.vocabulary import Taxonomy, term_id
from tests import hsds

UPDATED = datetime(2025, 3, 4, 9, 30, tzinfo=timezone(timedelta(hours=1)))

ORGANIZATION = Organization(
    id=UUID("5a0b6a3e-7d43-4d53-9a7c-1f0a4b0f6c11"),
    name="Ældre Sagen Nørrebro",
    description="Lokalafdeling med frivillige, der laver fællesskaber for ældre på Nørrebro.",
    coordinator_email="koordinator@aeldresagen-norrebro.example",
    email="kontakt@aeldresagen-norrebro.example",
    website="https://aeldresagen-norrebro.example/",
)
LOCATION = Location(
    id=UUID("0f6e2f7c-5b1d-4c55-8d7e-3a9b1c2d4e5f"),
    organization_id=ORGANIZATION.id,
    name="Ældre Sagen Nørrebro, mødelokalet",
    address_1="Heimdalsgade 20",
    postal_code="2200",
    city="København N",
    district="Nørrebro",
    wheelchair_accessible=True,
    latitude=55.6985,
    longitude=12.5448,
)
TUE_THU_MORNING = WeeklySchedule(("TU", "TH"), time(10), time(11, 30))
SERVICE = Service(
    id=UUID("9c1d3e5f-2a4b-4c6d-8e0f-1a2b3c4d5e6f"),
    organization_id=ORGANIZATION.id,
    location_id=LOCATION.id,
    name="Ældre Sagen Nørrebro – gågruppe",  # noqa: RUF001
    capacity=20,
    free_places=6,
    interests=["walking", "exercise", "talk"],
    languages=["da", "en", "ur"],
    target_groups=["older_people", "hard_to_leave_home"],
    schedules=[TUE_THU_MORNING, WeeklySchedule(("SA",), time(13), time(15))],
)


def records_of(service: Service = SERVICE, location: Location = LOCATION) -> list[Record]:
    return service_records(service, location, updated_at=UPDATED) + location_records(location)


def only(records: list[Record], entity: str) -> dict[str, Any]:
    [record] = [r for r in records if r.entity == entity]
    return record.fields


def without(records: list[Record], entity: str) -> list[Record]:
    return [r for r in records if r.entity != entity]


def strict_problems(records: list[Record]) -> list[str]:
    """Every way the records fail HSDS 3.0 in strict mode, each checked as its entity schema;
    capacities, which only Brobygger's profile has, nested in their service as the API gives
    them."""
    units = {r.id: r.fields for r in records if r.entity == "unit"}
    problems = []
    for record in records:
        if record.entity == "service_capacity":
            service = next(r for r in records if r.id == record.fields["service_id"])
            capacity = record.fields | {"unit": units[record.fields["unit_id"]]}
            document = service.fields | {"capacities": [capacity]}
            found = hsds.validate("service", document, extensions=hsds.BROBYGGER_PROFILE)
        elif record.entity == "unit":
            assert record.id in {
                r.fields["unit_id"] for r in records if r.entity == "service_capacity"
            }
            continue  # checked inside its capacity
        else:
            assert record.entity in hsds.KINDS, record.entity
            found = hsds.validate(record.entity, record.fields)
        problems += [f"{record.entity} {problem}" for problem in found]
    return problems


def test_every_record_of_an_organisation_location_and_service_validates_strictly() -> None:
    inaccessible = replace(LOCATION, wheelchair_accessible=False, latitude=None, longitude=None)
    records = (
        organization_records(ORGANIZATION, cvr="12345678")
        + organization_records(replace(ORGANIZATION, email=None, website=None))
        + records_of()
        + records_of(replace(SERVICE, status=ServiceStatus.INACTIVE, schedules=[]), inaccessible)
    )
    assert {r.entity for r in records} >= {
        "organization", "organization_identifier", "location", "address", "accessibility",
        "attribute", "service", "service_at_location", "schedule", "language", "service_area",
        "cost_option", "unit", "service_capacity",
    }  # fmt: skip
    assert strict_problems(records) == []


def test_the_strict_check_catches_a_record_hsds_does_not_allow() -> None:
    # The timezone as a zone name, which HSDS 3.0's number field cannot hold.
    records = records_of()
    schedule = next(r for r in records if r.entity == "schedule")
    broken = [*records, Record("schedule", schedule.fields | {"timezone": "Europe/Copenhagen"})]
    assert strict_problems(broken) == [
        "schedule $.timezone: 'Europe/Copenhagen' is not of type 'number'"
    ]


def test_a_service_and_its_location_read_back_equal_to_what_was_written() -> None:
    records = records_of()
    assert service_facts(records) == SERVICE
    assert location_facts(records) == LOCATION
    elsewhere = replace(LOCATION, wheelchair_accessible=False, latitude=None, longitude=None)
    inactive = replace(SERVICE, status=ServiceStatus.INACTIVE, schedules=[], target_groups=[])
    assert service_facts(records_of(inactive, elsewhere)) == inactive
    assert location_facts(records_of(inactive, elsewhere)) == elsewhere


def test_the_same_service_written_again_gives_the_same_records() -> None:
    assert records_of() == records_of()
    fewer_places = {r.id for r in records_of(replace(SERVICE, free_places=2))}
    assert fewer_places == {r.id for r in records_of()}
    other = replace(SERVICE, id=uuid4())
    shared = {r.id for r in records_of(other)} & {r.id for r in records_of()}
    # Only the location's records, and the one unit "places", are shared by two services.
    assert shared == {r.id for r in location_records(LOCATION)} | {str(PLACES_UNIT_ID)}


def test_hsds_constructs_carry_district_cost_capacity_languages_and_address() -> None:
    records = records_of()
    assert only(records, "service_area")["name"] == "Nørrebro"
    cost = only(records, "cost_option")
    assert (cost["amount"], cost["currency"]) == (0, "DKK")
    capacity, unit = only(records, "service_capacity"), only(records, "unit")
    assert (unit["name"], capacity["available"], capacity["maximum"]) == ("places", 6, 20)
    assert capacity["updated"] == "2025-03-04T09:30:00+01:00"
    languages = [
        (r.fields["code"], r.fields.get("name")) for r in records if r.entity == "language"
    ]
    assert languages == [("da", "Danish"), ("en", "English"), ("ur", "Urdu")]
    address = only(records, "address")
    assert (address["state_province"], address["country"]) == ("Region Hovedstaden", "DK")
    assert only(records, "location")["location_type"] == "physical"


def test_interests_and_target_groups_are_attributes_pointing_at_english_terms() -> None:
    records = records_of()
    attributes = {
        (r.fields["link_entity"], r.fields["taxonomy_term_id"])
        for r in records
        if r.entity == "attribute"
    }
    assert attributes == {
        ("service", str(term_id(Taxonomy.INTERESTS, code)))
        for code in ("walking", "exercise", "talk")
    } | {
        ("service", str(term_id(Taxonomy.TARGET_GROUPS, code)))
        for code in ("older_people", "hard_to_leave_home")
    } | {("location", str(term_id(Taxonomy.ACCESSIBILITY, "wheelchair_accessible")))}


def test_wheelchair_access_is_an_accessibility_record_only_where_a_wheelchair_gets_in() -> None:
    assert [r for r in location_records(LOCATION) if r.entity == "accessibility"]
    inaccessible = location_records(replace(LOCATION, wheelchair_accessible=False))
    assert {r.entity for r in inaccessible} == {"location", "address"}


def test_the_cvr_number_is_an_organisation_identifier_and_the_coordinator_is_never_published() -> (
    None
):
    records = organization_records(ORGANIZATION, cvr="12345678")
    identifier = only(records, "organization_identifier")
    assert (identifier["identifier_scheme"], identifier["identifier_type"]) == ("DK-CVR", "CVR")
    assert identifier["identifier"] == "12345678"
    assert ORGANIZATION.coordinator_email not in repr(records)
    assert [r.entity for r in organization_records(ORGANIZATION)] == ["organization"]
    with pytest.raises(ValueError, match="eight digits"):
        organization_records(ORGANIZATION, cvr="1234")


def test_a_service_without_capacity_language_or_location_reads_as_a_rejection_saying_so() -> None:
    records = records_of()
    no_capacity = service_facts(without(records, "service_capacity"))
    assert no_capacity == Rejection(
        f"service {SERVICE.id}", "capacities", "has no capacity in places with a maximum"
    )
    capacity = only(records, "service_capacity")
    unbounded = Record("service_capacity", {k: v for k, v in capacity.items() if k != "maximum"})
    assert service_facts([*without(records, "service_capacity"), unbounded]) == no_capacity
    no_language = service_facts(without(records, "language"))
    assert isinstance(no_language, Rejection)
    assert (no_language.field, no_language.reason) == ("languages", "has no language")
    no_location = service_facts(without(records, "service_at_location"))
    assert isinstance(no_location, Rejection)
    assert (no_location.field, no_location.reason) == ("service_at_locations", "has no location")


def test_a_capacity_in_another_unit_is_no_capacity_in_places() -> None:
    records = records_of()
    capacity = only(records, "service_capacity")
    other_unit = uuid4()
    beds = [
        *without(records, "service_capacity"),
        Record("unit", {"id": str(other_unit), "name": "beds"}),
        Record("service_capacity", capacity | {"unit_id": str(other_unit)}),
    ]
    assert isinstance(service_facts(beds), Rejection)


def test_unknown_terms_are_ignored_and_danish_or_swedish_terms_read_as_their_code() -> None:
    records = records_of(replace(SERVICE, interests=["walking"]))

    def attribute(term: UUID) -> Record:
        fields = {"id": str(uuid4()), "link_id": str(SERVICE.id), "link_entity": "service"}
        return Record("attribute", fields | {"taxonomy_term_id": str(term)})

    records += [
        attribute(uuid4()),
        attribute(term_id(Taxonomy.INTERESTS, "chess", "da")),
        attribute(term_id(Taxonomy.INTERESTS, "walking", "sv")),
    ]
    service = service_facts(records)
    assert isinstance(service, Service)
    assert service.interests == ["walking", "chess"]


def test_a_schedule_tu_th_10_to_12_reads_tue_thu_10_12() -> None:
    schedule = {
        "id": str(uuid4()),
        "service_id": str(SERVICE.id),
        "freq": "WEEKLY",
        "byday": "TU,TH",
        "opens_at": "10:00",
        "closes_at": "12:00",
    }
    monthly = schedule | {"id": str(uuid4()), "freq": "MONTHLY", "byday": "2MO"}
    records = [
        *without(records_of(), "schedule"),
        Record("schedule", schedule),
        Record("schedule", monthly),
    ]
    service = service_facts(records)
    assert isinstance(service, Service)
    assert service.schedules == [WeeklySchedule(("TU", "TH"), time(10), time(12))]
    assert schedule_reason(service.schedules) == "Tue/Thu 10\u201312"


def test_schedules_are_wall_clock_times_with_a_note_naming_copenhagens_time() -> None:
    [first, _] = [r.fields for r in records_of() if r.entity == "schedule"]
    assert (first["freq"], first["byday"]) == ("WEEKLY", "TU,TH")
    assert (first["opens_at"], first["closes_at"]) == ("10:00", "11:30")
    assert "Europe/Copenhagen" in first["notes"]
    assert schedule_reason(SERVICE.schedules) == "Tue/Thu 10\u201311.30, Sat 13\u201315"


def test_a_service_must_be_written_with_an_aware_time_and_its_own_location() -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        service_records(SERVICE, LOCATION, updated_at=datetime(2025, 3, 4, 9, 30))
    with pytest.raises(ValueError, match="not the service's"):
        service_records(SERVICE, replace(LOCATION, id=uuid4()), updated_at=datetime.now(UTC))


def test_an_interest_outside_the_vocabulary_cannot_be_written() -> None:
    with pytest.raises(ValueError, match="'knitting-circle' is not a term"):
        service_records(
            replace(SERVICE, interests=["knitting-circle"]), LOCATION, updated_at=UPDATED
        )
