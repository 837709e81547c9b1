"""The integration events directory publishes and consumes, built from the domain."""

from __future__ import annotations

from uuid import UUID

from contracts import IntegrationEvent, MatchesFound, NoMatchFound, ReferralSubmitted
from contracts import Match as MatchPayload
from directory.domain import Match, Referral

PUBLISHES: tuple[type[IntegrationEvent], ...] = (MatchesFound, NoMatchFound)
CONSUMES: tuple[type[IntegrationEvent], ...] = (ReferralSubmitted,)


def referral_from(event: ReferralSubmitted) -> Referral:
    return Referral(
        id=event.referral_id,
        district=event.district,
        interests=frozenset(i.strip().lower() for i in event.interests),
        languages=frozenset(lang.strip().lower() for lang in event.languages),
        needs=frozenset(need.strip().lower() for need in event.needs),
    )


def matches_found(referral_id: UUID, matches: list[Match]) -> MatchesFound:
    return MatchesFound(
        referral_id=referral_id,
        matches=[
            MatchPayload(
                service_id=match.service_at_location.service.id,
                organization_id=match.service_at_location.service.organization_id,
                service_name=match.service_at_location.service.name,
                score=match.score,
                reasons=match.reasons,
            )
            for match in matches
        ],
    )


def no_match_found(referral_id: UUID, reason: str) -> NoMatchFound:
    return NoMatchFound(referral_id=referral_id, reason=reason)
