"""Messages, webhooks and deliveries: rules only, no I/O."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo


class Language(StrEnum):
    DA = "da"
    SV = "sv"
    EN = "en"


class Template(StrEnum):
    REFERRAL_OFFERED = "referral_offered"
    POOL_OPENED = "pool_opened"


TEMPLATES: dict[tuple[Template, Language], str] = {
    (Template.REFERRAL_OFFERED, Language.DA): (
        "Ny henvisning: en borger ({age_band} år, {district}) med interesse for {interests} "
        "søger et fællesskab. Svar inden {expires}."
    ),
    (Template.REFERRAL_OFFERED, Language.SV): (
        "Ny remiss: en person ({age_band} år, {district}) med intresse för {interests} "
        "söker en gemenskap. Svara senast {expires}."
    ),
    (Template.REFERRAL_OFFERED, Language.EN): (
        "New referral: a citizen ({age_band} years, {district}) interested in {interests} "
        "is looking for a community. Please answer by {expires}."
    ),
    (Template.POOL_OPENED, Language.DA): (
        "Ny pulje åben for ansøgninger: {name}, {budget_dkk} kr. "
        "Der kan søges fra {opens_on} til og med {closes_on}. Kriterier: {criteria}"
    ),
    (Template.POOL_OPENED, Language.SV): (
        "Ny bidragspott öppen för ansökningar: {name}, {budget_dkk} DKK. "
        "Ansök från {opens_on} till och med {closes_on}. Kriterier: {criteria}"
    ),
    (Template.POOL_OPENED, Language.EN): (
        "New grant pool open for applications: {name}, DKK {budget_dkk}. "
        "Apply from {opens_on} to {closes_on} inclusive. Criteria: {criteria}"
    ),
}


def render(template: Template, language: Language, **fields: str) -> str:
    return TEMPLATES[(template, language)].format(**fields)


# The directory's interest keywords, as coordinators read them; unknown ones stay as they are.
INTEREST_NAMES: dict[Language, dict[str, str]] = {
    Language.DA: {
        "walking": "gåture",
        "chess": "skak",
        "singing": "fællessang",
        "cooking": "madlavning",
        "digital": "digitale medier",
        "gardening": "havearbejde",
        "cards": "kortspil",
        "culture": "kultur",
        "exercise": "motion",
        "talk": "samtale",
    },
    Language.SV: {
        "walking": "promenader",
        "chess": "schack",
        "singing": "allsång",
        "cooking": "matlagning",
        "digital": "digitala medier",
        "gardening": "trädgård",
        "cards": "kortspel",
        "culture": "kultur",
        "exercise": "motion",
        "talk": "samtal",
    },
    Language.EN: {},
}

# Coordinators read times on the city's clock, not the UTC the service keeps.
CITY_TIME = ZoneInfo("Europe/Copenhagen")


def interest_names(interests: list[str], language: Language) -> str:
    names = INTEREST_NAMES[language]
    return ", ".join(names.get(interest, interest) for interest in interests)


def format_time(moment: datetime, language: Language) -> str:
    local = moment.astimezone(CITY_TIME)
    if language is Language.DA:
        return f"{local:%d.%m.%Y kl. %H:%M}"
    if language is Language.SV:
        return f"{local:%Y-%m-%d kl. %H:%M}"
    return f"{local:%d %b %Y %H:%M} Copenhagen time"


def format_amount(dkk: int, language: Language) -> str:
    """Thousands grouped as each language writes them: 500.000 / 500 000 / 500,000."""
    grouped = f"{dkk:,}"
    if language is Language.DA:
        return grouped.replace(",", ".")
    if language is Language.SV:
        return grouped.replace(",", "\N{NO-BREAK SPACE}")
    return grouped


@dataclass(frozen=True)
class SourceEvent:
    """The consumed event a message or delivery is caused by: its `ce_id` and `ce_type`."""

    id: UUID
    type: str


@dataclass
class Message:
    """An inbox message: to one organisation, or (organization_id None) to every partner."""

    id: UUID
    organization_id: UUID | None
    template: Template
    language: Language
    text: str
    source: SourceEvent
    created_at: datetime
    read_at: datetime | None = None
    """When the organisation reading it marked it read; per organisation, also for broadcasts."""


class Channel(StrEnum):
    INBOX = "inbox"
    WEBHOOK = "webhook"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class InvalidTransition(Exception):
    """The delivery is not in a state where this can happen."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off: `first_delay`, then twice as long after each further failure."""

    max_attempts: int
    first_delay: timedelta

    def delay_after(self, attempts: int) -> timedelta:
        return self.first_delay * (1 << (attempts - 1))


@dataclass
class Delivery:
    id: UUID
    organization_id: UUID | None
    channel: Channel
    source: SourceEvent
    created_at: datetime
    status: DeliveryStatus = DeliveryStatus.PENDING
    message_id: UUID | None = None
    body: str | None = None
    """The webhook's JSON body, kept byte for byte so that every retry sends the same."""
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    recorded_at: datetime | None = None
    """When the outcome (delivered or failed) was recorded."""

    @classmethod
    def to_inbox(cls, message: Message) -> Delivery:
        """An inbox message is delivered the moment it is stored."""
        return cls(
            id=uuid4(),
            organization_id=message.organization_id,
            channel=Channel.INBOX,
            source=message.source,
            created_at=message.created_at,
            status=DeliveryStatus.DELIVERED,
            message_id=message.id,
            recorded_at=message.created_at,
        )

    @classmethod
    def to_webhook(
        cls, organization_id: UUID, source: SourceEvent, body: str, now: datetime
    ) -> Delivery:
        return cls(
            id=uuid4(),
            organization_id=organization_id,
            channel=Channel.WEBHOOK,
            source=source,
            created_at=now,
            body=body,
            next_attempt_at=now,
        )

    def delivered(self, now: datetime) -> None:
        self._require_pending()
        self.attempts += 1
        self.status = DeliveryStatus.DELIVERED
        self.next_attempt_at = None
        self.last_error = None
        self.recorded_at = now

    def attempt_failed(self, now: datetime, error: str, policy: RetryPolicy) -> None:
        """Schedule the next attempt, or give up once the policy's attempts are used."""
        self._require_pending()
        self.attempts += 1
        self.last_error = error
        if self.attempts >= policy.max_attempts:
            self.give_up(now, error)
        else:
            self.next_attempt_at = now + policy.delay_after(self.attempts)

    def give_up(self, now: datetime, reason: str) -> None:
        self._require_pending()
        self.status = DeliveryStatus.FAILED
        self.next_attempt_at = None
        self.last_error = reason
        self.recorded_at = now

    def _require_pending(self) -> None:
        if self.status is not DeliveryStatus.PENDING:
            raise InvalidTransition(f"a delivery that is {self.status} has no further attempts")


@dataclass
class Webhook:
    """One organisation's endpoint; the secret signs every delivery to it."""

    organization_id: UUID
    url: str
    secret: str
    registered_at: datetime


class InvalidWebhookUrl(ValueError):
    pass


def check_webhook_url(url: str, *, allow_private: bool) -> None:
    """Refuse what is not http(s), and (unless allowed) hosts inside the private network.

    Only the host as written is checked: what a name resolves to is checked before each
    send, with `check_resolved_addresses` (Standard Webhooks, "Server side request forgery").
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidWebhookUrl("a webhook URL must be http(s) and name a host")
    if allow_private:
        return
    host = parts.hostname.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        raise InvalidWebhookUrl("a webhook URL may not point at this machine")
    address = _ip_literal(host)
    if address is not None and _is_internal(address):
        raise InvalidWebhookUrl(
            f"a webhook URL may not point at a private, loopback or link-local address ({host})"
        )


def check_resolved_addresses(host: str, addresses: Iterable[str]) -> None:
    """Refuse a webhook host if any address it resolves to is inside the private network."""
    for address in addresses:
        if _is_internal(_unmapped(ipaddress.ip_address(address))):
            raise InvalidWebhookUrl(f"{host} resolves to a private address {address}")


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _is_internal(address: IPAddress) -> bool:
    return not address.is_global or address.is_multicast


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return _unmapped(ipaddress.ip_address(host))
    except ValueError:
        try:
            # Shorthands such as `127.1` or `2130706433` that resolvers accept as IPv4.
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None


def _unmapped(address: IPAddress) -> IPAddress:
    """`::ffff:127.0.0.1` is 127.0.0.1 to whoever connects to it."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


SECRET_PREFIX = "whsec_"  # noqa: S105  (the marker of a secret, not one)


def new_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` and base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """The `webhook-signature` header: `v1,` and base64 HMAC-SHA256 of `id.timestamp.body`."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    content = f"{message_id}.{timestamp}.{body}".encode()
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_body(event_type: str, timestamp: datetime, data: dict[str, Any]) -> str:
    """The Standard Webhooks payload, minified: what is signed must be what is sent."""
    payload = {"type": event_type, "timestamp": timestamp.isoformat(), "data": data}
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
