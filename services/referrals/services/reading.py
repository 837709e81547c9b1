"""Reading referrals, as each kind of user may."""

from __future__ import annotations

from uuid import UUID

from referrals.domain import (
    Actor,
    Referral,
)
from referrals.services.common import UnitOfWorkFactory, find


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
