"""Sends what is due: webhooks signed per Standard Webhooks, e-mails over SMTP and SMS
through the gateway, retrying each with back-off.

Due deliveries are claimed in one transaction whenever there is room, then each is sent on
its own and its outcome recorded, in a transaction of its own, as soon as it is known (with
`DeliveryRecorded` once the status is final): no transaction is open while an endpoint, a
mail server or a gateway is waited for, and one that hangs until its deadline holds back no
other delivery. A channel with no sender configured keeps its deliveries pending.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from notifications import sending, services
from notifications.channels.email import EmailNotSent, EmailSender
from notifications.channels.sms import SmsGateway, SmsNotSent
from notifications.channels.webhook import Resolve, resolve_host, send_webhook
from notifications.domain import Channel, Language, RetryPolicy
from notifications.sealing import SealingError, SecretBox
from notifications.webhooks import sign
from runtime.logs import get_logger
from runtime.storage import utcnow

log = get_logger(component="dispatcher")


@dataclass(frozen=True)
class Senders:
    """How each channel is sent; None: not configured here."""

    box: SecretBox
    """Opens the webhooks' signing secrets, just before signing."""
    email: EmailSender | None = None
    sms: SmsGateway | None = None
    resolve: Resolve = resolve_host


class Dispatcher:
    def __init__(
        self,
        start_uow: services.UnitOfWorkFactory,
        senders: Senders,
        *,
        policy: RetryPolicy,
        links: sending.Links,
        language: Language,
        disable_webhooks_after: timedelta,
        poll_seconds: float,
        timeout_seconds: float,
        allow_private_targets: bool,
        batch_size: int = 50,
        clock: services.Clock = utcnow,
        clock_speed: float = 1.0,
        max_response_bytes: int = 64 * 1024,
    ) -> None:
        """`timeout_seconds` is each webhook attempt's deadline, from resolving the host to
        the last byte of the answer read, of which at most `max_response_bytes` are.
        `clock_speed`: how many seconds pass on `clock` in one real second (a fast clock's,
        for demonstrations), so that a lease outlasts a real attempt."""
        self._start_uow = start_uow
        self._senders = senders
        self._policy = policy
        self._links = links
        self._language = language
        self._disable_after = disable_webhooks_after
        self._clock = clock
        self._allow_private_targets = allow_private_targets
        self._poll_seconds = poll_seconds
        self._deadline = timeout_seconds
        self._max_response_bytes = max_response_bytes
        # Longer than an attempt can take: its deadline (or the mail server's), then
        # recording its outcome.
        self._lease = timedelta(seconds=(2 * max(timeout_seconds, 30) + 10) * clock_speed)
        self._batch_size = batch_size
        self._channels = [Channel.WEBHOOK]
        if senders.email is not None:
            self._channels.append(Channel.EMAIL)
        if senders.sms is not None:
            self._channels.append(Channel.SMS)

    async def run(self) -> None:
        """Claim what is due whenever there is room, and send each as soon as it is
        claimed: a delivery that falls due while an endpoint is waited for does not wait
        with it. At most `batch_size` are in flight."""
        in_flight: set[asyncio.Task[None]] = set()
        try:
            while True:
                room = self._batch_size - len(in_flight)
                if not room:
                    await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                    continue
                try:
                    attempts = await self._claim(room)
                except Exception as error:
                    log.warning("dispatch.round_failed", error=type(error).__name__)
                    attempts = []
                for attempt in attempts:
                    task = asyncio.create_task(self._deliver(attempt))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                if len(attempts) < room:
                    await asyncio.sleep(self._poll_seconds)
        finally:
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)

    async def dispatch_due(self) -> int:
        """One round: send every due delivery and record its outcome; returns how many
        were attempted."""
        attempts = await self._claim(self._batch_size)
        await asyncio.gather(*(self._deliver(attempt) for attempt in attempts))
        return len(attempts)

    async def _claim(self, limit: int) -> list[sending.Attempt]:
        return await asyncio.to_thread(
            sending.claim_due,
            self._start_uow,
            channels=self._channels,
            links=self._links,
            lease=self._lease,
            limit=limit,
            clock=self._clock,
        )

    async def _deliver(self, attempt: sending.Attempt) -> None:
        """Send one delivery and record its outcome, on its own: another's slowness holds
        back neither. Never raises: an outcome not recorded is logged, and the delivery is
        sent again once its lease ends."""
        error, permanent = await self._send(attempt)
        try:
            delivery = await asyncio.to_thread(
                sending.record_outcome,
                sending.RecordOutcome(attempt.delivery_id, error, permanent),
                self._start_uow,
                self._policy,
                disable_webhooks_after=self._disable_after,
                language=self._language,
                clock=self._clock,
            )
        except Exception as failure:
            # Its type only: a database error's text can quote what was written.
            log.warning(
                "delivery.outcome_not_recorded",
                delivery_id=str(attempt.delivery_id),
                error=type(failure).__name__,
            )
            return
        if delivery is None:
            log.info("delivery.erased_while_sent", delivery_id=str(attempt.delivery_id))
            return
        log.log(
            logging.WARNING if error else logging.INFO,
            "delivery.attempted",
            delivery_id=str(delivery.id),
            channel=delivery.channel.value,
            status=delivery.status.value,
            attempts=delivery.attempts,
            error=error,
        )

    async def _send(self, attempt: sending.Attempt) -> tuple[str | None, bool]:
        """(None, False) when it went; otherwise what went wrong, and whether trying again
        cannot help. The reason names no address: it is logged and recorded."""
        if isinstance(attempt, sending.WebhookAttempt):
            return await self._post(attempt), False
        try:
            if isinstance(attempt, sending.EmailAttempt):
                assert self._senders.email is not None  # claimed only when configured
                await self._senders.email.send(
                    attempt.to,
                    attempt.subject,
                    attempt.text,
                    attempt.html,
                    str(attempt.delivery_id),
                )
            else:
                assert self._senders.sms is not None
                await self._senders.sms.send(attempt.to, attempt.text, str(attempt.delivery_id))
        except (EmailNotSent, SmsNotSent) as failure:
            return failure.reason, failure.permanent
        return None, False

    async def _post(self, attempt: sending.WebhookAttempt) -> str | None:
        """None when the endpoint answered 2xx; otherwise what went wrong."""
        try:
            # Opened here only, for as long as it takes to sign.
            secrets = [
                self._senders.box.open(sealed, attempt.webhook_id)
                for sealed in attempt.sealed_secrets
            ]
        except SealingError as error:
            return f"not signed: {error}"
        message_id = str(attempt.delivery_id)
        timestamp = int(self._clock().timestamp())
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secrets, message_id, timestamp, attempt.body),
        }
        result = await send_webhook(
            attempt.url,
            attempt.body.encode(),
            headers,
            resolve=self._senders.resolve,
            allow_private=self._allow_private_targets,
            deadline_seconds=self._deadline,
            max_response_bytes=self._max_response_bytes,
        )
        return result.failure
