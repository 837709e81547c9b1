"""Where the need is: one consumed event each, one commit each."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from uuid import UUID

from contracts import (
    NoMatchFound,
    ReferralErased,
    ReferralEscalated,
    ReferralSubmitted,
)
from grants.domain import need
from grants.domain.need import ReferralNeed, UnmetNeed
from grants.services.common import (
    UnitOfWork,
    UnitOfWorkFactory,
)


def keep_referral(event: ReferralSubmitted, uow: UnitOfWork) -> None:
    """Keep what places a submitted referral, in case nothing fits it; if its no-match
    came first, it counts from now."""
    _change(
        uow,
        event.referral_id,
        lambda referral: referral.submitted(event.district, event.needs, event.submitted_at),
    )


def count_no_match(event: NoMatchFound, uow: UnitOfWork) -> None:
    """Nothing fits the referral: it counts as unmet at its submission, once that is known."""
    _change(uow, event.referral_id, ReferralNeed.found_no_match)


def count_escalation(event: ReferralEscalated, uow: UnitOfWork) -> None:
    """An escalated referral counts as unmet, once: one nothing fits stays counted as of
    its submission."""
    _change(
        uow,
        event.referral_id,
        lambda referral: referral.escalated(event.district, event.needs, event.escalated_at),
    )


def forget_referral(event: ReferralErased, uow: UnitOfWork) -> None:
    """An erased referral leaves nothing here, and no longer counts."""
    uow.referral_needs.forget(event.referral_id)
    uow.commit()


def unmet_need(
    target_groups: Iterable[str], today: date, start_uow: UnitOfWorkFactory
) -> UnmetNeed:
    """The referrals that went unmet in the 12 months up to `today`, by district: those in
    one of `target_groups`, or all when there are none."""
    since, until = need.last_twelve_months(today)
    with start_uow() as uow:
        by_district = uow.referral_needs.unmet_by_district(since, until, frozenset(target_groups))
    return UnmetNeed(since, until, by_district)


def _change(uow: UnitOfWork, referral_id: UUID, change: Callable[[ReferralNeed], None]) -> None:
    referral = uow.referral_needs.get(referral_id) or ReferralNeed(referral_id)
    change(referral)
    uow.referral_needs.save(referral)
    uow.commit()
