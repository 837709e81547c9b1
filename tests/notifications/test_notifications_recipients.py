"""Recipients' preferences: which channels, quiet hours in Copenhagen, a daily digest; urgent
messages bypass both."""

from __future__ import annotations

from datetime import UTC, datetime, time
from uuid import uuid4

import pytest

from notifications.recipients import (
    CITY_TIME,
    InvalidPreferences,
    Planned,
    Preferences,
    QuietHours,
    Recipient,
    RecipientKind,
    Via,
)

NIGHT = QuietHours(time(21), time(7))
"""From nine in the evening to seven in the morning, Copenhagen time."""


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of December 2026 on Copenhagen's clock (UTC+1)."""
    return datetime(2026, 12, day, hour, minute, tzinfo=CITY_TIME)


def test_a_message_in_quiet_hours_waits_until_they_end_on_every_channel_but_the_inbox() -> None:
    preferences = Preferences(quiet_hours=NIGHT)
    planned = preferences.plan(
        "follow_up_due", RecipientKind.COORDINATOR, urgent=False, now=at(1, 23)
    )
    assert planned == [Planned(Via.EMAIL, at(2, 7)), Planned(Via.INBOX, at(1, 23))]


def test_quiet_hours_after_midnight_end_the_same_morning() -> None:
    preferences = Preferences(quiet_hours=NIGHT)
    [email] = preferences.plan("x", RecipientKind.VOLUNTEER, urgent=False, now=at(2, 5, 30))
    assert email == Planned(Via.EMAIL, at(2, 7))


def test_outside_quiet_hours_a_message_goes_at_once() -> None:
    preferences = Preferences(quiet_hours=NIGHT)
    [email] = preferences.plan("x", RecipientKind.VOLUNTEER, urgent=False, now=at(2, 7))
    assert email == Planned(Via.EMAIL, at(2, 7))


def test_quiet_hours_within_a_day_hold_a_message_until_they_end() -> None:
    lunch = Preferences(quiet_hours=QuietHours(time(12), time(13)))
    [email] = lunch.plan("x", RecipientKind.VOLUNTEER, urgent=False, now=at(2, 12, 30))
    assert email == Planned(Via.EMAIL, at(2, 13))
    [later] = lunch.plan("x", RecipientKind.VOLUNTEER, urgent=False, now=at(2, 13, 30))
    assert later.at == at(2, 13, 30)


def test_an_urgent_message_bypasses_quiet_hours_and_the_digest() -> None:
    preferences = Preferences(quiet_hours=NIGHT, digest_hour=8)
    planned = preferences.plan(
        "referral_escalated", RecipientKind.OPERATOR, urgent=True, now=at(1, 23)
    )
    assert planned == [Planned(Via.EMAIL, at(1, 23)), Planned(Via.INBOX, at(1, 23))]


def test_a_non_urgent_e_mail_is_merged_into_the_next_digest() -> None:
    preferences = Preferences(digest_hour=8)
    [email, inbox] = preferences.plan("x", RecipientKind.COORDINATOR, urgent=False, now=at(1, 9))
    assert email == Planned(Via.EMAIL, at(2, 8), digest=True)
    assert inbox == Planned(Via.INBOX, at(1, 9))
    [early, _] = preferences.plan("x", RecipientKind.COORDINATOR, urgent=False, now=at(1, 7))
    assert early == Planned(Via.EMAIL, at(1, 8), digest=True)


def test_an_sms_follows_quiet_hours_but_is_never_merged_into_the_digest() -> None:
    preferences = Preferences(
        channels={"follow_up_due": frozenset({Via.SMS})}, quiet_hours=NIGHT, digest_hour=8
    )
    [sms] = preferences.plan("follow_up_due", RecipientKind.VOLUNTEER, urgent=False, now=at(1, 22))
    assert sms == Planned(Via.SMS, at(2, 7))


def test_the_channels_chosen_for_a_kind_replace_the_defaults_for_that_kind_only() -> None:
    preferences = Preferences(channels={"pool_opened": frozenset()})
    assert (
        preferences.plan("pool_opened", RecipientKind.COORDINATOR, urgent=False, now=at(1, 9)) == []
    )
    assert [
        p.via
        for p in preferences.plan(
            "referral_offered", RecipientKind.COORDINATOR, urgent=False, now=at(1, 9)
        )
    ] == [Via.EMAIL, Via.INBOX]


def test_quiet_hours_are_copenhagen_wall_time_in_summer_too() -> None:
    summer_night = datetime(2026, 7, 1, 20, 30, tzinfo=UTC)  # 22:30 in Copenhagen
    [email] = Preferences(quiet_hours=NIGHT).plan(
        "x", RecipientKind.VOLUNTEER, urgent=False, now=summer_night
    )
    assert email.at == datetime(2026, 7, 2, 5, 0, tzinfo=UTC)  # 07:00 summer time


@pytest.mark.parametrize("hour", [-1, 24])
def test_a_digest_hour_outside_the_day_is_refused(hour: int) -> None:
    with pytest.raises(InvalidPreferences):
        Preferences(digest_hour=hour)


def test_quiet_hours_that_start_when_they_end_are_refused() -> None:
    with pytest.raises(InvalidPreferences):
        QuietHours(time(7), time(7))


def test_a_volunteer_is_reached_only_where_they_can_be() -> None:
    volunteer = Recipient(uuid4(), RecipientKind.VOLUNTEER, "da", email="a@example.org")
    assert (volunteer.reachable_by(Via.EMAIL), volunteer.reachable_by(Via.SMS)) == (True, False)
    assert not volunteer.reachable_by(Via.INBOX), "volunteers never sign in here"
    coordinator = Recipient(uuid4(), RecipientKind.COORDINATOR, "sv", subject="c-1")
    assert coordinator.reachable_by(Via.INBOX) and not coordinator.reachable_by(Via.EMAIL)
