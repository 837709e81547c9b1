"""Each step of a referral's life: the partner's answers, care systems and operators,
and the service's own clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from referrals.domain import (
    Accompaniment,
    Actor,
    CancelReason,
    DeclineReason,
    FailReason,
    HoldReason,
    Referral,
)
from referrals.services.common import Lifecycle, UnitOfWork, change, load


def accept_offer(referral_id: UUID, actor: Actor, lifecycle: Lifecycle) -> Referral:
    return change(referral_id, actor, lifecycle, lambda r, _uow, now: r.accept(actor, now))


@dataclass(frozen=True)
class DeclineOffer:
    reason: DeclineReason
    text: str | None = None


def decline_offer(
    referral_id: UUID, command: DeclineOffer, actor: Actor, lifecycle: Lifecycle
) -> Referral:
    def decline(referral: Referral, uow: UnitOfWork, now: datetime) -> None:
        known = uow.services.get_many({c.service_id for c in referral.candidates})
        referral.decline(actor, command.reason, command.text, known, now, lifecycle.offer_ttl)

    return change(referral_id, actor, lifecycle, decline)


@dataclass(frozen=True)
class NameVolunteer:
    volunteer_id: UUID


def name_volunteer(
    referral_id: UUID, command: NameVolunteer, actor: Actor, lifecycle: Lifecycle
) -> Referral:
    return change(
        referral_id,
        actor,
        lifecycle,
        lambda r, _uow, now: r.name_volunteer(actor, command.volunteer_id, now),
    )


def record_contact(referral_id: UUID, on: date, actor: Actor, lifecycle: Lifecycle) -> Referral:
    return change(
        referral_id, actor, lifecycle, lambda r, _uow, now: r.record_contact(actor, on, now)
    )


@dataclass(frozen=True)
class RecordFirstMeeting:
    on: date
    accompanied_by: Accompaniment


def record_first_meeting(
    referral_id: UUID, command: RecordFirstMeeting, actor: Actor, lifecycle: Lifecycle
) -> Referral:
    return change(
        referral_id,
        actor,
        lifecycle,
        lambda r, _uow, now: r.record_first_meeting(
            actor, command.on, command.accompanied_by, now, lifecycle.follow_ups
        ),
    )


@dataclass(frozen=True)
class PutOnHold:
    reason: HoldReason
    text: str | None = None


def put_on_hold(
    referral_id: UUID, command: PutOnHold, actor: Actor, lifecycle: Lifecycle
) -> Referral:
    return change(
        referral_id,
        actor,
        lifecycle,
        lambda r, _uow, now: r.put_on_hold(actor, command.reason, command.text, now),
    )


def resume(referral_id: UUID, actor: Actor, lifecycle: Lifecycle) -> Referral:
    return change(referral_id, actor, lifecycle, lambda r, _uow, now: r.resume(actor, now))


def complete(referral_id: UUID, note: str | None, actor: Actor, lifecycle: Lifecycle) -> Referral:
    return change(referral_id, actor, lifecycle, lambda r, _uow, now: r.complete(actor, note, now))


@dataclass(frozen=True)
class FailReferral:
    reason: FailReason
    text: str | None = None


def fail(referral_id: UUID, command: FailReferral, actor: Actor, lifecycle: Lifecycle) -> Referral:
    return change(
        referral_id,
        actor,
        lifecycle,
        lambda r, _uow, now: r.fail(actor, command.reason, command.text, now),
    )


@dataclass(frozen=True)
class CancelReferral:
    reason: CancelReason
    text: str | None = None


def cancel(
    referral_id: UUID, command: CancelReferral, actor: Actor, lifecycle: Lifecycle
) -> Referral:
    return change(
        referral_id,
        actor,
        lifecycle,
        lambda r, _uow, now: r.cancel(actor, command.reason, command.text, now),
    )


@dataclass(frozen=True)
class AssignReferral:
    service_id: UUID
    text: str | None = None


def assign(
    referral_id: UUID, command: AssignReferral, actor: Actor, lifecycle: Lifecycle
) -> Referral:
    """Raises `InvalidAnswer` for a service directory never announced or has closed."""

    def assign_to(referral: Referral, uow: UnitOfWork, now: datetime) -> None:
        known = uow.services.get_many({command.service_id}).get(command.service_id)
        service = known or command.service_id
        referral.assign(actor, service, command.text, now, lifecycle.offer_ttl)

    return change(referral_id, actor, lifecycle, assign_to)


def fire_due_timers(lifecycle: Lifecycle, limit: int = 100) -> int:
    """Act on every deadline that has passed: an offer not answered in time moves on as
    after a decline; a follow-up falls due, or is reminded or escalated while unanswered.
    Each timer fires in its own transaction together with the change it causes, claimed so
    that with several replicas exactly one fires it. Returns how many fired."""
    fired = 0
    for _ in range(limit):
        with lifecycle.start_uow() as uow:
            now = lifecycle.clock()
            timer = uow.timers.claim_due(now)
            if timer is None:
                break
            if not uow.timers.remove(timer):
                continue  # another scheduler fired it between the claim and now
            referral = load(uow, timer.referral_id, for_update=True)
            known = uow.services.get_many({c.service_id for c in referral.candidates})
            referral.act_on(timer.kind, timer.key, known, now, lifecycle.offer_ttl)
            uow.referrals.save(referral)
            uow.commit()
            fired += 1
    return fired
