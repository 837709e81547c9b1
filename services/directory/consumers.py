"""Thin subscribers: turn consumed events into service-layer calls."""

from __future__ import annotations

from contracts import (
    ReferralAccepted,
    ReferralCancelled,
    ReferralCompleted,
    ReferralErased,
    ReferralEscalated,
    ReferralFailed,
    ReferralSubmitted,
)
from directory import services
from directory.domain import DEFAULT_WEIGHTS, Weights
from runtime.consumer import Handler
from runtime.storage import utcnow


def handlers(
    max_matches: int, weights: Weights = DEFAULT_WEIGHTS, clock: services.Clock = utcnow
) -> dict[type, Handler]:
    def on_referral_submitted(event: ReferralSubmitted, uow: services.UnitOfWork) -> None:
        services.match_referral(event, uow, max_matches, weights)

    def on_referral_accepted(event: ReferralAccepted, uow: services.UnitOfWork) -> None:
        services.take_place(event, uow, clock)

    def on_referral_ended(event: services.ReferralEnded, uow: services.UnitOfWork) -> None:
        services.give_place_back(event, uow, clock)

    def on_referral_erased(event: ReferralErased, uow: services.UnitOfWork) -> None:
        services.forget_referral(event, uow, clock)

    def on_referral_escalated(event: ReferralEscalated, uow: services.UnitOfWork) -> None:
        services.count_escalation(event, uow)

    return {
        ReferralSubmitted: on_referral_submitted,
        ReferralAccepted: on_referral_accepted,
        ReferralCompleted: on_referral_ended,
        ReferralFailed: on_referral_ended,
        ReferralCancelled: on_referral_ended,
        ReferralErased: on_referral_erased,
        ReferralEscalated: on_referral_escalated,
    }
