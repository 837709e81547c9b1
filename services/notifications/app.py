"""The notifications process: `uvicorn --factory notifications.app:create_app`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from notifications import api, consumers, events, services
from notifications.config import Settings
from notifications.dispatcher import WebhookDispatcher
from notifications.domain import RetryPolicy
from notifications.sealing import SecretBox
from notifications.store import NotificationsUnitOfWork
from runtime.logs import get_logger
from runtime.service import ServiceRuntime

MIGRATIONS = Path(__file__).parent / "migrations"

log = get_logger(component="notifications")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()  # read from the environment
    service = ServiceRuntime(settings, migrations_dir=MIGRATIONS, publishes=events.PUBLISHES)
    start_uow = service.uow_factory(NotificationsUnitOfWork)
    service.consume(consumers.handlers(settings.language), start_uow)
    secret_box = SecretBox.parse(settings.webhook_secret_keys.get_secret_value())

    def seal_legacy_secrets() -> None:
        sealed = services.seal_legacy_secrets(start_uow, secret_box)
        if sealed:
            log.info("webhooks.legacy_secrets_sealed", endpoints=sealed)

    service.on_startup(seal_legacy_secrets)
    dispatcher = WebhookDispatcher(
        start_uow,
        policy=RetryPolicy(
            max_attempts=settings.webhook_max_attempts,
            first_delay=timedelta(seconds=settings.webhook_first_retry_seconds),
        ),
        poll_seconds=settings.dispatcher_poll_seconds,
        timeout_seconds=settings.webhook_timeout_seconds,
        allow_private_targets=settings.allow_private_webhook_targets,
        box=secret_box,
    )
    service.run_in_background(dispatcher.run)
    app = service.create_app(
        *api.routers,
        description="Inbox messages and signed webhooks to partners, and their delivery status.",
    )
    app.state.start_uow = start_uow
    app.state.allow_private_webhook_targets = settings.allow_private_webhook_targets
    app.state.secret_box = secret_box
    app.state.webhook_secret_overlap_hours = settings.webhook_secret_overlap_hours
    app.state.language = settings.language
    return app
