"""The grants process: `uvicorn --factory grants.app:create_app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from grants import api, consumers, events
from grants.config import Settings
from grants.store import GrantsUnitOfWork
from runtime.service import ServiceRuntime

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()  # read from the environment
    service = ServiceRuntime(settings, migrations_dir=MIGRATIONS, publishes=events.PUBLISHES)
    start_uow = service.uow_factory(GrantsUnitOfWork)
    service.consume(consumers.handlers(), start_uow)
    app = service.create_app(
        api.router,
        description="Grant pools with a budget, an open window and published criteria, and "
        "where the need is: the referrals no community could take, by district.",
    )
    app.state.start_uow = start_uow
    return app
