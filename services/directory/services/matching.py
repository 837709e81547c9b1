"""Matching a submitted referral to the services that fit it best."""

from __future__ import annotations

from dataclasses import replace

from contracts import ReferralSubmitted
from directory import events
from directory.domain import DEFAULT_WEIGHTS, Ranking, TimeOfDay, Weights, rank
from directory.services.common import UnitOfWork


def match_referral(
    event: ReferralSubmitted, uow: UnitOfWork, max_matches: int, weights: Weights = DEFAULT_WEIGHTS
) -> None:
    """Rank the services that fit a submitted referral, each criterion weighed by
    `weights`, and tell referrals the best `max_matches`, or why nothing fits.

    One commit per event: the consumer's inbox row commits with the published event, so a
    redelivered referral publishes nothing again.
    """
    referral = replace(
        events.referral_from(event),
        preferred_times=frozenset(TimeOfDay(t) for t in event.preferred_times),
    )
    # The store finds the few services that rank best among up to 100,000, in SQL; the
    # domain ranks those few and gives the reasons, so the rules stay in one place.
    best = uow.services.best_fits(referral, max_matches=max_matches, weights=weights)
    ranking = rank(referral, best, max_matches=max_matches, weights=weights)
    if ranking.matches:
        uow.publish(events.matches_found(event.referral_id, ranking.matches))
    else:
        # Counted only when nothing fits: the one answer that reports them.
        excluded = Ranking([], uow.services.exclusions(referral))
        uow.publish(events.no_match_found(event.referral_id, excluded.no_match_reason()))
        uow.unmet_referrals.add(events.unmet_referral(event))
    uow.commit()
