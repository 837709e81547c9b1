"""Matching a submitted referral on the demo directory: preferred times from the event,
weights from the settings."""

# ruff: noqa: RUF001  (the reasons write time ranges with en dashes)

from __future__ import annotations

import pytest
from pydantic import ValidationError

from contracts import MatchesFound
from directory import demo, services
from directory.config import Settings
from directory.domain import DEFAULT_WEIGHTS, Weights
from tests.conftest import TEST_JWKS_FILE, TEST_SECRETS
from tests.directory.test_directory_services import seeded
from tests.events import referral_submitted

WALKING = demo.NORREBRO_WALKING_GROUP_SERVICE_ID


def matched(weights: Weights = DEFAULT_WEIGHTS, **changes: object) -> MatchesFound:
    uow = seeded()
    services.match_referral(referral_submitted(**changes), uow, max_matches=5, weights=weights)
    [found] = uow.committed_events
    assert isinstance(found, MatchesFound)
    return found


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("BROBYGGER_JWKS_FILE", str(TEST_JWKS_FILE))
    monkeypatch.setenv("DIRECTORY_KAFKA_PASSWORD", TEST_SECRETS["DIRECTORY_KAFKA_PASSWORD"])
    return monkeypatch


def test_the_preferred_times_on_the_event_decide_between_equal_fits() -> None:
    any_time = matched(interests=["talk"])
    evenings = matched(interests=["talk"], preferred_times=["evening"])
    assert any_time.matches[0].service_id == WALKING
    assert any_time.matches[0].reasons[4] == "Tue/Thu 10–11.30, any time suits"
    assert evenings.matches[0].service_name == "Dansk Flygtningehjælp mentorordning"
    assert evenings.matches[0].reasons[4] == "Mon/Wed 17–19 fits evening"
    walking = next(m for m in evenings.matches if m.service_id == WALKING)
    assert walking.reasons[4] == "Tue/Thu 10–11.30, wanted evening"


def test_every_candidate_carries_one_reason_per_criterion() -> None:
    found = matched(interests=["talk"], needs=["wheelchair_access"])
    assert all(len(m.reasons) == 7 for m in found.matches)
    assert all(m.reasons[3] == "wheelchair accessible" for m in found.matches)


def test_a_weight_set_in_the_environment_changes_the_order(
    environment: pytest.MonkeyPatch,
) -> None:
    environment.setenv("DIRECTORY_WEIGHT_DISTANCE", "10")
    weights = Settings().weights()
    assert weights == Weights(distance=10)
    nearest_first = matched(weights, interests=["talk"], preferred_times=["evening"])
    assert nearest_first.matches[0].service_id == WALKING
    assert nearest_first.matches[0].reasons[2] == "0.4 km"


def test_the_weights_are_the_documented_defaults_unless_configured(
    environment: pytest.MonkeyPatch,
) -> None:
    assert Settings().weights() == DEFAULT_WEIGHTS == Weights(3, 2, 2, 1, 1, 1, 1)
    environment.setenv("DIRECTORY_WEIGHT_TIME_OF_DAY", "0")
    environment.setenv("DIRECTORY_WEIGHT_TARGET_GROUP", "2.5")
    assert Settings().weights() == Weights(time_of_day=0, target_group=2.5)


@pytest.mark.parametrize("value", ["-1", "much"])
def test_a_weight_must_be_a_number_of_at_least_zero(
    environment: pytest.MonkeyPatch, value: str
) -> None:
    environment.setenv("DIRECTORY_WEIGHT_INTEREST", value)
    with pytest.raises(ValidationError, match="weight_interest"):
        Settings()
