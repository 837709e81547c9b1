"""The grants process: `uvicorn --factory grants.app:create_app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from grants import api, events
from grants.config import Settings
from grants.store import GrantsUnitOfWork
from runtime.service import ServiceRuntime

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()  # read from the environment
    service = ServiceRuntime(settings, migrations_dir=MIGRATIONS, publishes=events.PUBLISHES)
    # No consumer: grants consumes no events yet (events.CONSUMES is empty).
    app = service.create_app(
        api.router,
        description="Grant pools with a budget, an open window and published criteria.",
    )
    app.state.start_uow = service.uow_factory(GrantsUnitOfWork)
    return app
