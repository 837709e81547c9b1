"""The notifications process: `uvicorn --factory notifications.app:create_app`."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from pathlib import Path

from fastapi import FastAPI

from contracts.partners import partner_of
from notifications import api, consumers, events, sending, services
from notifications.channels.email import SmtpEmailSender, SmtpSettings
from notifications.channels.sms import SmsSettings, sms_gateway
from notifications.config import Settings
from notifications.dispatcher import Dispatcher, Senders
from notifications.domain import RetryPolicy
from notifications.sealing import SecretBox
from notifications.store import NotificationsUnitOfWork
from runtime.clock import Clock, running_fast, utcnow
from runtime.logs import get_logger
from runtime.partner_feeds import BrokerTopics, PartnerFeeds
from runtime.service import ServiceRuntime

MIGRATIONS = Path(__file__).parent / "migrations"

log = get_logger(component="notifications")


def create_app(
    settings: Settings | None = None,
    clock: Clock = utcnow,
    partner_feeds: PartnerFeeds | None = None,
) -> FastAPI:
    """`partner_feeds`: which partners read Kafka; by default, asked of the broker."""
    settings = settings or Settings()  # read from the environment
    if settings.clock_speed != 1:
        get_logger(component="clock").warning(
            "clock.running_fast",
            speed=settings.clock_speed,
            detail="NOTIFICATIONS_CLOCK_SPEED is set: quiet hours, digests and retries come "
            "that many times sooner; for demonstrations and tests only",
        )
        clock = running_fast(settings.clock_speed, clock)
    service = ServiceRuntime(
        settings,
        migrations_dir=MIGRATIONS,
        publishes=events.PUBLISHES,
        forwards_to_partners=events.FORWARDS_TO_PARTNERS,
        # A partner's topic that is gone, or no longer ours to write, gets nothing more.
        discardable=lambda topic: partner_of(topic) is not None,
    )
    feeds = partner_feeds or _partner_feeds_of_the_broker(service, settings)
    start_uow = service.uow_factory(partial(NotificationsUnitOfWork, partner_feeds=feeds))
    service.consume(consumers.handlers(settings.language, clock), start_uow)
    box = SecretBox.parse(settings.webhook_secret_keys.get_secret_value())

    def seal_legacy_secrets() -> None:
        sealed = services.seal_legacy_secrets(start_uow, box)
        if sealed:
            log.info("webhooks.legacy_secrets_sealed", endpoints=sealed)

    service.on_startup(seal_legacy_secrets)
    dispatcher = Dispatcher(
        start_uow,
        _senders(settings, box),
        policy=RetryPolicy(
            max_attempts=settings.delivery_max_attempts,
            first_delay=timedelta(seconds=settings.retry_first_seconds),
            max_delay=timedelta(seconds=settings.retry_max_seconds),
            jitter=settings.retry_jitter,
        ),
        links=sending.Links(settings.app_url),
        language=settings.language,
        disable_webhooks_after=timedelta(hours=settings.webhook_disable_after_hours),
        poll_seconds=settings.dispatcher_poll_seconds,
        timeout_seconds=settings.webhook_timeout_seconds,
        allow_private_targets=settings.allow_private_webhook_targets,
        clock=clock,
        clock_speed=settings.clock_speed,
    )
    service.run_in_background(dispatcher.run)
    app = service.create_app(
        *api.routers,
        description="Inbox messages, e-mails, SMS and signed webhooks to partners, volunteers, "
        "operators and care systems, and their delivery status.",
    )
    app.state.start_uow = start_uow
    app.state.allow_private_webhook_targets = settings.allow_private_webhook_targets
    app.state.secret_box = box
    app.state.webhook_secret_overlap_hours = settings.webhook_secret_overlap_hours
    app.state.language = settings.language
    return app


def _partner_feeds_of_the_broker(service: ServiceRuntime, settings: Settings) -> PartnerFeeds:
    """The partners reading Kafka as the broker lists their topics, kept up to date for the
    life of the process."""
    topics = BrokerTopics(
        settings.kafka_bootstrap_servers,
        settings.kafka_login(),
        client_id=f"brobygger-{settings.service_name}-partner-feeds",
    )
    feeds = PartnerFeeds(topics, refresh_seconds=settings.partner_feeds_refresh_seconds)

    async def keep_partner_feeds() -> None:
        try:
            await feeds.run()
        finally:
            await topics.close()

    service.run_in_background(keep_partner_feeds)
    return feeds


def _senders(settings: Settings, box: SecretBox) -> Senders:
    email = None
    if settings.smtp_host:
        email = SmtpEmailSender(
            SmtpSettings(
                host=settings.smtp_host,
                port=settings.smtp_port,
                sender=settings.smtp_sender,
                username=settings.smtp_username,
                password=settings.smtp_password,
            )
        )
    sms = sms_gateway(
        SmsSettings(
            provider=settings.sms_provider,
            base_url=settings.sms_base_url,
            token=settings.sms_token.get_secret_value(),
            sender=settings.sms_sender,
        )
    )
    return Senders(box=box, email=email, sms=sms)
