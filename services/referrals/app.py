"""The referrals process: `uvicorn --factory referrals.app:create_app`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from referrals import api, consumers, events, services
from referrals.config import Settings
from referrals.privacy import IdentityVault
from referrals.store import ReferralsUnitOfWork
from runtime.clock import Clock, utcnow
from runtime.scheduler import run_timers
from runtime.service import ServiceRuntime

MIGRATIONS = Path(__file__).parent / "migrations"
TIMER_BATCH = 100


def create_app(settings: Settings | None = None, clock: Clock = utcnow) -> FastAPI:
    settings = settings or Settings()  # read from the environment
    service = ServiceRuntime(settings, migrations_dir=MIGRATIONS, publishes=events.PUBLISHES)
    start_uow = service.uow_factory(ReferralsUnitOfWork)
    lifecycle = services.Lifecycle(start_uow, timedelta(hours=settings.offer_ttl_hours), clock)
    service.consume(consumers.handlers(lifecycle.offer_ttl, clock), start_uow)

    async def fire_timers() -> None:
        await run_timers(
            lambda: services.fire_due_timers(lifecycle, TIMER_BATCH),
            poll_seconds=settings.timer_poll_seconds,
            batch=TIMER_BATCH,
        )

    service.run_in_background(fire_timers)
    app = service.create_app(
        *api.routers,
        description="Referrals of lonely older citizens from home care to communities: "
        "care systems submit and follow them, partners answer offers and report progress, "
        "operators step in when nothing fits.",
    )
    app.state.start_uow = start_uow
    app.state.lifecycle = lifecycle
    app.state.vault = IdentityVault(
        settings.identity_key.get_secret_value(), settings.pseudonym_key.get_secret_value()
    )
    return app
