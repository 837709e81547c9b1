"""Thin subscribers: turn consumed events into service-layer calls."""

from __future__ import annotations

from contracts import NoMatchFound, ReferralErased, ReferralEscalated, ReferralSubmitted
from grants import services
from runtime.consumer import Handler


def handlers() -> dict[type, Handler]:
    return {
        ReferralSubmitted: services.keep_referral,
        NoMatchFound: services.count_no_match,
        ReferralEscalated: services.count_escalation,
        ReferralErased: services.forget_referral,
    }
