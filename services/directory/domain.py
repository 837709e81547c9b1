"""Organisations, their locations and services, and how a referral is matched to them:
rules only, no I/O. Field names follow Open Referral HSDS 3.0 where it has the concept."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from uuid import UUID

WHEELCHAIR_NEED = "wheelchair_access"


class ServiceStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


class TimeOfDay(StrEnum):
    MORNING = "morning"
    AFTERNOON = "afternoon"
    EVENING = "evening"


class InvalidService(ValueError):
    """A service's fields contradict each other."""


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
    description: str
    time_of_day: TimeOfDay
    capacity: int
    free_places: int
    status: ServiceStatus = ServiceStatus.ACTIVE
    interests: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    """ISO 639-1 codes."""
    target_groups: list[str] = field(default_factory=list)
    """Whom it is meant for, in the vocabulary of a referral's needs, e.g. 'hard_to_leave_home'."""
    schedule_description: str | None = None

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


class Exclusion(StrEnum):
    """Why a service does not fit a referral."""

    INACTIVE = "inactive"
    NOT_ACCESSIBLE = "not wheelchair accessible"
    NOTHING_IN_COMMON = "no shared interest or target group"
    NO_SHARED_LANGUAGE = "no shared language"


@dataclass(frozen=True)
class Match:
    service_at_location: ServiceAtLocation
    score: int
    reasons: list[str]


@dataclass(frozen=True)
class Ranking:
    matches: list[Match]
    """The best fits, best first, at most as many as asked for."""
    excluded: dict[Exclusion, int]
    """How many services were left out, by reason."""

    def no_match_reason(self) -> str:
        if not self.excluded:
            return "The directory has no services yet."
        counts = "; ".join(f"{count} {reason}" for reason, count in self.excluded.items())
        return f"None of the {sum(self.excluded.values())} services fits: {counts}."


def assess(referral: Referral, service_at_location: ServiceAtLocation) -> Match | Exclusion:
    """Score one service for a referral, or say why it is out.

    3 per shared interest, 2 for a shared language (required), 2 for the same district,
    1 when the service is meant for one of the citizen's needs. A service without free
    places still fits (a place may come free before the offer reaches it): its reasons say
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

    score = 3 * len(interests) + 2
    reasons = [f"interest:{i}" for i in interests] + [f"language:{lang}" for lang in languages]
    if location.district.casefold() == referral.district.casefold():
        score += 2
        reasons.append(f"district:{location.district}")
    if needs_wheelchair:
        reasons.append("accessible")
    if groups:
        score += 1
        reasons += [f"target_group:{group}" for group in groups]
    reasons.append("full" if service.full else f"free_places:{service.free_places}")
    return Match(service_at_location, score, reasons)


def rank(
    referral: Referral, services_at_locations: list[ServiceAtLocation], *, max_matches: int
) -> Ranking:
    """The `max_matches` services that fit best, best first: those with free places before
    those without, then by score; ties go to more free places, then by name."""
    matches: list[Match] = []
    excluded: Counter[Exclusion] = Counter()
    for service_at_location in services_at_locations:
        result = assess(referral, service_at_location)
        if isinstance(result, Exclusion):
            excluded[result] += 1
        else:
            matches.append(result)
    matches.sort(key=_best_first)
    # In the enum's order, so that the no-match reason reads the same for the same data.
    by_reason = {reason: excluded[reason] for reason in Exclusion if excluded[reason]}
    return Ranking(matches[:max_matches], by_reason)


def _best_first(match: Match) -> tuple[bool, int, int, str, str]:
    service = match.service_at_location.service
    # The id last: two services of the same name still rank the same way.
    return (service.full, -match.score, -service.free_places, service.name, str(service.id))
