"""Reading referrals, as each kind of user may."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from referrals.domain import (
    Actor,
    Party,
    Referral,
)
from referrals.services.common import UnitOfWorkFactory, find
from referrals.store import Change


def get_referral(referral_id: UUID, actor: Actor, start_uow: UnitOfWorkFactory) -> Referral:
    with start_uow() as uow:
        return find(uow, referral_id, actor)


def partner_referrals(
    actor: Actor, status: str | None, offset: int, limit: int, start_uow: UnitOfWorkFactory
) -> tuple[list[Referral], int]:
    """The referrals ever offered to the actor's organisation, newest offer first."""
    if actor.organization_id is None:
        raise ValueError("only a partner has an organisation")
    with start_uow() as uow:
        return uow.referrals.offered_to(actor.organization_id, status, offset, limit)


def escalations(
    district: str | None, offset: int, limit: int, start_uow: UnitOfWorkFactory
) -> tuple[list[Referral], int]:
    """Escalated referrals, the longest waiting first."""
    with start_uow() as uow:
        return uow.referrals.escalated(district, offset, limit)


def changes(actor: Actor, after: int, limit: int, start_uow: UnitOfWorkFactory) -> list[Change]:
    """The changes after `after`: a care system's of its own referrals, an operator's of
    all; in the order they were committed."""
    care_system = actor.subject if actor.party is Party.CARE_SYSTEM else None
    with start_uow() as uow:
        return uow.referrals.changes(care_system, after, limit)


def updated_after(
    actor: Actor, after: datetime, limit: int, start_uow: UnitOfWorkFactory
) -> list[Referral]:
    """Referrals changed after `after`, the least recent first: a care system's own, an
    operator's all."""
    care_system = actor.subject if actor.party is Party.CARE_SYSTEM else None
    with start_uow() as uow:
        return uow.referrals.updated_after(care_system, after, limit)
