"""The referrals process: `uvicorn --factory referrals.app:create_app`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from referrals import api, consumers, events, services
from referrals.config import Settings
from referrals.keystore import SqlDataKeyStore
from referrals.privacy import MasterKeys, Vault
from referrals.store import ReferralsUnitOfWork
from runtime.clock import Clock, running_fast, utcnow
from runtime.logs import get_logger
from runtime.scheduler import run_timers
from runtime.service import ServiceRuntime
from runtime.storage import make_engine

MIGRATIONS = Path(__file__).parent / "migrations"
TIMER_BATCH = 100

log = get_logger(component="vault")


def create_app(settings: Settings | None = None, clock: Clock = utcnow) -> FastAPI:
    settings = settings or Settings()  # read from the environment
    if settings.clock_speed != 1:
        get_logger(component="clock").warning(
            "clock.running_fast",
            speed=settings.clock_speed,
            detail="REFERRALS_CLOCK_SPEED is set: deadlines come that many times sooner; "
            "for demonstrations and tests only",
        )
        clock = running_fast(settings.clock_speed, clock)
    service = ServiceRuntime(settings, migrations_dir=MIGRATIONS, publishes=events.PUBLISHES)
    start_uow = service.uow_factory(ReferralsUnitOfWork)
    lifecycle = services.Lifecycle(
        start_uow,
        timedelta(hours=settings.offer_ttl_hours),
        clock,
        settings.follow_up_plan(),
    )
    service.consume(consumers.handlers(lifecycle.offer_ttl, clock), start_uow)
    keys = SqlDataKeyStore(make_engine(settings.effective_keystore_url()))
    service.on_startup(keys.create_table)
    vault = Vault(
        MasterKeys.parse(settings.master_keys.get_secret_value()),
        keys,
        blind_index_key=settings.blind_index_key.get_secret_value().encode(),
        fingerprint_key=settings.fingerprint_key.get_secret_value().encode(),
    )
    if not settings.keystore_url and service.engine.dialect.name != "sqlite":
        log.warning(
            "keystore.local_file",
            detail="REFERRALS_KEYSTORE_URL is not set: citizens' data keys are kept in a "
            "local SQLite file; give them a database of their own in any deployment",
            keystore=settings.effective_keystore_url(),
        )

    def convert_legacy() -> None:
        legacy_key = settings.legacy_identity_key
        if legacy_key is not None:
            done = services.convert_legacy_identities(
                start_uow, vault, legacy_key.get_secret_value(), clock
            )
            log.info("legacy.converted", converted=done.converted, unreadable=done.unreadable)
        waiting = services.legacy_referrals(start_uow)
        if waiting:
            log.warning(
                "legacy.waiting",
                referrals=waiting,
                detail="referrals stored under the legacy identity key cannot be read: set "
                "REFERRALS_LEGACY_IDENTITY_KEY to that key and restart to convert them",
            )

    service.on_startup(convert_legacy)

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
    api.fhir.install(app)  # errors under /fhir/ as OperationOutcome
    app.state.start_uow = start_uow
    app.state.lifecycle = lifecycle
    app.state.vault = vault
    return app
