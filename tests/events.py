"""Contract events as tests build them: each with sensible defaults, any field overridden
by keyword (`referral_offered(organization_id=org)`). An override that names no field of
the event is an error, so a misspelt one cannot pass unnoticed."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, TypeVar
from uuid import UUID, uuid4

from contracts import (
    IntegrationEvent,
    Match,
    MatchesFound,
    NoMatchFound,
    OfferExpired,
    OfferWithdrawn,
    PoolOpened,
    ReferralAccepted,
    ReferralCancelled,
    ReferralCompleted,
    ReferralEscalated,
    ReferralFailed,
    ReferralOffered,
    ReferralSubmitted,
    ServiceChanged,
)

E = TypeVar("E", bound=IntegrationEvent)

AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
"""When the events happened, unless a test says otherwise."""


def _built(event_type: type[E], defaults: dict[str, Any], changes: dict[str, Any]) -> E:
    """`event_type` of `defaults` (of which it keeps the fields it has) with `changes`."""
    unknown = changes.keys() - event_type.model_fields.keys()
    if unknown:
        raise TypeError(f"{event_type.__name__} has no field {', '.join(sorted(unknown))}")
    return event_type(**(defaults | changes))


def _ids() -> dict[str, Any]:
    """New ids: of a referral, an offer of it, and the organisation and service offered."""
    return {
        "referral_id": uuid4(),
        "offer_id": uuid4(),
        "organization_id": uuid4(),
        "service_id": uuid4(),
    }


def _ids_of(earlier: IntegrationEvent) -> dict[str, Any]:
    """The ids an event that follows `earlier` (about the same offer, say) repeats of it."""
    return {name: value for name, value in earlier.model_dump().items() if name.endswith("_id")}


def _citizen() -> dict[str, Any]:
    """What the referral events tell of the citizen: a pseudonym and coded categories."""
    return {
        "citizen_ref": "cit_0123456789abcdef",
        "age_band": "80-84",
        "district": "Nørrebro",
        "interests": ["walking"],
        "languages": ["da"],
        "needs": [],
    }


def referral_submitted(**changes: Any) -> ReferralSubmitted:
    return _built(ReferralSubmitted, {**_ids(), **_citizen(), "submitted_at": AT}, changes)


def referral_offered(**changes: Any) -> ReferralOffered:
    defaults = {
        **_ids(),
        **_citizen(),
        "expires_at": datetime(2026, 11, 25, 12, 0, tzinfo=UTC),
    }
    return _built(ReferralOffered, defaults, changes)


def offer_withdrawn(offer: ReferralOffered | None = None, **changes: Any) -> OfferWithdrawn:
    """`offer` (a new one, if none) taken back because the referral was cancelled."""
    defaults = {
        **_ids_of(offer or referral_offered()),
        "reason": "cancelled",
        "withdrawn_at": datetime(2026, 11, 23, 8, 15, tzinfo=UTC),
    }
    return _built(OfferWithdrawn, defaults, changes)


def offer_expired(offer: ReferralOffered | None = None, **changes: Any) -> OfferExpired:
    """`offer` (a new one, if none) lapsed unanswered, at its `expires_at`."""
    offer = offer or referral_offered()
    return _built(OfferExpired, {**_ids_of(offer), "expired_at": offer.expires_at}, changes)


def referral_accepted(**changes: Any) -> ReferralAccepted:
    return _built(ReferralAccepted, {**_ids(), "accepted_at": AT}, changes)


def referral_completed(
    accepted: ReferralAccepted | None = None, **changes: Any
) -> ReferralCompleted:
    """The referral `accepted` (a new one, if none) completed."""
    defaults = {**_ids_of(accepted or referral_accepted()), "completed_at": AT}
    return _built(ReferralCompleted, defaults, changes)


def referral_failed(accepted: ReferralAccepted | None = None, **changes: Any) -> ReferralFailed:
    """The referral `accepted` (a new one, if none) closed as failed."""
    defaults = {**_ids_of(accepted or referral_accepted()), "failed_at": AT}
    return _built(ReferralFailed, defaults, changes)


def referral_cancelled(
    accepted: ReferralAccepted | None = None, **changes: Any
) -> ReferralCancelled:
    """The referral `accepted` cancelled by its care system; without it, one cancelled while
    on offer, which names no organisation."""
    defaults: dict[str, Any] = {"referral_id": uuid4(), "previous_status": "offered"}
    if accepted is not None:
        defaults = {**_ids_of(accepted), "previous_status": "accepted"}
    defaults |= {"cancelled_by": "care_system", "cancelled_at": AT}
    return _built(ReferralCancelled, defaults, changes)


def referral_escalated(**changes: Any) -> ReferralEscalated:
    defaults = {
        **_ids(),
        **_citizen(),
        "reason": "all_declined",
        "escalated_at": datetime(2026, 11, 25, 12, 0, tzinfo=UTC),
    }
    return _built(ReferralEscalated, defaults, changes)


def matches_found(
    referral_id: UUID | None = None, *organizations: UUID, **changes: Any
) -> MatchesFound:
    """Directory's ranked candidates for the referral, one service of each of
    `organizations` (of a new one, if none), best first."""
    matches = [
        Match(
            service_id=uuid4(),
            organization_id=organization,
            service_name=f"Gågruppe {rank}",
            score=10.0 - rank,
            reasons=["interest:walking"],
        )
        for rank, organization in enumerate(organizations or (uuid4(),))
    ]
    defaults = {"referral_id": referral_id or uuid4(), "matches": matches}
    return _built(MatchesFound, defaults, changes)


def no_match_found(**changes: Any) -> NoMatchFound:
    defaults = {"referral_id": uuid4(), "reason": "None of the services fits."}
    return _built(NoMatchFound, defaults, changes)


def service_changed(**changes: Any) -> ServiceChanged:
    """An active service with free places."""
    defaults = {
        "service_id": uuid4(),
        "organization_id": uuid4(),
        "name": "Gågruppe",
        "status": "active",
        "capacity": 10,
        "free_places": 3,
        "changed_at": AT,
    }
    return _built(ServiceChanged, defaults, changes)


def pool_opened(**changes: Any) -> PoolOpened:
    defaults = {
        "pool_id": uuid4(),
        "name": "Nye fællesskaber 2026",
        "budget_dkk": 500_000,
        "opens_on": date(2026, 3, 1),
        "closes_on": date(2026, 4, 30),
        "criteria": "Foreninger der når ensomme ældre.",
    }
    return _built(PoolOpened, defaults, changes)
