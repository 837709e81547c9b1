"""The integration events referrals publishes and consumes, built from the domain."""

from __future__ import annotations

from contracts import (
    IntegrationEvent,
    MatchesFound,
    NoMatchFound,
    ReferralOffered,
    ReferralSubmitted,
)
from referrals.domain import Offer, Referral

PUBLISHES: tuple[type[IntegrationEvent], ...] = (ReferralSubmitted, ReferralOffered)
CONSUMES: tuple[type[IntegrationEvent], ...] = (MatchesFound, NoMatchFound)


def referral_submitted(referral: Referral) -> ReferralSubmitted:
    return ReferralSubmitted(
        referral_id=referral.id,
        citizen_ref=referral.citizen_ref,
        age_band=referral.age_band,
        district=referral.district,
        interests=referral.interests,
        languages=referral.languages,
        needs=referral.needs,
        submitted_at=referral.submitted_at,
    )


def referral_offered(referral: Referral, offer: Offer) -> ReferralOffered:
    """What a partner needs to decide: never the personal number, name or address."""
    return ReferralOffered(
        referral_id=referral.id,
        offer_id=offer.id,
        organization_id=offer.organization_id,
        service_id=offer.service_id,
        citizen_ref=referral.citizen_ref,
        age_band=referral.age_band,
        district=referral.district,
        interests=referral.interests,
        languages=referral.languages,
        needs=referral.needs,
        expires_at=offer.expires_at,
    )
