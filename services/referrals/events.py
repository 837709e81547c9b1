"""The integration events referrals publishes and consumes. The referral records the events
it causes (`referrals.domain.lifecycle`); the unit of work writes them to the outbox."""

from __future__ import annotations

from contracts import (
    ConsentWithdrawn,
    ContactMade,
    FirstMeetingHeld,
    IntegrationEvent,
    MatchesFound,
    NoMatchFound,
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
    ReferralSubmitted,
    ServiceChanged,
)

PUBLISHES: tuple[type[IntegrationEvent], ...] = (
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
)
CONSUMES: tuple[type[IntegrationEvent], ...] = (MatchesFound, NoMatchFound, ServiceChanged)
