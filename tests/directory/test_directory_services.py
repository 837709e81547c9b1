"""Use cases of directory on in-memory fakes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from contracts import MatchesFound, NoMatchFound, ReferralErased, ServiceChanged
from directory import consumers, demo, services
from directory.config import Settings
from directory.domain import InvalidService, ServiceStatus, TimeOfDay
from runtime.consumer import EventConsumer
from runtime.logs import configure_logging
from tests.conftest import TEST_JWKS_FILE, log_events
from tests.directory.fakes import FakeUnitOfWork
from tests.events import (
    referral_accepted,
    referral_cancelled,
    referral_completed,
    referral_failed,
    referral_submitted,
)
from tests.kit import record_of

WALKING = demo.NORREBRO_WALKING_GROUP_SERVICE_ID
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def seeded() -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    assert services.seed_demo(uow)
    uow.committed_events.clear()  # the seed's own events have a test of their own
    return uow


def changes(uow: FakeUnitOfWork) -> list[ServiceChanged]:
    return [event for event in uow.committed_events if isinstance(event, ServiceChanged)]


def free_places(uow: FakeUnitOfWork, service_id: UUID = WALKING) -> int:
    return uow.services.rows[service_id].free_places


ENDINGS = [referral_completed, referral_failed, referral_cancelled]


def referral_erased(referral_id: UUID) -> ReferralErased:
    return ReferralErased(
        referral_id=referral_id, organization_ids=[uuid4()], erased_at=NOW + timedelta(days=60)
    )


def consumer_on(uow: FakeUnitOfWork, max_matches: int = 5) -> EventConsumer:
    async def dead_letter(*letter: object) -> None:
        raise AssertionError(f"nothing should be dead-lettered: {letter[-1]}")

    return EventConsumer(
        group_id="brobygger-directory",
        handlers=consumers.handlers(max_matches, clock=lambda: NOW),
        uow_factory=uow,  # type: ignore[arg-type]  # the fake stands in for the real one
        dead_letter_topic="directory.deadletter.v1",
        publish_raw=dead_letter,
    )


def new_service(uow: FakeUnitOfWork, **changes: Any) -> services.CreateService:
    fields: dict[str, Any] = {
        "organization_id": demo.NORREBRO_WALKING_GROUP_ORG_ID,
        "location_id": demo.NORREBRO_ROOMS.id,
        "name": "Søndagsgåtur på Nørrebro",
        "description": "En længere tur om søndagen.",
        "time_of_day": TimeOfDay.MORNING,
        "capacity": 12,
        "interests": ["Walking ", "walking", "culture"],
        "languages": ["DA"],
    }
    fields.update(changes)
    return services.CreateService(**fields)


def test_seeding_fills_an_empty_directory_once() -> None:
    uow = FakeUnitOfWork()
    assert services.seed_demo(uow)
    assert len(uow.organizations.rows) == 8 and len(uow.services.rows) == 10
    assert not services.seed_demo(uow)
    assert uow.commits == 1
    assert len(uow.services.rows) == 10


def test_seeding_tells_of_every_demo_service_once_with_its_places() -> None:
    uow = FakeUnitOfWork()
    assert services.seed_demo(uow, clock=lambda: NOW)
    assert not services.seed_demo(uow, clock=lambda: NOW + timedelta(hours=1))
    announced = {event.service_id: event for event in changes(uow)}
    assert len(changes(uow)) == len(announced) == len(demo.SERVICES)
    for service in demo.SERVICES:
        event = announced[service.id]
        assert (event.organization_id, event.name, event.status) == (
            service.organization_id,
            service.name,
            service.status.value,
        )
        assert (event.capacity, event.free_places, event.changed_at) == (
            service.capacity,
            service.free_places,
            NOW,
        )
    assert announced[demo.VALBY_SENIOR_GARDEN_SERVICE_ID].status == "inactive"


def test_seeding_leaves_a_directory_with_data_alone() -> None:
    uow = FakeUnitOfWork()
    services.create_organization(
        services.CreateOrganization("Lokal forening", "Om os.", "k@forening.example"), uow
    )
    assert not services.seed_demo(uow)
    assert len(uow.organizations.rows) == 1


def test_a_new_service_gets_clean_keywords_and_as_many_free_places_as_its_capacity() -> None:
    uow = seeded()
    created = services.create_service(new_service(uow), uow)
    stored = uow.services.rows[created.service.id]
    assert stored.interests == ["culture", "walking"]
    assert stored.languages == ["da"]
    assert stored.free_places == stored.capacity == 12
    assert created.location.district == "Nørrebro"


def test_a_new_service_is_announced_at_the_clocks_time() -> None:
    uow = seeded()
    created = services.create_service(
        new_service(uow, free_places=5), uow, clock=lambda: NOW
    ).service
    [event] = changes(uow)
    assert (event.service_id, event.organization_id, event.name) == (
        created.id,
        demo.NORREBRO_WALKING_GROUP_ORG_ID,
        "Søndagsgåtur på Nørrebro",
    )
    assert (event.status, event.capacity, event.free_places, event.changed_at) == (
        "active",
        12,
        5,
        NOW,
    )


def test_a_service_cannot_be_placed_at_another_organisations_location() -> None:
    uow = seeded()
    with pytest.raises(services.UnknownLocation):
        services.create_service(new_service(uow, location_id=demo.MAIN_LIBRARY.id), uow)
    assert len(uow.services.rows) == 10
    assert uow.committed_events == []


def test_a_service_for_an_unknown_organisation_is_refused() -> None:
    uow = seeded()
    with pytest.raises(services.OrganizationNotFound):
        services.create_service(new_service(uow, organization_id=uuid4()), uow)


def test_more_free_places_than_capacity_writes_nothing() -> None:
    uow = seeded()
    with pytest.raises(InvalidService):
        services.create_service(new_service(uow, free_places=13), uow)
    assert len(uow.services.rows) == 10
    with pytest.raises(InvalidService):
        services.update_service(
            services.UpdateService(demo.NORREBRO_WALKING_GROUP_SERVICE_ID, free_places=21), uow
        )
    assert uow.services.rows[demo.NORREBRO_WALKING_GROUP_SERVICE_ID].free_places == 6
    assert uow.committed_events == []


def test_an_update_changes_only_the_fields_given() -> None:
    uow = seeded()
    updated = services.update_service(
        services.UpdateService(
            demo.NORREBRO_WALKING_GROUP_SERVICE_ID,
            free_places=0,
            status=ServiceStatus.INACTIVE,
            interests=["Walking"],
        ),
        uow,
    )
    stored = uow.services.rows[demo.NORREBRO_WALKING_GROUP_SERVICE_ID]
    assert stored == updated.service
    assert (stored.free_places, stored.status, stored.interests) == (
        0,
        ServiceStatus.INACTIVE,
        ["walking"],
    )
    assert stored.name == demo.NORREBRO_WALKING_GROUP.name
    assert stored.languages == ["da", "en"]


def test_an_update_is_announced_with_the_service_as_it_is_after_it() -> None:
    uow = seeded()
    services.update_service(
        services.UpdateService(WALKING, status=ServiceStatus.INACTIVE, capacity=30),
        uow,
        clock=lambda: NOW,
    )
    services.update_service(
        services.UpdateService(WALKING, name="Gågruppen"),
        uow,
        clock=lambda: NOW + timedelta(minutes=5),
    )
    closed, renamed = changes(uow)
    assert (closed.service_id, closed.status, closed.capacity, closed.free_places) == (
        WALKING,
        "inactive",
        30,
        6,
    )
    assert (closed.name, closed.changed_at) == (demo.NORREBRO_WALKING_GROUP.name, NOW)
    assert (renamed.name, renamed.status, renamed.changed_at) == (
        "Gågruppen",
        "inactive",
        NOW + timedelta(minutes=5),
    )


def test_an_update_that_changes_nothing_announces_nothing() -> None:
    uow = seeded()
    services.update_service(services.UpdateService(WALKING, free_places=6), uow)
    services.update_service(services.UpdateService(WALKING), uow)
    assert uow.committed_events == []


def test_an_update_clears_the_schedule_description_only_when_told_to() -> None:
    uow = seeded()
    services.update_service(services.UpdateService(WALKING, name="Gågruppen"), uow)
    assert uow.services.rows[WALKING].schedule_description == (
        demo.NORREBRO_WALKING_GROUP.schedule_description
    )
    services.update_service(services.UpdateService(WALKING, schedule_description=None), uow)
    assert uow.services.rows[WALKING].schedule_description is None
    assert uow.services.rows[WALKING].name == "Gågruppen"


def test_a_service_cannot_move_to_another_organisations_location() -> None:
    uow = seeded()
    with pytest.raises(services.UnknownLocation):
        services.update_service(
            services.UpdateService(
                demo.NORREBRO_WALKING_GROUP_SERVICE_ID, location_id=demo.MAIN_LIBRARY.id
            ),
            uow,
        )


def test_updating_an_unknown_service_fails() -> None:
    with pytest.raises(services.ServiceNotFound):
        services.update_service(services.UpdateService(uuid4(), free_places=1), seeded())


def test_a_referral_gets_its_fitting_services_best_first_in_one_commit() -> None:
    uow = seeded()
    commits_before = uow.commits
    event = referral_submitted(interests=["walking", "talk"])
    services.match_referral(event, uow, max_matches=5)
    assert uow.commits == commits_before + 1
    [found] = uow.committed_events
    assert isinstance(found, MatchesFound)
    assert found.referral_id == event.referral_id
    assert len(found.matches) == 5
    assert found.matches[0].service_id == demo.NORREBRO_WALKING_GROUP_SERVICE_ID
    assert found.matches[0].organization_id == demo.NORREBRO_WALKING_GROUP_ORG_ID
    assert found.matches[0].reasons[:2] == ["interest: talk, walking", "language: da"]
    scores = [match.score for match in found.matches]
    assert scores == sorted(scores, reverse=True)


def test_a_full_service_is_offered_last_and_says_it_is_full() -> None:
    uow = seeded()
    services.match_referral(referral_submitted(interests=["cards"]), uow, max_matches=5)
    [found] = uow.committed_events
    assert isinstance(found, MatchesFound)
    # The card club is on Nørrebro as the citizen, but full; the café in Valby has room.
    assert [m.service_id for m in found.matches] == [
        demo.VALBY_CAFE_SERVICE_ID,
        demo.NORREBRO_CARD_CLUB_SERVICE_ID,
    ]
    assert "12 of 40 places free" in found.matches[0].reasons
    assert "full" in found.matches[1].reasons
    assert found.matches[1].score > found.matches[0].score


def test_a_referral_nothing_fits_gets_no_match_with_the_reason() -> None:
    uow = seeded()
    services.match_referral(
        referral_submitted(interests=["chess"], languages=["tr"]), uow, max_matches=5
    )
    [missed] = uow.committed_events
    assert isinstance(missed, NoMatchFound)
    assert missed.reason.startswith("None of the 10 services fits:")
    assert "no shared language" in missed.reason


def test_wheelchair_users_are_matched_only_to_accessible_places() -> None:
    uow = seeded()
    services.match_referral(referral_submitted(interests=["chess"]), uow, max_matches=5)
    services.match_referral(
        referral_submitted(interests=["chess"], needs=["wheelchair_access"]), uow, max_matches=5
    )
    found, missed = uow.committed_events
    assert isinstance(found, MatchesFound)
    assert [m.service_id for m in found.matches] == [demo.OSTERBRO_CHESS_SERVICE_ID]
    assert isinstance(missed, NoMatchFound)
    assert "2 not wheelchair accessible" in missed.reason


async def test_a_redelivered_referral_publishes_its_matches_only_once() -> None:
    uow = seeded()
    record = record_of(referral_submitted(), offset=7, source="/brobygger/referrals")
    consumer = consumer_on(uow)
    await consumer.handle(record)
    await consumer.handle(record)
    [found] = uow.committed_events
    assert isinstance(found, MatchesFound)
    assert uow.inbox == {("/brobygger/referrals", record.headers["ce_id"])}


@pytest.mark.parametrize("max_matches", [1, 3])
async def test_a_referral_lists_as_many_candidates_as_configured(max_matches: int) -> None:
    uow = seeded()
    await consumer_on(uow, max_matches).handle(
        record_of(referral_submitted(interests=["walking", "talk"]), source="/brobygger/referrals")
    )
    [found] = uow.committed_events
    assert isinstance(found, MatchesFound)
    assert len(found.matches) == max_matches


@pytest.mark.parametrize("max_matches", ["0", "-1", "many"])
def test_the_number_of_candidates_must_be_a_whole_number_of_at_least_one(
    monkeypatch: pytest.MonkeyPatch, max_matches: str
) -> None:
    monkeypatch.setenv("BROBYGGER_JWKS_FILE", str(TEST_JWKS_FILE))
    monkeypatch.setenv("DIRECTORY_MAX_MATCHES", max_matches)
    with pytest.raises(ValidationError, match="max_matches"):
        Settings()


def test_the_number_of_candidates_is_five_unless_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BROBYGGER_JWKS_FILE", str(TEST_JWKS_FILE))
    assert Settings().max_matches == 5
    monkeypatch.setenv("DIRECTORY_MAX_MATCHES", "8")
    assert Settings().max_matches == 8


def test_an_accepted_referral_takes_a_place_and_holds_it() -> None:
    uow = seeded()
    event = referral_accepted(service_id=WALKING)
    services.take_place(event, uow, clock=lambda: NOW)
    assert free_places(uow) == 5
    assert uow.place_holds.rows == {event.referral_id: WALKING}
    [changed] = uow.committed_events
    assert isinstance(changed, ServiceChanged)
    assert (changed.service_id, changed.free_places, changed.capacity, changed.changed_at) == (
        WALKING,
        5,
        20,
        NOW,
    )


def test_an_acceptance_for_a_full_service_leaves_it_at_none_and_holds_nothing() -> None:
    uow = seeded()
    services.take_place(referral_accepted(service_id=demo.NORREBRO_CARD_CLUB_SERVICE_ID), uow)
    assert free_places(uow, demo.NORREBRO_CARD_CLUB_SERVICE_ID) == 0
    assert uow.place_holds.rows == {}
    assert uow.committed_events == []
    assert uow.committed, "the inbox row commits, so the event is not seen again"


def test_an_acceptance_for_a_service_the_directory_does_not_know_changes_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    configure_logging("directory-test")
    caplog.set_level("INFO")
    uow = seeded()
    before = dict(uow.services.rows)
    unknown = uuid4()
    services.take_place(referral_accepted(service_id=unknown), uow)
    assert uow.services.rows == before
    assert (uow.place_holds.rows, uow.committed_events, uow.committed) == ({}, [], True)
    [logged] = [line for line in log_events(caplog) if line["event"] == "place.unknown_service"]
    assert logged["level"] == "info"
    assert str(unknown) not in json.dumps(log_events(caplog))


def test_a_referral_accepted_twice_under_two_event_ids_holds_one_place() -> None:
    uow = seeded()
    referral_id = uuid4()
    services.take_place(referral_accepted(referral_id=referral_id, service_id=WALKING), uow)
    services.take_place(referral_accepted(referral_id=referral_id, service_id=WALKING), uow)
    assert free_places(uow) == 5
    assert len(changes(uow)) == 1


@pytest.mark.parametrize("ending", ENDINGS)
def test_a_referral_that_ends_gives_its_place_back(ending: Any) -> None:
    uow = seeded()
    acceptance = referral_accepted(service_id=WALKING)
    services.take_place(acceptance, uow)
    services.give_place_back(ending(acceptance), uow, clock=lambda: NOW + timedelta(days=30))
    assert free_places(uow) == 6
    assert uow.place_holds.rows == {}
    taken, given_back = changes(uow)
    assert (taken.free_places, given_back.free_places) == (5, 6)
    assert given_back.changed_at == NOW + timedelta(days=30)


@pytest.mark.parametrize("ending", ENDINGS)
def test_a_referral_that_ends_without_holding_a_place_gives_nothing_back(ending: Any) -> None:
    uow = seeded()
    services.take_place(referral_accepted(service_id=WALKING), uow)
    services.give_place_back(ending(referral_accepted(service_id=WALKING)), uow)
    assert free_places(uow) == 5
    assert len(changes(uow)) == 1
    assert uow.committed


def test_a_cancellation_before_acceptance_names_no_service_and_gives_nothing_back() -> None:
    uow = seeded()
    services.take_place(referral_accepted(service_id=WALKING), uow)
    services.give_place_back(referral_cancelled(cancelled_by="operator"), uow)
    assert free_places(uow) == 5
    assert len(changes(uow)) == 1


def test_a_place_given_back_never_makes_more_free_places_than_the_capacity() -> None:
    uow = seeded()
    acceptance = referral_accepted(service_id=WALKING)
    services.take_place(acceptance, uow)
    # The partner counts the places by hand meanwhile: all free.
    services.update_service(services.UpdateService(WALKING, free_places=20), uow)
    uow.committed_events.clear()
    services.give_place_back(referral_completed(acceptance), uow)
    assert free_places(uow) == 20
    assert uow.place_holds.rows == {}
    assert uow.committed_events == []


async def test_a_redelivered_acceptance_takes_one_place() -> None:
    uow = seeded()
    record = record_of(referral_accepted(service_id=WALKING), source="/brobygger/referrals")
    consumer = consumer_on(uow)
    await consumer.handle(record)
    await consumer.handle(record)
    assert free_places(uow) == 5
    assert len(changes(uow)) == 1
    assert uow.inbox == {("/brobygger/referrals", record.headers["ce_id"])}


@pytest.mark.parametrize("ending", ENDINGS)
async def test_a_redelivered_ending_gives_back_one_place(ending: Any) -> None:
    uow = seeded()
    consumer = consumer_on(uow)
    first, second = referral_accepted(service_id=WALKING), referral_accepted(service_id=WALKING)
    for offset, acceptance in enumerate((first, second)):
        await consumer.handle(record_of(acceptance, offset, "/brobygger/referrals"))
    assert free_places(uow) == 4
    record = record_of(ending(first), offset=2, source="/brobygger/referrals")
    await consumer.handle(record)
    await consumer.handle(record)
    # The second referral still holds its place.
    assert free_places(uow) == 5
    assert uow.place_holds.rows == {second.referral_id: WALKING}
    assert [event.free_places for event in changes(uow)] == [5, 4, 5]
    assert ("/brobygger/referrals", record.headers["ce_id"]) in uow.inbox
    assert len(uow.inbox) == 3


def test_an_erased_referral_that_still_held_a_place_gives_it_back_and_the_hold_goes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    configure_logging("directory-test")
    caplog.set_level("INFO")
    uow = seeded()
    acceptance = referral_accepted(service_id=WALKING)
    services.take_place(acceptance, uow)
    services.forget_referral(
        referral_erased(acceptance.referral_id), uow, clock=lambda: NOW + timedelta(days=60)
    )
    assert free_places(uow) == 6
    assert uow.place_holds.rows == {}
    taken, given_back = changes(uow)
    assert (taken.free_places, given_back.free_places) == (5, 6)
    assert given_back.changed_at == NOW + timedelta(days=60)
    [logged] = [line for line in log_events(caplog) if line["event"] == "place.held_at_erasure"]
    assert logged["level"] == "warning"
    assert str(acceptance.referral_id) not in json.dumps(log_events(caplog))


def test_an_erased_referral_that_held_no_place_changes_nothing_and_publishes_nothing() -> None:
    uow = seeded()
    other = referral_accepted(service_id=WALKING)
    services.take_place(other, uow)
    cancelled = referral_accepted(service_id=WALKING)
    services.take_place(cancelled, uow)
    services.give_place_back(referral_cancelled(cancelled), uow)
    uow.committed_events.clear()
    commits = uow.commits
    services.forget_referral(referral_erased(cancelled.referral_id), uow)
    assert free_places(uow) == 5
    assert uow.place_holds.rows == {other.referral_id: WALKING}
    assert uow.committed_events == []
    assert uow.commits == commits + 1, "the inbox row commits, so the event is not seen again"


async def test_a_redelivered_erasure_gives_back_one_place_and_keeps_the_others_hold() -> None:
    uow = seeded()
    consumer = consumer_on(uow)
    erased, other = referral_accepted(service_id=WALKING), referral_accepted(service_id=WALKING)
    for offset, acceptance in enumerate((erased, other)):
        await consumer.handle(record_of(acceptance, offset, "/brobygger/referrals"))
    record = record_of(referral_erased(erased.referral_id), 2, "/brobygger/referrals")
    await consumer.handle(record)
    await consumer.handle(record)
    assert free_places(uow) == 5
    assert uow.place_holds.rows == {other.referral_id: WALKING}
    assert [event.free_places for event in changes(uow)] == [5, 4, 5]
    assert len(uow.inbox) == 3
