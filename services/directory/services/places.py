"""The places accepted referrals take and give back, and what directory keeps of referrals
that went unmet."""

from __future__ import annotations

from uuid import UUID

from contracts import ReferralAccepted, ReferralErased, ReferralEscalated
from directory import events
from directory.reports import Period, UnmetNeed
from directory.services.common import Clock, ReferralEnded, UnitOfWork, UnitOfWorkFactory
from directory.services.writing import free_places_changed
from runtime.logs import get_logger
from runtime.storage import utcnow

log = get_logger(component="places")


def take_place(event: ReferralAccepted, uow: UnitOfWork, clock: Clock = utcnow) -> None:
    """An accepted referral takes one free place of its service, and holds it until the
    referral ends. A service with no free place stays at none, and nothing is held."""
    if uow.place_holds.held_by(event.referral_id) is not None:
        # One place per referral, even if its acceptance arrives twice under two ids.
        log.info("place.already_held")
    elif _locked(uow, event.service_id) and uow.services.take_place(event.service_id):
        uow.place_holds.add(event.referral_id, event.service_id)
        free_places_changed(uow, event.service_id, clock())
    elif uow.services.get(event.service_id) is None:
        log.info("place.unknown_service")
    else:
        log.info("place.none_free")
    uow.commit()


def give_place_back(event: ReferralEnded, uow: UnitOfWork, clock: Clock = utcnow) -> None:
    """A referral that ended frees the place it held, if it held one (it may have ended
    before it was accepted). Never more free places than the capacity."""
    if not _release_place(event.referral_id, uow, clock):
        log.info("place.none_held")
    uow.commit()


def forget_referral(event: ReferralErased, uow: UnitOfWork, clock: Clock = utcnow) -> None:
    """An erased referral leaves nothing here: its place hold goes. It should hold none
    (referrals cancels a referral before erasing it, and the cancellation gave the place
    back), but if it still does, the place is given back first."""
    if _release_place(event.referral_id, uow, clock):
        log.warning("place.held_at_erasure")
    uow.unmet_referrals.forget(event.referral_id)
    uow.commit()


def count_escalation(event: ReferralEscalated, uow: UnitOfWork) -> None:
    """An escalated referral counts as unmet need, once: one that found no match is
    escalated for it, and stays counted as it first went unmet."""
    uow.unmet_referrals.add(events.unmet_referral(event))
    uow.commit()


def unmet_need(
    period: Period, offset: int, limit: int, start_uow: UnitOfWorkFactory
) -> tuple[list[UnmetNeed], int]:
    """The referrals that went unmet in the period by district, target group and interest,
    most first: one page, and how many groups in all."""
    with start_uow() as uow:
        return uow.unmet_referrals.report(period, offset, limit)


def _release_place(referral_id: UUID, uow: UnitOfWork, clock: Clock) -> bool:
    """Drop the referral's place hold and free its place; False if it held none."""
    service_id = uow.place_holds.release(referral_id)
    if service_id is None:
        return False
    if _locked(uow, service_id) and uow.services.give_place_back(service_id):
        free_places_changed(uow, service_id, clock())
    else:
        log.info("place.all_free_already")
    return True


def _locked(uow: UnitOfWork, service_id: UUID) -> bool:
    """Lock the service's record, as an edit of it does first, so that the two take their
    locks in one order (else PostgreSQL finds a deadlock) and an edit that read the free
    places waits for this change of them (else SQLite would lose it); whether it is there."""
    return uow.records.lock("service", str(service_id)) is not None
