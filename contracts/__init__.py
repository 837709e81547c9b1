"""Event contracts shared by all services: versioned payload models, nothing else.

Each event names its CloudEvents `type`, the topic it travels on and the field that holds
its aggregate id (the Kafka key). A breaking change makes a new class with a new major
version (`...v2`) on a new topic; the committed JSON Schemas in `contracts/schemas/` guard
the old one.
"""

from contracts.base import IntegrationEvent
from contracts.directory import Match, MatchesFound, NoMatchFound, ServiceChanged
from contracts.grants import PoolOpened
from contracts.notifications import DeliveryRecorded
from contracts.referrals import (
    CareFollowUpDue,
    ConsentWithdrawn,
    ContactMade,
    FirstMeetingHeld,
    FollowUpDue,
    FollowUpEscalated,
    FollowUpOverdue,
    FollowUpRecorded,
    OfferDeclined,
    OfferExpired,
    OfferWithdrawn,
    ReferralAccepted,
    ReferralAssigned,
    ReferralCancelled,
    ReferralCompleted,
    ReferralErased,
    ReferralEscalated,
    ReferralFailed,
    ReferralOffered,
    ReferralPutOnHold,
    ReferralResumed,
    ReferralStatusChanged,
    ReferralSubmitted,
)

ALL_EVENTS: tuple[type[IntegrationEvent], ...] = (
    ReferralSubmitted,
    ReferralOffered,
    ReferralAccepted,
    OfferDeclined,
    OfferExpired,
    OfferWithdrawn,
    ReferralAssigned,
    ReferralEscalated,
    ContactMade,
    FirstMeetingHeld,
    ReferralPutOnHold,
    ReferralResumed,
    ReferralCompleted,
    ReferralFailed,
    ReferralCancelled,
    ConsentWithdrawn,
    ReferralErased,
    FollowUpDue,
    FollowUpRecorded,
    FollowUpOverdue,
    FollowUpEscalated,
    ReferralStatusChanged,
    CareFollowUpDue,
    MatchesFound,
    NoMatchFound,
    ServiceChanged,
    PoolOpened,
    DeliveryRecorded,
)

__all__ = [
    "ALL_EVENTS",
    "CareFollowUpDue",
    "ConsentWithdrawn",
    "ContactMade",
    "DeliveryRecorded",
    "FirstMeetingHeld",
    "FollowUpDue",
    "FollowUpEscalated",
    "FollowUpOverdue",
    "FollowUpRecorded",
    "IntegrationEvent",
    "Match",
    "MatchesFound",
    "NoMatchFound",
    "OfferDeclined",
    "OfferExpired",
    "OfferWithdrawn",
    "PoolOpened",
    "ReferralAccepted",
    "ReferralAssigned",
    "ReferralCancelled",
    "ReferralCompleted",
    "ReferralErased",
    "ReferralEscalated",
    "ReferralFailed",
    "ReferralOffered",
    "ReferralPutOnHold",
    "ReferralResumed",
    "ReferralStatusChanged",
    "ReferralSubmitted",
    "ServiceChanged",
]
