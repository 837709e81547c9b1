"""Use cases of directory on in-memory fakes: the places accepted referrals take and give
back, as matching's view and as the service's HSDS capacity record tell them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from contracts import ReferralErased, ServiceChanged
from directory import consumers, demo, services
from directory.config import Settings
from directory.hsds.brobygger import PLACES_UNIT_ID
from runtime.consumer import EventConsumer
from runtime.logs import configure_logging
from tests.conftest import TEST_JWKS_FILE, TEST_SECRETS, log_events
from tests.directory.fakes import FakeUnitOfWork
from tests.events import (
    referral_accepted,
    referral_cancelled,
    referral_completed,
    referral_failed,
)
from tests.kit import record_of

WALKING = demo.NORREBRO_WALKING_GROUP_SERVICE_ID
CARD_CLUB = demo.NORREBRO_CARD_CLUB_SERVICE_ID
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
SEEDED_AT = NOW - timedelta(days=1)
REFERRALS = "/brobygger/referrals"
PARTNER = services.Editor("partner-1", organization_id=demo.NORREBRO_WALKING_GROUP_ORG_ID)
ENDINGS = [referral_completed, referral_failed, referral_cancelled]


def seeded() -> FakeUnitOfWork:
    """The demo directory as a started directory holds it: the vocabulary, then the demo."""
    uow = FakeUnitOfWork()
    services.keep_vocabulary(uow, clock=lambda: SEEDED_AT)
    assert services.seed_demo(uow, clock=lambda: SEEDED_AT)
    uow.committed_events.clear()  # the seed's own events have tests of their own
    return uow


def changes(uow: FakeUnitOfWork) -> list[ServiceChanged]:
    return [event for event in uow.committed_events if isinstance(event, ServiceChanged)]


def free_places(uow: FakeUnitOfWork, service_id: UUID = WALKING) -> int:
    """What matching sees free, checked to be what the HSDS capacity record publishes."""
    found = uow.services.get(service_id)
    assert found is not None
    assert capacity(uow, service_id)["available"] == found.service.free_places
    return found.service.free_places


def capacity(uow: FakeUnitOfWork, service_id: UUID = WALKING) -> dict[str, Any]:
    """The service's HSDS capacity in places, as stored."""
    [places] = [
        record.fields
        for record in uow.records.children("service_capacity", "service_id", [str(service_id)])
        if record.fields["unit_id"] == str(PLACES_UNIT_ID)
    ]
    return places


def modified_at(uow: FakeUnitOfWork, service_id: UUID = WALKING) -> datetime:
    return uow.stored.rows["service", str(service_id)].modified_at


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def referral_erased(referral_id: UUID) -> ReferralErased:
    return ReferralErased(
        referral_id=referral_id, organization_ids=[uuid4()], erased_at=NOW + timedelta(days=60)
    )


def consumer_on(uow: FakeUnitOfWork) -> EventConsumer:
    async def dead_letter(*letter: object) -> None:
        raise AssertionError(f"nothing should be dead-lettered: {letter[-1]}")

    return EventConsumer(
        group_id="brobygger-directory",
        handlers=consumers.handlers(max_matches=5, clock=lambda: NOW),
        uow_factory=uow,  # type: ignore[arg-type]  # the fake stands in for the real one
        dead_letter_topic="directory.deadletter.v1",
        publish_raw=dead_letter,
    )


def test_an_accepted_referral_takes_a_place_and_holds_it() -> None:
    uow = seeded()
    event = referral_accepted(service_id=WALKING)
    services.take_place(event, uow, clock=lambda: NOW)
    assert free_places(uow) == 5
    assert uow.holds.rows == {event.referral_id: WALKING}
    assert (capacity(uow)["maximum"], capacity(uow)["updated"]) == (20, stamp(NOW))
    assert modified_at(uow) == NOW
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
    before = capacity(uow, CARD_CLUB)
    services.take_place(referral_accepted(service_id=CARD_CLUB), uow, clock=lambda: NOW)
    assert free_places(uow, CARD_CLUB) == 0
    assert capacity(uow, CARD_CLUB) == before
    assert modified_at(uow, CARD_CLUB) == SEEDED_AT
    assert uow.holds.rows == {}
    assert uow.committed_events == []
    assert uow.committed, "the inbox row commits, so the event is not seen again"


def test_an_acceptance_for_a_service_the_directory_does_not_know_changes_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    configure_logging("directory-test")
    caplog.set_level("INFO")
    uow = seeded()
    records, matchable = dict(uow.stored.rows), dict(uow.matchable.rows)
    unknown = uuid4()
    services.take_place(referral_accepted(service_id=unknown), uow, clock=lambda: NOW)
    assert (uow.stored.rows, uow.matchable.rows) == (records, matchable)
    assert (uow.holds.rows, uow.committed_events, uow.committed) == ({}, [], True)
    [logged] = [line for line in log_events(caplog) if line["event"] == "place.unknown_service"]
    assert logged["level"] == "info"
    assert str(unknown) not in json.dumps(log_events(caplog))


def test_a_referral_accepted_twice_under_two_event_ids_holds_one_place() -> None:
    uow = seeded()
    referral_id = uuid4()
    services.take_place(referral_accepted(referral_id=referral_id, service_id=WALKING), uow)
    services.take_place(referral_accepted(referral_id=referral_id, service_id=WALKING), uow)
    assert free_places(uow) == 5
    assert uow.holds.rows == {referral_id: WALKING}
    assert len(changes(uow)) == 1


@pytest.mark.parametrize("ending", ENDINGS)
def test_a_referral_that_ends_gives_its_place_back(ending: Any) -> None:
    uow = seeded()
    acceptance = referral_accepted(service_id=WALKING)
    services.take_place(acceptance, uow, clock=lambda: NOW)
    later = NOW + timedelta(days=30)
    services.give_place_back(ending(acceptance), uow, clock=lambda: later)
    assert free_places(uow) == 6
    assert (capacity(uow)["updated"], modified_at(uow)) == (stamp(later), later)
    assert uow.holds.rows == {}
    taken, given_back = changes(uow)
    assert (taken.free_places, given_back.free_places) == (5, 6)
    assert given_back.changed_at == later


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


def places_patch(uow: FakeUnitOfWork, available: int, maximum: int = 20) -> dict[str, Any]:
    """A partner's PATCH of the service's capacities: the whole array, as merge patch has it."""
    return {
        "capacities": [
            {
                "id": capacity(uow)["id"],
                "unit_id": str(PLACES_UNIT_ID),
                "available": available,
                "maximum": maximum,
                "updated": stamp(NOW),
            }
        ]
    }


def test_a_partners_patch_of_the_capacities_sets_the_free_places_it_sends() -> None:
    """The partner counts the places by hand: what it sends is what is free, whatever the
    referrals took before (the holds stay, and give their places back when they end)."""
    uow = seeded()
    acceptance = referral_accepted(service_id=WALKING)
    services.take_place(acceptance, uow, clock=lambda: NOW)
    answered = services.change(
        "service", str(WALKING), places_patch(uow, available=9), PARTNER, uow, clock=lambda: NOW
    )
    assert [(c["available"], c["maximum"]) for c in answered["capacities"]] == [(9, 20)]
    assert free_places(uow) == 9
    assert uow.holds.rows == {acceptance.referral_id: WALKING}
    assert [event.free_places for event in changes(uow)] == [5, 9]
    services.give_place_back(referral_completed(acceptance), uow, clock=lambda: NOW)
    assert free_places(uow) == 10


def test_a_place_given_back_never_makes_more_free_places_than_the_maximum() -> None:
    uow = seeded()
    acceptance = referral_accepted(service_id=WALKING)
    services.take_place(acceptance, uow)
    # The partner counts the places by hand meanwhile: all free.
    services.change("service", str(WALKING), places_patch(uow, available=20), PARTNER, uow)
    uow.committed_events.clear()
    services.give_place_back(referral_completed(acceptance), uow)
    assert free_places(uow) == 20
    assert uow.holds.rows == {}
    assert uow.committed_events == []


def test_a_partners_rename_after_a_place_was_taken_keeps_the_place() -> None:
    uow = seeded()
    services.take_place(referral_accepted(service_id=WALKING), uow, clock=lambda: NOW)
    later = NOW + timedelta(minutes=5)
    answered = services.change(
        "service", str(WALKING), {"name": "Gågruppen"}, PARTNER, uow, clock=lambda: later
    )
    assert (answered["name"], answered["capacities"][0]["available"]) == ("Gågruppen", 5)
    assert free_places(uow) == 5
    taken, renamed = changes(uow)
    assert (taken.name, taken.free_places) == (demo.NORREBRO_WALKING_GROUP.facts.name, 5)
    assert (renamed.name, renamed.free_places, renamed.changed_at) == ("Gågruppen", 5, later)


async def test_a_redelivered_acceptance_takes_one_place() -> None:
    uow = seeded()
    record = record_of(referral_accepted(service_id=WALKING), source=REFERRALS)
    consumer = consumer_on(uow)
    await consumer.handle(record)
    await consumer.handle(record)
    assert free_places(uow) == 5
    assert len(changes(uow)) == 1
    assert uow.inbox == {(REFERRALS, record.headers["ce_id"])}


@pytest.mark.parametrize("ending", ENDINGS)
async def test_a_redelivered_ending_gives_back_one_place(ending: Any) -> None:
    uow = seeded()
    consumer = consumer_on(uow)
    first, second = referral_accepted(service_id=WALKING), referral_accepted(service_id=WALKING)
    for offset, acceptance in enumerate((first, second)):
        await consumer.handle(record_of(acceptance, offset, REFERRALS))
    assert free_places(uow) == 4
    record = record_of(ending(first), offset=2, source=REFERRALS)
    await consumer.handle(record)
    await consumer.handle(record)
    # The second referral still holds its place.
    assert free_places(uow) == 5
    assert uow.holds.rows == {second.referral_id: WALKING}
    assert [event.free_places for event in changes(uow)] == [5, 4, 5]
    assert (REFERRALS, record.headers["ce_id"]) in uow.inbox
    assert len(uow.inbox) == 3


def test_an_erased_referral_that_still_held_a_place_gives_it_back_and_the_hold_goes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    configure_logging("directory-test")
    caplog.set_level("INFO")
    uow = seeded()
    acceptance = referral_accepted(service_id=WALKING)
    services.take_place(acceptance, uow)
    erased_at = NOW + timedelta(days=60)
    services.forget_referral(referral_erased(acceptance.referral_id), uow, clock=lambda: erased_at)
    assert free_places(uow) == 6
    assert capacity(uow)["updated"] == stamp(erased_at)
    assert uow.holds.rows == {}
    taken, given_back = changes(uow)
    assert (taken.free_places, given_back.free_places) == (5, 6)
    assert given_back.changed_at == erased_at
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
    assert uow.holds.rows == {other.referral_id: WALKING}
    assert uow.committed_events == []
    assert uow.commits == commits + 1, "the inbox row commits, so the event is not seen again"


async def test_a_redelivered_erasure_gives_back_one_place_and_keeps_the_others_hold() -> None:
    uow = seeded()
    consumer = consumer_on(uow)
    erased, other = referral_accepted(service_id=WALKING), referral_accepted(service_id=WALKING)
    for offset, acceptance in enumerate((erased, other)):
        await consumer.handle(record_of(acceptance, offset, REFERRALS))
    record = record_of(referral_erased(erased.referral_id), 2, REFERRALS)
    await consumer.handle(record)
    await consumer.handle(record)
    assert free_places(uow) == 5
    assert uow.holds.rows == {other.referral_id: WALKING}
    assert [event.free_places for event in changes(uow)] == [5, 4, 5]
    assert len(uow.inbox) == 3


@pytest.mark.parametrize("max_matches", ["0", "-1", "many"])
def test_the_number_of_candidates_must_be_a_whole_number_of_at_least_one(
    monkeypatch: pytest.MonkeyPatch, max_matches: str
) -> None:
    monkeypatch.setenv("BROBYGGER_JWKS_FILE", str(TEST_JWKS_FILE))
    monkeypatch.setenv("DIRECTORY_KAFKA_PASSWORD", TEST_SECRETS["DIRECTORY_KAFKA_PASSWORD"])
    monkeypatch.setenv("DIRECTORY_MAX_MATCHES", max_matches)
    with pytest.raises(ValidationError, match="max_matches"):
        Settings()


def test_the_number_of_candidates_is_five_unless_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BROBYGGER_JWKS_FILE", str(TEST_JWKS_FILE))
    monkeypatch.setenv("DIRECTORY_KAFKA_PASSWORD", TEST_SECRETS["DIRECTORY_KAFKA_PASSWORD"])
    assert Settings().max_matches == 5
    monkeypatch.setenv("DIRECTORY_MAX_MATCHES", "8")
    assert Settings().max_matches == 8
