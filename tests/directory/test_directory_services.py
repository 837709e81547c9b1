"""Use cases of directory on in-memory fakes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from contracts import MatchesFound, NoMatchFound, ReferralSubmitted
from directory import consumers, demo, services
from directory.domain import InvalidService, ServiceStatus, TimeOfDay
from runtime.consumer import EventConsumer
from tests.directory.fakes import FakeUnitOfWork
from tests.kit import record_of


def seeded() -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    assert services.seed_demo(uow)
    return uow


def submitted(**changes: Any) -> ReferralSubmitted:
    fields: dict[str, Any] = {
        "referral_id": uuid4(),
        "citizen_ref": "cit_0123",
        "age_band": "80-84",
        "district": "Nørrebro",
        "interests": ["walking"],
        "languages": ["da"],
        "needs": [],
        "submitted_at": datetime.now(UTC),
    }
    fields.update(changes)
    return ReferralSubmitted(**fields)


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


def test_a_service_cannot_be_placed_at_another_organisations_location() -> None:
    uow = seeded()
    with pytest.raises(services.UnknownLocation):
        services.create_service(new_service(uow, location_id=demo.MAIN_LIBRARY.id), uow)
    assert len(uow.services.rows) == 10


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
    event = submitted(interests=["walking", "talk"])
    services.match_referral(event, uow)
    assert uow.commits == commits_before + 1
    [found] = uow.committed_events
    assert isinstance(found, MatchesFound)
    assert found.referral_id == event.referral_id
    assert found.matches[0].service_id == demo.NORREBRO_WALKING_GROUP_SERVICE_ID
    assert found.matches[0].organization_id == demo.NORREBRO_WALKING_GROUP_ORG_ID
    assert found.matches[0].reasons[:2] == ["interest:talk", "interest:walking"]
    scores = [match.score for match in found.matches]
    assert scores == sorted(scores, reverse=True)
    # The card club shares 'talk' but is full.
    assert demo.NORREBRO_CARD_CLUB_SERVICE_ID not in {m.service_id for m in found.matches}


def test_a_referral_nothing_fits_gets_no_match_with_the_reason() -> None:
    uow = seeded()
    services.match_referral(submitted(interests=["chess"], languages=["tr"]), uow)
    [missed] = uow.committed_events
    assert isinstance(missed, NoMatchFound)
    assert missed.reason.startswith("None of the 10 services fits:")
    assert "no shared language" in missed.reason


def test_wheelchair_users_are_matched_only_to_accessible_places() -> None:
    uow = seeded()
    services.match_referral(submitted(interests=["chess"]), uow)
    services.match_referral(submitted(interests=["chess"], needs=["wheelchair_access"]), uow)
    found, missed = uow.committed_events
    assert isinstance(found, MatchesFound)
    assert [m.service_id for m in found.matches] == [demo.OSTERBRO_CHESS_SERVICE_ID]
    assert isinstance(missed, NoMatchFound)
    assert "2 not wheelchair accessible" in missed.reason


async def test_a_redelivered_referral_publishes_its_matches_only_once() -> None:
    uow = seeded()

    dead_letters: list[object] = []

    async def dead_letter(*letter: object) -> None:
        dead_letters.append(letter)  # not raised: the consumer would retry it for ever

    consumer = EventConsumer(
        group_id="brobygger-directory",
        handlers=consumers.handlers(),
        uow_factory=uow,  # type: ignore[arg-type]  # the fake stands in for the real one
        dead_letter_topic="directory.deadletter.v1",
        publish_raw=dead_letter,
    )
    record = record_of(submitted(), offset=7, source="/brobygger/referrals")
    await consumer.handle(record)
    await consumer.handle(record)
    [found] = uow.committed_events
    assert isinstance(found, MatchesFound)
    assert uow.inbox == {("/brobygger/referrals", record.headers["ce_id"])}
    assert dead_letters == []
