"""Thin subscribers: turn consumed events into service-layer calls."""

from __future__ import annotations

from datetime import timedelta

from contracts import MatchesFound, NoMatchFound
from referrals import services
from runtime.consumer import Handler


def handlers(offer_ttl: timedelta) -> dict[type, Handler]:
    def on_matches_found(event: MatchesFound, uow: services.UnitOfWork) -> None:
        services.offer_to_best_match(event, uow, offer_ttl)

    return {MatchesFound: on_matches_found, NoMatchFound: services.mark_unmatched}
