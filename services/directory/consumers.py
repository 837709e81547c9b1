"""Thin subscribers: turn consumed events into service-layer calls."""

from __future__ import annotations

from contracts import ReferralSubmitted
from directory import services
from runtime.consumer import Handler


def handlers() -> dict[type, Handler]:
    return {ReferralSubmitted: services.match_referral}
