"""Thin subscribers: turn consumed events into service-layer calls."""

from __future__ import annotations

from datetime import timedelta

from contracts import MatchesFound, NoMatchFound, ServiceChanged
from referrals import services
from runtime.clock import Clock
from runtime.consumer import Handler


def handlers(offer_ttl: timedelta, clock: Clock) -> dict[type, Handler]:
    def on_matches_found(event: MatchesFound, uow: services.UnitOfWork) -> None:
        services.offer_to_candidates(event, uow, offer_ttl, clock)

    def on_no_match_found(event: NoMatchFound, uow: services.UnitOfWork) -> None:
        services.escalate_unmatched(event, uow, clock)

    return {
        MatchesFound: on_matches_found,
        NoMatchFound: on_no_match_found,
        ServiceChanged: services.learn_service,
    }
