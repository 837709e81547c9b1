"""Directory's answers: candidates, no match, and the services it announces."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from contracts import MatchesFound, NoMatchFound, ServiceChanged
from referrals.domain import (
    Candidate,
    KnownService,
    Referral,
)
from referrals.services.common import ReferralNotFound, UnitOfWork
from runtime.clock import Clock, utcnow


def offer_to_candidates(
    event: MatchesFound, uow: UnitOfWork, offer_ttl: timedelta, clock: Clock = utcnow
) -> None:
    """Directory ranked candidates: keep them and offer the first one available."""
    referral = _unless_erased(uow, event.referral_id)
    if referral is None:
        return
    candidates = [
        Candidate(m.service_id, m.organization_id, m.score, list(m.reasons)) for m in event.matches
    ]
    known = uow.services.get_many({c.service_id for c in candidates})
    referral.receive_candidates(candidates, known, clock(), offer_ttl)
    uow.referrals.save(referral)
    uow.commit()


def escalate_unmatched(event: NoMatchFound, uow: UnitOfWork, clock: Clock = utcnow) -> None:
    """Nothing fits: the referral waits for an operator."""
    referral = _unless_erased(uow, event.referral_id)
    if referral is None:
        return
    referral.no_match(clock())
    uow.referrals.save(referral)
    uow.commit()


def _unless_erased(uow: UnitOfWork, referral_id: UUID) -> Referral | None:
    """The referral, locked; None (the event taken as handled) if it was erased before
    directory's answer arrived."""
    referral = uow.referrals.get(referral_id, for_update=True)
    if referral is not None:
        return referral
    if uow.referrals.erased(referral_id) is None:
        raise ReferralNotFound(f"no referral {referral_id}")
    uow.commit()
    return None


def learn_service(event: ServiceChanged, uow: UnitOfWork) -> None:
    """Remember who runs a service and whether it takes referrals, as directory says."""
    uow.services.put(
        KnownService(
            service_id=event.service_id,
            organization_id=event.organization_id,
            active=event.status == "active",
            free_places=event.free_places,
        ),
        changed_at=event.changed_at,
    )
    uow.commit()
