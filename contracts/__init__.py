"""Event contracts shared by all services: versioned payload models, nothing else.

Each event names its CloudEvents `type`, the topic it travels on and the field that holds
its aggregate id (the Kafka key). A breaking change makes a new class with a new major
version (`...v2`) on a new topic; the committed JSON Schemas in `contracts/schemas/` guard
the old one.
"""

from contracts.base import IntegrationEvent
from contracts.directory import Match, MatchesFound, NoMatchFound
from contracts.grants import PoolOpened
from contracts.notifications import DeliveryRecorded
from contracts.referrals import ReferralOffered, ReferralSubmitted

ALL_EVENTS: tuple[type[IntegrationEvent], ...] = (
    ReferralSubmitted,
    ReferralOffered,
    MatchesFound,
    NoMatchFound,
    PoolOpened,
    DeliveryRecorded,
)

__all__ = [
    "ALL_EVENTS",
    "DeliveryRecorded",
    "IntegrationEvent",
    "Match",
    "MatchesFound",
    "NoMatchFound",
    "PoolOpened",
    "ReferralOffered",
    "ReferralSubmitted",
]
