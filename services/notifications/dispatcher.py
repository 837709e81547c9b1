"""Sends pending webhook deliveries, signed per Standard Webhooks, retrying with back-off.

Due deliveries are claimed in one transaction whenever there is room, then each is sent on
its own and its outcome recorded, in a transaction of its own, as soon as it is known (with
`DeliveryRecorded` once the outcome is final): no transaction is open while an endpoint is
waited for, and an endpoint that hangs until its deadline holds back no other delivery.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from notifications import services
from notifications.channels.webhook import Resolve, resolve_host, send_webhook
from notifications.domain import RetryPolicy
from notifications.sealing import SealingError, SecretBox
from notifications.webhooks import sign
from runtime.logs import get_logger
from runtime.storage import utcnow

log = get_logger(component="webhook-dispatcher")


class WebhookDispatcher:
    def __init__(
        self,
        start_uow: services.UnitOfWorkFactory,
        *,
        policy: RetryPolicy,
        poll_seconds: float,
        timeout_seconds: float,
        allow_private_targets: bool,
        box: SecretBox,
        batch_size: int = 50,
        resolve: Resolve = resolve_host,
        clock: services.Clock = utcnow,
        max_response_bytes: int = 64 * 1024,
    ) -> None:
        """`timeout_seconds` is each attempt's deadline, from resolving the host to the
        last byte of the answer read, of which at most `max_response_bytes` are."""
        self._start_uow = start_uow
        self._clock = clock
        self._allow_private_targets = allow_private_targets
        self._box = box
        self._resolve = resolve
        self._policy = policy
        self._poll_seconds = poll_seconds
        self._deadline = timeout_seconds
        self._max_response_bytes = max_response_bytes
        # Longer than an attempt can take: its deadline, then recording its outcome.
        self._lease = timedelta(seconds=2 * timeout_seconds + 10)
        self._batch_size = batch_size

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
                    log.warning("webhooks.round_failed", error=repr(error))
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

    async def _claim(self, limit: int) -> list[services.WebhookAttempt]:
        return await asyncio.to_thread(
            services.claim_due_webhooks,
            self._start_uow,
            lease=self._lease,
            limit=limit,
            clock=self._clock,
        )

    async def _deliver(self, attempt: services.WebhookAttempt) -> None:
        """Send one delivery and record its outcome, on its own: another endpoint's
        slowness holds back neither. Never raises: an outcome not recorded is logged, and
        the delivery is sent again once its lease ends."""
        error = await self._post(attempt)
        try:
            delivery = await asyncio.to_thread(
                services.record_webhook_outcome,
                services.RecordWebhookOutcome(attempt.delivery_id, error),
                self._start_uow,
                self._policy,
                self._clock,
            )
        except Exception as failure:
            # Its type only: a database error's text can quote what was written.
            log.warning(
                "webhook.outcome_not_recorded",
                delivery_id=str(attempt.delivery_id),
                error=type(failure).__name__,
            )
            return
        if delivery is None:
            log.info("webhook.erased_while_sent", delivery_id=str(attempt.delivery_id))
            return
        log.log(
            logging.WARNING if error else logging.INFO,
            "webhook.attempted",
            delivery_id=str(delivery.id),
            status=delivery.status.value,
            attempts=delivery.attempts,
            error=error,
        )

    async def _post(self, attempt: services.WebhookAttempt) -> str | None:
        """None when the endpoint answered 2xx; otherwise what went wrong."""
        try:
            # Opened here only, for as long as it takes to sign.
            secrets = [self._box.open(s, attempt.endpoint_id) for s in attempt.sealed_secrets]
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
            resolve=self._resolve,
            allow_private=self._allow_private_targets,
            deadline_seconds=self._deadline,
            max_response_bytes=self._max_response_bytes,
        )
        return result.failure
