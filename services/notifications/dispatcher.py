"""Sends pending webhook deliveries, signed per Standard Webhooks, retrying with back-off.

Each round claims the due deliveries in one transaction, POSTs them with no transaction
open (a slow endpoint must not hold the database), then records each outcome in a
transaction of its own, with `DeliveryRecorded` once the outcome is final.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import urlsplit

import httpx

from notifications import services
from notifications.domain import InvalidWebhookUrl, RetryPolicy, check_resolved_addresses, sign
from runtime.logs import get_logger
from runtime.storage import utcnow

log = get_logger(component="webhook-dispatcher")

Resolve = Callable[[str, int], list[str]]
"""The addresses of a host and port, as a connection to them would find them."""


def resolve_host(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


class WebhookDispatcher:
    def __init__(
        self,
        start_uow: services.UnitOfWorkFactory,
        *,
        policy: RetryPolicy,
        poll_seconds: float,
        timeout_seconds: float,
        allow_private_targets: bool,
        batch_size: int = 50,
        resolve: Resolve = resolve_host,
        clock: services.Clock = utcnow,
    ) -> None:
        self._start_uow = start_uow
        self._clock = clock
        self._allow_private_targets = allow_private_targets
        self._resolve = resolve
        self._policy = policy
        self._poll_seconds = poll_seconds
        self._timeout = timeout_seconds
        # Longer than one attempt can take: the timeout bounds connect, write and read each.
        self._lease = timedelta(seconds=4 * timeout_seconds + 10)
        self._batch_size = batch_size

    async def run(self) -> None:
        # Redirects are not followed: the spec counts a 3xx as a failure, and following one
        # would reach a host the URL check never saw.
        async with httpx.AsyncClient(timeout=self._timeout, follow_redirects=False) as client:
            while True:
                try:
                    sent = await self.dispatch_due(client)
                except Exception as error:
                    log.warning("webhooks.round_failed", error=repr(error))
                    sent = 0
                if sent < self._batch_size:
                    await asyncio.sleep(self._poll_seconds)

    async def dispatch_due(self, client: httpx.AsyncClient) -> int:
        """One round: send every due delivery; returns how many were attempted."""
        attempts = await asyncio.to_thread(
            services.claim_due_webhooks,
            self._start_uow,
            lease=self._lease,
            limit=self._batch_size,
            clock=self._clock,
        )
        errors = await asyncio.gather(*(self._post(client, attempt) for attempt in attempts))
        for attempt, error in zip(attempts, errors, strict=True):
            delivery = await asyncio.to_thread(
                services.record_webhook_outcome,
                services.RecordWebhookOutcome(attempt.delivery_id, error),
                self._start_uow,
                self._policy,
                self._clock,
            )
            if delivery is None:
                log.info("webhook.erased_while_sent", delivery_id=str(attempt.delivery_id))
                continue
            log.log(
                logging.WARNING if error else logging.INFO,
                "webhook.attempted",
                delivery_id=str(delivery.id),
                status=delivery.status.value,
                attempts=delivery.attempts,
                error=error,
            )
        return len(attempts)

    async def _post(
        self, client: httpx.AsyncClient, attempt: services.WebhookAttempt
    ) -> str | None:
        """None when the endpoint answered 2xx; otherwise what went wrong."""
        refused = await self._refusal(attempt.url)
        if refused is not None:
            return refused
        message_id = str(attempt.delivery_id)
        timestamp = int(self._clock().timestamp())
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(attempt.secret, message_id, timestamp, attempt.body),
        }
        try:
            response = await client.post(
                attempt.url, content=attempt.body.encode(), headers=headers
            )
        except httpx.HTTPError as error:
            return f"{type(error).__name__}: {error}"
        return None if response.is_success else f"HTTP {response.status_code}"

    async def _refusal(self, url: str) -> str | None:
        """Why the URL's host may not be called, or None: a name registered as public may
        resolve to a private address, now or since it was registered.

        httpx resolves the name again to connect, and the answer can change in between
        (DNS rebinding): this check narrows the gap, an egress proxy that filters the
        addresses it connects to closes it.
        """
        if self._allow_private_targets:
            return None
        parts = urlsplit(url)
        assert parts.hostname is not None, "a webhook URL is checked to name a host"
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = await asyncio.to_thread(self._resolve, parts.hostname, port)
            check_resolved_addresses(parts.hostname, addresses)
        except OSError as error:
            return f"{type(error).__name__}: {error}"
        except InvalidWebhookUrl as error:
            return f"refused: {error}"
        return None
