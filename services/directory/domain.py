"""Organisations, their locations and services, and how a referral is matched to them:
rules only, no I/O. Field names follow Open Referral HSDS 3.0 where it has the concept."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import time
from enum import StrEnum
from math import inf, nextafter
from uuid import UUID

from directory.geography import district_for_postcode, district_named, haversine_km

WHEELCHAIR_NEED = "wheelchair_access"


class ServiceStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


class TimeOfDay(StrEnum):
    MORNING = "morning"
    AFTERNOON = "afternoon"
    EVENING = "evening"


PARTS_OF_DAY = {
    TimeOfDay.MORNING: (time(5), time(12)),
    TimeOfDay.AFTERNOON: (time(12), time(17)),
    TimeOfDay.EVENING: (time(17), time.max),
}
"""When each part of the day a citizen may prefer begins and ends."""

WEEKDAYS = {
    "MO": "Mon",
    "TU": "Tue",
    "WE": "Wed",
    "TH": "Thu",
    "FR": "Fri",
    "SA": "Sat",
    "SU": "Sun",
}
"""iCalendar's day codes (HSDS `schedule.byday`), in the week's order, and how they read."""


class InvalidService(ValueError):
    """A service's fields contradict each other."""


@dataclass(frozen=True)
class WeeklySchedule:
    """When a service meets each week (an HSDS `schedule` with `freq` WEEKLY)."""

    days: tuple[str, ...]
    """iCalendar day codes, `MO`…`SU`."""
    opens_at: time
    closes_at: time

    def __post_init__(self) -> None:
        if not self.days or not set(self.days) <= WEEKDAYS.keys():
            raise InvalidService("a schedule's days are iCalendar day codes, MO to SU")
        if self.closes_at <= self.opens_at:
            raise InvalidService("a schedule closes after it opens")

    @property
    def parts_of_day(self) -> frozenset[TimeOfDay]:
        """The parts of the day it overlaps."""
        return frozenset(
            part
            for part, (begins, ends) in PARTS_OF_DAY.items()
            if self.opens_at < ends and self.closes_at > begins
        )

    def describe(self) -> str:
        """E.g. `Tue/Thu 10–12`, minutes only where there are some."""  # noqa: RUF002
        days = "/".join(name for code, name in WEEKDAYS.items() if code in self.days)
        return f"{days} {_clock(self.opens_at)}–{_clock(self.closes_at)}"  # noqa: RUF001


def _clock(moment: time) -> str:
    return f"{moment.hour}" if not moment.minute else f"{moment.hour}.{moment.minute:02d}"


@dataclass(frozen=True)
class Organization:
    id: UUID
    name: str
    description: str
    coordinator_email: str
    """Who hears about referrals; for operators and notifications, never public."""
    email: str | None = None
    website: str | None = None


@dataclass(frozen=True)
class Location:
    id: UUID
    organization_id: UUID
    name: str
    address_1: str
    postal_code: str
    city: str
    district: str
    wheelchair_accessible: bool
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True)
class Service:
    """An activity an organisation runs at one of its locations (HSDS `service`)."""

    id: UUID
    organization_id: UUID
    location_id: UUID
    name: str
    capacity: int
    free_places: int
    status: ServiceStatus = ServiceStatus.ACTIVE
    interests: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    """ISO 639-1 codes."""
    target_groups: list[str] = field(default_factory=list)
    """Whom it is meant for, in the vocabulary of a referral's needs, e.g. 'hard_to_leave_home'."""
    schedules: list[WeeklySchedule] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Checked on every construction, so also on each service read back after an update.
        if self.capacity < 1:
            raise InvalidService("capacity must be at least 1")
        if not 0 <= self.free_places <= self.capacity:
            raise InvalidService(
                f"free_places must be between 0 and the capacity ({self.capacity})"
            )

    @property
    def full(self) -> bool:
        return self.free_places == 0

    @property
    def parts_of_day(self) -> frozenset[TimeOfDay]:
        """When in the day it meets; empty when it has no schedule."""
        return frozenset().union(*(schedule.parts_of_day for schedule in self.schedules))


@dataclass(frozen=True)
class ServiceAtLocation:
    """A service together with where it happens (HSDS `service_at_location`)."""

    service: Service
    location: Location


@dataclass(frozen=True)
class Referral:
    """What directory knows of a referral: what the citizen wants, never who they are."""

    id: UUID
    district: str
    interests: frozenset[str]
    languages: frozenset[str]
    needs: frozenset[str]
    preferred_times: frozenset[TimeOfDay] = frozenset()
    """When in the day the citizen would go; empty: any time."""


@dataclass(frozen=True)
class Weights:
    """How much each criterion counts in a match's score (directory settings
    `DIRECTORY_WEIGHT_...`)."""

    interest: float = 3.0
    """Per shared interest."""
    language: float = 2.0
    """For a shared language, which is required."""
    distance: float = 2.0
    """At the citizen's district centroid, falling evenly to nothing at `DISTANCE_HORIZON_KM`."""
    accessibility: float = 1.0
    """For wheelchair access when the citizen needs it (then required)."""
    time_of_day: float = 1.0
    """When it runs at a time the citizen prefers, or the citizen has no preference."""
    free_places: float = 1.0
    """Times the share of its places that are free."""
    target_group: float = 1.0
    """Per target group of the service that is one of the citizen's needs."""


DEFAULT_WEIGHTS = Weights()

DISTANCE_HORIZON_KM = 10.0
"""About the width of the city: a service this far away or more scores nothing for distance."""

SCORE_DECIMALS = 2
"""A match's score is rounded to this many decimals, and ranked by the rounded score."""


class Exclusion(StrEnum):
    """Why a service does not fit a referral: the criteria that rule services out."""

    INACTIVE = "inactive"
    NOT_ACCESSIBLE = "not wheelchair accessible"
    NOTHING_IN_COMMON = "no shared interest or target group"
    NO_SHARED_LANGUAGE = "no shared language"


@dataclass(frozen=True)
class Match:
    service_at_location: ServiceAtLocation
    score: float
    reasons: list[str]
    """One per criterion, in words a person reads: interest, language, distance,
    accessibility, time of day, free places, target group."""


@dataclass(frozen=True)
class Ranking:
    matches: list[Match]
    """The best fits, best first, at most as many as asked for."""
    excluded: dict[Exclusion, int]
    """How many services were left out, by the first criterion each failed."""

    def no_match_reason(self) -> str:
        total = sum(self.excluded.values())
        if not total:
            return "The directory has no services yet."
        counts = "; ".join(f"{self.excluded.get(reason, 0)} {reason}" for reason in Exclusion)
        return (
            f"None of the {total} services fits: {counts} (each counted at the first of "
            "these it fails; distance, time of day and free places only rank, never rule out)."
        )


def assess(
    referral: Referral, service_at_location: ServiceAtLocation, weights: Weights = DEFAULT_WEIGHTS
) -> Match | Exclusion:
    """Score one service for a referral, or say why it is out.

    Being active, wheelchair access when the citizen needs it, a shared interest or a
    target group that covers a need, and a shared language are required; every criterion
    then adds its weight (see `Weights`) and one reason. A service without free places
    still fits (a place may come free before the offer reaches it): its reasons say
    `full`, and `rank` puts it after every service with room.
    """
    service, location = service_at_location.service, service_at_location.location
    if service.status is not ServiceStatus.ACTIVE:
        return Exclusion.INACTIVE
    needs_wheelchair = WHEELCHAIR_NEED in referral.needs
    if needs_wheelchair and not location.wheelchair_accessible:
        return Exclusion.NOT_ACCESSIBLE
    interests = sorted(referral.interests.intersection(service.interests))
    groups = sorted(referral.needs.intersection(service.target_groups))
    if not interests and not groups:
        return Exclusion.NOTHING_IN_COMMON
    languages = sorted(referral.languages.intersection(service.languages))
    if not languages:
        return Exclusion.NO_SHARED_LANGUAGE

    km = distance_km(referral.district, location)
    timely = not referral.preferred_times or bool(service.parts_of_day & referral.preferred_times)
    score = (
        weights.interest * len(interests)
        + weights.language
        + weights.distance * closeness(km)
        + (weights.accessibility if needs_wheelchair else 0.0)
        + (weights.time_of_day if timely else 0.0)
        + weights.free_places * service.free_places / service.capacity
        + weights.target_group * len(groups)
    )
    reasons = [
        f"interest: {', '.join(interests)}" if interests else "interest: none shared",
        f"language: {', '.join(languages)}",
        "distance unknown" if km is None else f"{km:.1f} km",
        "wheelchair accessible" if needs_wheelchair else "no accessibility need",
        _time_reason(service.schedules, referral.preferred_times),
        "full" if service.full else f"{service.free_places} of {service.capacity} places free",
        f"target group: {', '.join(groups)}" if groups else "target group: none shared",
    ]
    return Match(service_at_location, round(score, SCORE_DECIMALS), reasons)


def distance_km(citizen_district: str, location: Location) -> float | None:
    """From the centroid of the citizen's district to the location: its own coordinates,
    else the centroid of its district or postcode; None when either end is unknown."""
    home = district_named(citizen_district)
    if home is None:
        return None
    if location.latitude is not None and location.longitude is not None:
        there = (location.latitude, location.longitude)
    else:
        district = district_named(location.district) or district_for_postcode(location.postal_code)
        if district is None:
            return None
        there = (district.latitude, district.longitude)
    return haversine_km(home.latitude, home.longitude, *there)


def closeness(km: float | None) -> float:
    """What the distance criterion counts of its weight: all of it at no distance, falling
    evenly to nothing at `DISTANCE_HORIZON_KM`; nothing when the distance is unknown."""
    return 0.0 if km is None else max(0.0, 1 - km / DISTANCE_HORIZON_KM)


def scores_rounding_as(rounded: float) -> tuple[float, float]:
    """The lowest and the highest unrounded score that `assess` rounds to `rounded` (one of
    its rounded scores): for ranking in SQL exactly as `rank` does, which orders by the
    rounded score, without rounding in SQL (whose rounding of halves is not Python's)."""
    half = 0.5 * 10**-SCORE_DECIMALS
    # Start next to each bound and step one representable float at a time onto it.
    low = rounded - half
    while round(low, SCORE_DECIMALS) >= rounded:
        low = nextafter(low, -inf)
    while round(low, SCORE_DECIMALS) < rounded:
        low = nextafter(low, inf)
    high = rounded + half
    while round(high, SCORE_DECIMALS) <= rounded:
        high = nextafter(high, inf)
    while round(high, SCORE_DECIMALS) > rounded:
        high = nextafter(high, -inf)
    return low, high


def _time_reason(schedules: list[WeeklySchedule], preferred: frozenset[TimeOfDay]) -> str:
    runs = ", ".join(schedule.describe() for schedule in schedules) or "no schedule given"
    if not preferred:
        return f"{runs}, any time suits"
    # In the day's order, so that the words are the same for the same preferences.
    wanted = " or ".join(t.value for t in TimeOfDay if t in preferred)
    fits = any(schedule.parts_of_day & preferred for schedule in schedules)
    return f"{runs} fits {wanted}" if fits else f"{runs}, wanted {wanted}"


def rank(
    referral: Referral,
    services_at_locations: list[ServiceAtLocation],
    *,
    max_matches: int,
    weights: Weights = DEFAULT_WEIGHTS,
) -> Ranking:
    """The `max_matches` services that fit best, best first: those with free places before
    those without, then by score; ties go to more free places, then by name. One pass over
    the services."""
    matches: list[Match] = []
    excluded: Counter[Exclusion] = Counter()
    for service_at_location in services_at_locations:
        result = assess(referral, service_at_location, weights)
        if isinstance(result, Exclusion):
            excluded[result] += 1
        else:
            matches.append(result)
    matches.sort(key=_best_first)
    # In the enum's order, so that the no-match reason reads the same for the same data.
    by_reason = {reason: excluded[reason] for reason in Exclusion if excluded[reason]}
    return Ranking(matches[:max_matches], by_reason)


def _best_first(match: Match) -> tuple[bool, float, int, str, str]:
    service = match.service_at_location.service
    # The id last: two services of the same name still rank the same way.
    return (service.full, -match.score, -service.free_places, service.name, str(service.id))
