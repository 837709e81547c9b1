"""What every use case of referrals shares: the unit of work it commits through, the
refusals, and loading, changing and auditing a referral."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID

from referrals.domain import (
    Actor,
    FollowUpPlan,
    Referral,
)
from referrals.store import (
    CitizenRepository,
    ConcurrentUpdate,
    OutcomeReports,
    ReferralRepository,
    ServiceBook,
    TimerRepository,
)
from runtime.audit import AuditEntry
from runtime.clock import Clock, utcnow
from runtime.idempotency import KeyStore


class UnitOfWork(KeyStore, Protocol):
    @property
    def referrals(self) -> ReferralRepository: ...

    @property
    def citizens(self) -> CitizenRepository: ...

    @property
    def services(self) -> ServiceBook: ...

    @property
    def timers(self) -> TimerRepository: ...

    @property
    def reports(self) -> OutcomeReports: ...

    def audit(self, entry: AuditEntry) -> None:
        """Append to the audit log, in this transaction; last before `commit`."""
        ...

    def commit(self) -> None: ...


UnitOfWorkFactory = Callable[[], AbstractContextManager[UnitOfWork]]

MAX_TRIES = 3
"""How often a change that lost a race with another writer of the same referral is redone."""


class ReferralNotFound(Exception):
    """No such referral, or not one this actor may see."""


class ReferralErased(Exception):
    """The referral was erased with its citizen's data; this actor knew of it."""


@dataclass(frozen=True)
class Lifecycle:
    """What every change of a referral needs besides the change itself."""

    start_uow: UnitOfWorkFactory
    offer_ttl: timedelta
    clock: Clock = utcnow
    follow_ups: FollowUpPlan = field(default_factory=FollowUpPlan)


def change(
    referral_id: UUID,
    actor: Actor,
    lifecycle: Lifecycle,
    change: Callable[[Referral, UnitOfWork, datetime], None],
    *,
    audit: tuple[str, str, tuple[str, ...]] | None = None,
) -> Referral:
    """Load the referral the actor may see, apply `change`, store it (with the audit entry
    (action, purpose, fields) of the change, if it is audited) and commit; redone from the
    start when another writer changed the referral meanwhile."""
    attempt = 1
    while True:
        with lifecycle.start_uow() as uow:
            referral = find(uow, referral_id, actor, for_update=True)
            now = lifecycle.clock()
            change(referral, uow, now)
            try:
                uow.referrals.save(referral)
                if audit is not None:
                    write_audit(uow, actor, now, referral.id, *audit)
                uow.commit()
            except ConcurrentUpdate:
                if attempt >= MAX_TRIES:
                    raise
                attempt += 1
                continue
            return referral


def find(uow: UnitOfWork, referral_id: UUID, actor: Actor, *, for_update: bool = False) -> Referral:
    """The referral if `actor` may know it exists (partners what was offered to their
    organisation, care systems what they submitted, operators everything); `ReferralErased`
    if it was erased and the actor knew of it, `ReferralNotFound` otherwise."""
    referral = uow.referrals.get(referral_id, for_update=for_update)
    if referral is not None and referral.visible_to(actor):
        return referral
    if referral is None:
        erased = uow.referrals.erased(referral_id)
        if erased is not None and erased.visible_to(actor):
            raise ReferralErased(f"referral {referral_id} was erased")
    raise ReferralNotFound(f"no referral {referral_id}")


def load(uow: UnitOfWork, referral_id: UUID, *, for_update: bool = False) -> Referral:
    referral = uow.referrals.get(referral_id, for_update=for_update)
    if referral is None:
        raise ReferralNotFound(f"no referral {referral_id}")
    return referral


def write_audit(
    uow: UnitOfWork,
    actor: Actor,
    at: datetime,
    referral_id: UUID | None,
    action: str,
    purpose: str,
    fields: tuple[str, ...],
) -> None:
    """The audit entry of what `actor` did, in the transaction it is part of."""
    uow.audit(
        AuditEntry(
            at=at,
            subject=actor.subject,
            role=actor.party.value,
            organization_id=actor.organization_id,
            action=action,
            referral_id=referral_id,
            fields=fields,
            purpose=purpose,
        )
    )
