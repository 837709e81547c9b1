"""Who is told, and how they want to be: recipients (an organisation's coordinators and
volunteers, operators, care systems) and their preferences per kind of message: channels,
quiet hours in Copenhagen, a daily digest. Rules only, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from uuid import UUID
from zoneinfo import ZoneInfo

CITY_TIME = ZoneInfo("Europe/Copenhagen")


class RecipientKind(StrEnum):
    COORDINATOR = "coordinator"
    """Signs in as the organisation's partner; sets their own preferences."""
    VOLUNTEER = "volunteer"
    """Registered by their organisation; never signs in here."""
    OPERATOR = "operator"
    CARE_SYSTEM = "care_system"


class Via(StrEnum):
    """A way of reaching a person."""

    INBOX = "inbox"
    EMAIL = "email"
    SMS = "sms"


DEFAULT_CHANNELS: dict[RecipientKind, frozenset[Via]] = {
    RecipientKind.COORDINATOR: frozenset({Via.INBOX, Via.EMAIL}),
    RecipientKind.VOLUNTEER: frozenset({Via.EMAIL}),
    RecipientKind.OPERATOR: frozenset({Via.INBOX, Via.EMAIL}),
    RecipientKind.CARE_SYSTEM: frozenset({Via.INBOX}),
}
"""Until a recipient says otherwise: volunteers have no inbox here, only their e-mail."""


class InvalidPreferences(ValueError):
    pass


@dataclass(frozen=True)
class QuietHours:
    """Wall-clock times in Copenhagen; `end` before `start` spans midnight."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise InvalidPreferences("quiet hours start and end at different times")

    def ends_after(self, now: datetime) -> datetime | None:
        """When the quiet hours `now` falls in end; None when `now` is not quiet."""
        local = now.astimezone(CITY_TIME)
        today = local.date()
        if self.start < self.end:
            quiet = self.start <= local.time() < self.end
            end_day = today
        else:  # over midnight
            quiet = local.time() >= self.start or local.time() < self.end
            end_day = today + timedelta(days=1) if local.time() >= self.start else today
        if not quiet:
            return None
        return datetime.combine(end_day, self.end, CITY_TIME)


@dataclass(frozen=True)
class Planned:
    """When a message goes out on one channel: `at`, or merged into the digest at `at`."""

    via: Via
    at: datetime
    digest: bool = False


@dataclass(frozen=True)
class Preferences:
    channels: dict[str, frozenset[Via]] = field(default_factory=dict)
    """Per kind of message; a kind not named goes by the recipient's defaults."""
    quiet_hours: QuietHours | None = None
    digest_hour: int | None = None
    """The hour (Copenhagen) of the daily digest e-mail that merges non-urgent messages."""

    def __post_init__(self) -> None:
        if self.digest_hour is not None and not 0 <= self.digest_hour <= 23:
            raise InvalidPreferences("the digest hour is 0 to 23")

    def plan(
        self, kind: str, recipient: RecipientKind, *, urgent: bool, now: datetime
    ) -> list[Planned]:
        """How and when a message of `kind` reaches this recipient: the inbox at once;
        e-mail and SMS at once when urgent, otherwise after quiet hours, and e-mail merged
        into the next digest when there is one."""
        chosen = self.channels.get(kind, DEFAULT_CHANNELS[recipient])
        quiet_end = None if urgent or self.quiet_hours is None else self.quiet_hours.ends_after(now)
        planned = []
        for via in sorted(chosen):
            if via is Via.INBOX or urgent:
                planned.append(Planned(via, now))
            elif via is Via.EMAIL and self.digest_hour is not None:
                planned.append(Planned(via, self.next_digest(now), digest=True))
            else:
                planned.append(Planned(via, quiet_end or now))
        return planned

    def next_digest(self, now: datetime) -> datetime:
        assert self.digest_hour is not None
        local = now.astimezone(CITY_TIME)
        at = datetime.combine(local.date(), time(self.digest_hour), CITY_TIME)
        return (
            at
            if at > local
            else datetime.combine(
                local.date() + timedelta(days=1), time(self.digest_hour), CITY_TIME
            )
        )


@dataclass
class Recipient:
    """Someone notifications tells: their contact details are personal data and stay here,
    never on Kafka, in logs or in error texts."""

    id: UUID
    kind: RecipientKind
    language: str
    organization_id: UUID | None = None
    subject: str | None = None
    """The token subject of whoever signs in as this recipient (not volunteers)."""
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    active: bool = True
    districts: frozenset[str] = frozenset()
    """Operators only: the districts they want to hear of; empty, all."""
    preferences: Preferences = field(default_factory=Preferences)

    def reachable_by(self, via: Via) -> bool:
        if via is Via.EMAIL:
            return self.email is not None
        if via is Via.SMS:
            return self.phone is not None
        return self.kind is not RecipientKind.VOLUNTEER


ALWAYS_URGENT = frozenset({"referral_escalated", "follow_up_escalated", "webhook_disabled"})
"""Kinds that cannot wait for the morning or a digest: someone must act now."""

OFFER_URGENT_WITHIN = timedelta(hours=24)
"""An offer that lapses sooner than this is urgent: by the morning it may be gone."""


def is_urgent(kind: str, fields: Mapping[str, object], now: datetime) -> bool:
    if kind in ALWAYS_URGENT:
        return True
    expires = fields.get("expires")
    return (
        kind == "referral_offered"
        and isinstance(expires, datetime)
        and expires - now <= OFFER_URGENT_WITHIN
    )
