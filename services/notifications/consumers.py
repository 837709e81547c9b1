"""Thin subscribers: turn consumed events into service-layer calls."""

from __future__ import annotations

from contracts import PoolOpened, ReferralOffered
from notifications import services
from notifications.domain import Language
from runtime.consumer import Handler


def handlers(language: Language) -> dict[type, Handler]:
    def on_referral_offered(event: ReferralOffered, uow: services.UnitOfWork) -> None:
        services.notify_referral_offered(event, uow, language)

    def on_pool_opened(event: PoolOpened, uow: services.UnitOfWork) -> None:
        services.announce_pool(event, uow, language)

    return {ReferralOffered: on_referral_offered, PoolOpened: on_pool_opened}
