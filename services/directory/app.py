"""The directory process: `uvicorn --factory directory.app:create_app`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI

from directory import api, consumers, events, services
from directory.config import Settings
from directory.hsds import openapi as hsds_openapi
from directory.store import DirectoryUnitOfWork
from runtime.logs import get_logger
from runtime.service import ServiceRuntime

MIGRATIONS = Path(__file__).parent / "migrations"

log = get_logger(component="startup")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()  # read from the environment
    service = ServiceRuntime(settings, migrations_dir=MIGRATIONS, publishes=events.PUBLISHES)
    start_uow = service.uow_factory(DirectoryUnitOfWork)
    service.consume(consumers.handlers(settings.max_matches, settings.weights()), start_uow)

    def keep_vocabulary() -> None:
        log.info("vocabulary.kept", records_written=services.keep_vocabulary(start_uow))

    service.on_startup(keep_vocabulary)
    if settings.seed_demo:

        def seed_demo() -> None:
            seeded = services.seed_demo(start_uow)
            log.info("demo.seeded" if seeded else "demo.not_seeded_directory_has_data")

        service.on_startup(seed_demo)
    app = service.create_app(
        api.router,
        description="The city's overview of communities (Open Referral HSDS 3.0), "
        "and the matching of referrals to them.",
    )
    app.state.start_uow = start_uow
    _describe_hsds(app)
    return app


def _describe_hsds(app: FastAPI) -> None:
    """The OpenAPI document names HSDS's schemas as components (`HSDSService`…)."""
    complete = app.openapi

    def openapi() -> dict[str, Any]:
        document = complete()
        hsds_openapi.install(document)
        return document

    app.openapi = openapi  # type: ignore[method-assign]
