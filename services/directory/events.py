"""The integration events directory publishes and consumes, built from the domain."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from contracts import (
    IntegrationEvent,
    MatchesFound,
    NoMatchFound,
    ReferralAccepted,
    ReferralCancelled,
    ReferralCompleted,
    ReferralErased,
    ReferralEscalated,
    ReferralFailed,
    ReferralSubmitted,
    ServiceChanged,
)
from contracts import Match as MatchPayload
from directory import reports
from directory.domain import Match, Referral, Service

PUBLISHES: tuple[type[IntegrationEvent], ...] = (MatchesFound, NoMatchFound, ServiceChanged)
CONSUMES: tuple[type[IntegrationEvent], ...] = (
    ReferralSubmitted,
    ReferralAccepted,
    ReferralCompleted,
    ReferralFailed,
    ReferralCancelled,
    ReferralErased,
    ReferralEscalated,
)


def referral_from(event: ReferralSubmitted) -> Referral:
    return Referral(
        id=event.referral_id,
        district=event.district,
        interests=frozenset(i.strip().lower() for i in event.interests),
        languages=frozenset(lang.strip().lower() for lang in event.languages),
        needs=frozenset(need.strip().lower() for need in event.needs),
    )


def unmet_referral(event: ReferralSubmitted | ReferralEscalated) -> reports.UnmetReferral:
    """A submitted referral nothing fits went unmet when it was submitted; an escalated one
    when it was escalated, for the escalation's reason."""
    reason: str
    if isinstance(event, ReferralEscalated):
        reason, unmet_at = event.reason, event.escalated_at
    else:
        reason, unmet_at = reports.NO_MATCH, event.submitted_at
    return reports.unmet_referral(
        event.referral_id, event.district, event.interests, event.needs, reason, unmet_at
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


def service_changed(service: Service, changed_at: datetime) -> ServiceChanged:
    return ServiceChanged(
        service_id=service.id,
        organization_id=service.organization_id,
        name=service.name,
        status=service.status.value,
        capacity=service.capacity,
        free_places=service.free_places,
        changed_at=changed_at,
    )
