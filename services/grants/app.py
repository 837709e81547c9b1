"""The grants process: `uvicorn --factory grants.app:create_app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from grants import api, consumers, events, services
from grants.config import Settings
from grants.store import GrantsUnitOfWork
from runtime.clock import Clock, starting_at, utcnow
from runtime.logs import get_logger
from runtime.scheduler import run_timers
from runtime.service import ServiceRuntime

MIGRATIONS = Path(__file__).parent / "migrations"
ADVANCE_BATCH = 100

log = get_logger(component="startup")


def create_app(settings: Settings | None = None, clock: Clock = utcnow) -> FastAPI:
    settings = settings or Settings()  # read from the environment
    if settings.clock_starts_at is not None:
        get_logger(component="clock").warning(
            "clock.moved",
            to=settings.clock_starts_at.isoformat(),
            detail="GRANTS_CLOCK_STARTS_AT is set: for demonstrations and tests only",
        )
        clock = starting_at(settings.clock_starts_at, clock)
    service = ServiceRuntime(settings, migrations_dir=MIGRATIONS, publishes=events.PUBLISHES)
    start_uow = service.uow_factory(GrantsUnitOfWork)
    service.consume(consumers.handlers(), start_uow)

    def on_their_days() -> int:
        """Pools open and close, and overdue reports are reminded of, on their days."""
        return services.advance_pools(
            start_uow, clock, ADVANCE_BATCH
        ) + services.remind_of_overdue_reports(start_uow, clock, ADVANCE_BATCH)

    async def keep_days() -> None:
        await run_timers(
            on_their_days, poll_seconds=settings.timer_poll_seconds, batch=ADVANCE_BATCH
        )

    service.run_in_background(keep_days)
    if settings.seed_demo:

        def seed_demo() -> None:
            seeded = services.seed_demo(start_uow)
            log.info("demo.seeded" if seeded else "demo.not_seeded_grants_has_pools")

        service.on_startup(seed_demo)
    app = service.create_app(
        *api.ROUTERS,
        description="Grant pools with a budget, an application window and published criteria.",
    )
    app.state.start_uow = start_uow
    app.state.clock = clock
    app.state.public_url = settings.public_url
    return app
