"""The referrals process: `uvicorn --factory referrals.app:create_app`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from referrals import api, consumers, events
from referrals.config import Settings
from referrals.privacy import IdentityVault
from referrals.store import ReferralsUnitOfWork
from runtime.service import ServiceRuntime

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()  # read from the environment
    service = ServiceRuntime(settings, migrations_dir=MIGRATIONS, publishes=events.PUBLISHES)
    start_uow = service.uow_factory(ReferralsUnitOfWork)
    service.consume(consumers.handlers(timedelta(hours=settings.offer_ttl_hours)), start_uow)
    app = service.create_app(
        api.router,
        description="Referrals of lonely older citizens from home care to communities.",
    )
    app.state.start_uow = start_uow
    app.state.vault = IdentityVault(
        settings.identity_key.get_secret_value(), settings.pseudonym_key.get_secret_value()
    )
    return app
