"""Candidates, offers and the answers a partner may give: rules only, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from uuid import UUID


class OfferStatus(StrEnum):
    PENDING = "pending"
    """Waiting for the organisation's answer."""
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    """Not answered in time."""
    WITHDRAWN = "withdrawn"
    """Taken back: the referral was cancelled or assigned elsewhere while the offer was open."""


class DeclineReason(StrEnum):
    NO_CAPACITY = "no_capacity"
    NOT_SUITABLE = "not_suitable"
    NO_VOLUNTEER_AVAILABLE = "no_volunteer_available"
    CITIZEN_UNREACHABLE = "citizen_unreachable"
    OTHER = "other"


class HoldReason(StrEnum):
    CITIZEN_ILL = "citizen_ill"
    CITIZEN_IN_HOSPITAL = "citizen_in_hospital"
    CITIZEN_AWAY = "citizen_away"
    ACTIVITY_PAUSED = "activity_paused"
    OTHER = "other"


class FailReason(StrEnum):
    CITIZEN_UNREACHABLE = "citizen_unreachable"
    CITIZEN_NOT_INTERESTED = "citizen_not_interested"
    NOT_SUITABLE = "not_suitable"
    CITIZEN_MOVED = "citizen_moved"
    CITIZEN_DIED = "citizen_died"
    OTHER = "other"


class CancelReason(StrEnum):
    CONSENT_WITHDRAWN = "consent_withdrawn"
    CITIZEN_MOVED = "citizen_moved"
    CITIZEN_DIED = "citizen_died"
    NEED_MET_OTHERWISE = "need_met_otherwise"
    DUPLICATE = "duplicate"
    ENTERED_IN_ERROR = "entered_in_error"
    OTHER = "other"


class Accompaniment(StrEnum):
    NOBODY = "nobody"
    HOME_CARE_STAFF = "home_care_staff"
    VOLUNTEER = "volunteer"
    RELATIVE = "relative"


class WithdrawalReason(StrEnum):
    CANCELLED = "cancelled"
    REASSIGNED = "reassigned"


class EscalationReason(StrEnum):
    NO_MATCH = "no_match"
    """Nothing in the directory fits."""
    ALL_DECLINED = "all_declined"
    ALL_EXPIRED = "all_expired"
    DECLINED_OR_EXPIRED = "declined_or_expired"
    NONE_AVAILABLE = "none_available"
    """Candidates were found, but every one not yet tried has closed or is full."""


@dataclass(frozen=True)
class Candidate:
    """A service directory ranked for the referral; offered in rank order."""

    service_id: UUID
    organization_id: UUID
    score: float
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class KnownService:
    """What referrals last heard from directory about a service."""

    service_id: UUID
    organization_id: UUID
    active: bool
    free_places: int

    @property
    def available(self) -> bool:
        return self.active and self.free_places > 0


@dataclass
class Offer:
    id: UUID
    organization_id: UUID
    service_id: UUID
    offered_at: datetime
    expires_at: datetime
    status: OfferStatus = OfferStatus.PENDING
    answered_at: datetime | None = None
    """When it stopped being pending: accepted, declined, expired or withdrawn."""
    decline_reason: DeclineReason | None = None


@dataclass(frozen=True)
class Deadline:
    """A moment at which the service's own clock must act on a referral: a durable timer."""

    kind: str
    key: UUID
    """What it is about within the referral, e.g. the offer that expires."""
    due_at: datetime


OFFER_EXPIRY = "offer_expiry"
