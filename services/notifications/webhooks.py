"""Webhook endpoints and Standard Webhooks signing: rules only, no I/O.

A partner organisation, or a care system, has up to a few endpoints, each with its own
event-type filter and its own signing secret. The secret is kept sealed (`sealing`): this
module never sees it in the clear, only the dispatcher does, right before it signs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from notifications import targets
from notifications.targets import InvalidWebhookUrl as InvalidWebhookUrl


@dataclass(frozen=True)
class Owner:
    """Whose endpoints: a partner organisation's, or a care system's (its token subject)."""

    organization_id: UUID | None = None
    care_system: str | None = None

    def __post_init__(self) -> None:
        if (self.organization_id is None) == (self.care_system is None):
            raise ValueError("an owner is an organisation or a care system, exactly one")

    def owns(self, endpoint: WebhookEndpoint) -> bool:
        return (endpoint.organization_id, endpoint.care_system) == (
            self.organization_id,
            self.care_system,
        )


@dataclass
class WebhookEndpoint:
    """Where one owner's events are POSTed, signed with the endpoint's own secret."""

    id: UUID
    url: str
    secret: str
    """Sealed (`sealing.SecretBox`), never the plain secret."""
    created_at: datetime
    organization_id: UUID | None = None
    """A partner's endpoint ..."""
    care_system: str | None = None
    """... or a care system's (its token subject): exactly one."""
    event_types: frozenset[str] = frozenset()
    """The CloudEvents types it wants; empty: all its owner gets."""
    previous_secret: str | None = None
    """Sealed; still signs until `previous_secret_until`."""
    previous_secret_until: datetime | None = None
    failing_since: datetime | None = None
    """The first failed attempt since the last success."""
    disabled_at: datetime | None = None

    def __post_init__(self) -> None:
        Owner(self.organization_id, self.care_system)  # refuses none and both

    @property
    def owner(self) -> Owner:
        return Owner(self.organization_id, self.care_system)

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None

    def wants(self, event_type: str) -> bool:
        return self.enabled and (not self.event_types or event_type in self.event_types)

    def sealed_signing_secrets(self, now: datetime) -> tuple[str, ...]:
        """The current secret, and the previous one while the rotation's overlap lasts:
        a receiver still knowing only the old one keeps accepting until then."""
        if (
            self.previous_secret is not None
            and self.previous_secret_until is not None
            and now < self.previous_secret_until
        ):
            return (self.secret, self.previous_secret)
        return (self.secret,)

    def rotate(self, new_sealed: str, now: datetime, overlap: timedelta) -> None:
        """`new_sealed` signs from now on, the current secret too for `overlap`. A secret
        older than the current one stops signing: a receiver gets one overlap to switch."""
        self.previous_secret = self.secret
        self.previous_secret_until = now + overlap
        self.secret = new_sealed

    def succeeded(self, now: datetime) -> None:
        self.failing_since = None

    def failed(self, now: datetime, disable_after: timedelta) -> bool:
        """Count a failed attempt; disable the endpoint once it has failed, with no success
        in between, for `disable_after`. True only for the failure that disabled it."""
        if not self.enabled:
            return False
        if self.failing_since is None:
            self.failing_since = now
        if now - self.failing_since < disable_after:
            return False
        self.disabled_at = now
        return True

    def enable(self) -> None:
        """Its owner turns it on again: the days of failing before do not count."""
        self.disabled_at = None
        self.failing_since = None


check_webhook_url = targets.check_url
"""Refuse a URL no webhook may have: the address policy is `targets`'."""


SECRET_PREFIX = "whsec_"  # noqa: S105  (the marker of a secret, not one)


def new_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` and base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secrets: Sequence[str], message_id: str, timestamp: int, body: str) -> str:
    """The `webhook-signature` header: `v1,` and base64 HMAC-SHA256 of `id.timestamp.body`,
    once per secret, space-separated, so that while a secret is rotated the old and the new
    one both sign and a receiver knowing either accepts."""
    if not secrets:
        raise ValueError("a webhook is signed with at least one secret")
    content = f"{message_id}.{timestamp}.{body}".encode()
    return " ".join(
        "v1," + base64.b64encode(hmac.new(_key(secret), content, hashlib.sha256).digest()).decode()
        for secret in secrets
    )


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def webhook_body(event_type: str, timestamp: datetime, data: dict[str, Any]) -> str:
    """The Standard Webhooks payload, minified: what is signed must be what is sent."""
    payload = {"type": event_type, "timestamp": timestamp.isoformat(), "data": data}
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
