"""Messages and deliveries: rules only, no I/O. Webhook endpoints are `webhooks`'."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4, uuid5
from zoneinfo import ZoneInfo


class Language(StrEnum):
    DA = "da"
    SV = "sv"
    EN = "en"


class Template(StrEnum):
    REFERRAL_OFFERED = "referral_offered"
    OFFER_WITHDRAWN = "offer_withdrawn"
    OFFER_EXPIRED = "offer_expired"
    REFERRAL_ESCALATED = "referral_escalated"
    POOL_OPENED = "pool_opened"
    DELETION_REQUESTED = "deletion_requested"
    FOLLOW_UP_DUE = "follow_up_due"
    FOLLOW_UP_OVERDUE = "follow_up_overdue"
    FOLLOW_UP_ESCALATED = "follow_up_escalated"
    WEBHOOK_DISABLED = "webhook_disabled"
    GRANT_DECIDED = "grant_decided"
    GRANT_REPORT_OVERDUE = "grant_report_overdue"


# Where a partner reports whether the citizen still takes part (referrals' partner API).
FOLLOW_UP_PATH = "/partner/referrals/{referral_id}/follow-ups/{follow_up}"

PARTICIPATION = "participation"
"""The partner's part of a follow-up (referrals' `FollowUpPart`); `wellbeing` is the care
system's."""


def follow_up_path(referral_id: UUID, follow_up: int) -> str:
    return FOLLOW_UP_PATH.format(referral_id=referral_id, follow_up=follow_up)


# Where an organisation sends the report on a grant it was given (grants' partner API).
REPORT_PATH = "/applications/{application_id}/report"


def report_path(application_id: UUID) -> str:
    return REPORT_PATH.format(application_id=application_id)


def partner_is_waited_for(waiting_for: Iterable[str]) -> bool:
    """A late follow-up is the partner's to answer only while its report on participation
    is missing: the care system's answers are not the partner's to give."""
    return PARTICIPATION in waiting_for


class DeletionCause(StrEnum):
    """Why the organisations a referral was offered to must delete what they hold of it."""

    CONSENT_WITHDRAWN = "consent_withdrawn"
    ERASED = "erased"


# Coordinators read times on the city's clock, not the UTC the service keeps.
CITY_TIME = ZoneInfo("Europe/Copenhagen")


@dataclass(frozen=True)
class SourceEvent:
    """The consumed event a message or delivery is caused by: its `ce_id` and `ce_type`."""

    id: UUID
    type: str


class Audience(StrEnum):
    """Whose inbox a message is in."""

    ORGANIZATION = "organization"
    """One partner organisation's."""
    PARTNERS = "partners"
    """Every partner's: a broadcast."""
    OPERATORS = "operators"
    """The operators': one inbox they share, never seen by partners."""


@dataclass
class Message:
    """An inbox message to one organisation, to every partner, or to the operators."""

    id: UUID
    audience: Audience
    organization_id: UUID | None
    """The recipient organisation; only (and always) for `Audience.ORGANIZATION`."""
    template: Template
    language: Language
    text: str
    source: SourceEvent
    created_at: datetime
    referral_id: UUID | None = None
    """The referral the message is about, if any."""
    read_at: datetime | None = None
    """When the one reading it marked it read: per organisation, or per operator."""

    def __post_init__(self) -> None:
        if (self.audience is Audience.ORGANIZATION) != (self.organization_id is not None):
            raise ValueError("a message names its organisation exactly when it is for one")


@dataclass(frozen=True)
class PartnerReader:
    """A partner organisation reading its inbox: its own messages and the broadcasts.
    Read marks are the organisation's, shared by its coordinators."""

    organization_id: UUID

    @property
    def reader_id(self) -> UUID:
        return self.organization_id

    def can_see(self, message: Message) -> bool:
        return message.audience is Audience.PARTNERS or (
            message.audience is Audience.ORGANIZATION
            and message.organization_id == self.organization_id
        )


# Namespace of the name-based ids of operators' read marks (an arbitrary, fixed UUID).
OPERATOR_READERS = UUID("0b6f4c1e-8f0a-4d52-9a3e-2c7d5b1f6a90")


@dataclass(frozen=True)
class OperatorReader:
    """One operator reading the operators' inbox. The messages are shared; read marks are
    each operator's own (by token subject), so that one operator's reading does not hide a
    message from the others."""

    subject: str

    @property
    def reader_id(self) -> UUID:
        # Name-based, so that read marks of operators and of organisations share one key
        # column, whatever the subject's length.
        return uuid5(OPERATOR_READERS, self.subject)

    def can_see(self, message: Message) -> bool:
        return message.audience is Audience.OPERATORS


Reader = PartnerReader | OperatorReader


class Channel(StrEnum):
    INBOX = "inbox"
    WEBHOOK = "webhook"
    EMAIL = "email"
    SMS = "sms"


PERSONAL_CHANNELS = (Channel.EMAIL, Channel.SMS)
"""The channels that reach one person, rendered in their language when sent."""


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    """Handed over to the mail server or the SMS gateway, which take it from there."""
    DELIVERED = "delivered"
    """Stored in the inbox, or taken by the webhook endpoint (it answered 2xx)."""
    FAILED = "failed"
    SKIPPED = "skipped"
    """Never sent: the recipient's preferences leave the channel out for this kind."""
    MERGED = "merged"
    """Sent as a part of a digest e-mail: `merged_into` is the delivery that carried it."""


FINAL = frozenset(DeliveryStatus) - {DeliveryStatus.PENDING}


class InvalidTransition(Exception):
    """The delivery is not in a state where this can happen."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off with jitter: `first_delay`, then twice as long after each
    further failure, at most `max_delay`, each wait moved by up to ±`jitter` of itself at
    random, so that the retries of many deliveries that failed together (an endpoint or a
    mail server down) do not all come back at the same moment."""

    max_attempts: int
    first_delay: timedelta
    max_delay: timedelta = timedelta(hours=6)
    jitter: float = 0.0
    spread: Callable[[], float] = random.random
    """Where in the jitter band a wait falls: 0 the shortest, 1 the longest."""

    def delay_after(self, attempts: int) -> timedelta:
        planned = min(self.first_delay * (1 << min(attempts - 1, 40)), self.max_delay)
        return planned * (1 + self.jitter * (2 * self.spread() - 1))

    def schedule(self) -> list[timedelta]:
        """The waits between the attempts, without jitter: what the documentation shows."""
        return [
            min(self.first_delay * (1 << (n - 1)), self.max_delay)
            for n in range(1, self.max_attempts)
        ]


@dataclass
class Delivery:
    """One message or event on its way to one recipient over one channel.

    An inbox message is delivered when stored. A webhook carries the event as it was, byte
    for byte. An e-mail or SMS keeps only its kind and its template's fields, and is
    rendered when sent, in the language the recipient has then.
    """

    id: UUID
    organization_id: UUID | None
    channel: Channel
    source: SourceEvent
    created_at: datetime
    status: DeliveryStatus = DeliveryStatus.PENDING
    referral_id: UUID | None = None
    """The referral its message or event is about, if any: an erasure finds it by this."""
    message_id: UUID | None = None
    body: str | None = None
    """The webhook's JSON body, kept byte for byte so that every retry sends the same."""
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    recorded_at: datetime | None = None
    """When the outcome (delivered or failed) was recorded."""
    recipient_id: UUID | None = None
    """The person an e-mail or SMS is for."""
    webhook_id: UUID | None = None
    """The endpoint a webhook delivery is for."""
    kind: str | None = None
    """What an e-mail or SMS says: the kind of its templates."""
    fields: dict[str, Any] | None = None
    """Its templates' fields: codes, times and ids, never a citizen's personal data."""
    digest: bool = False
    """An e-mail that waits for the recipient's daily digest rather than going alone."""
    merged_into: UUID | None = None
    """A `MERGED` delivery's: the delivery of the digest that carried it."""

    @property
    def recipient_key(self) -> str:
        """Whom it is for, on its channel: an event reaches each at most once per channel."""
        if self.recipient_id is not None:
            return f"recipient:{self.recipient_id}"
        if self.webhook_id is not None:
            return f"webhook:{self.webhook_id}"
        if self.organization_id is not None:
            return f"organization:{self.organization_id}"
        return "all"

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
            referral_id=message.referral_id,
            message_id=message.id,
            recorded_at=message.created_at,
        )

    @classmethod
    def to_webhook(
        cls,
        webhook_id: UUID,
        organization_id: UUID | None,
        source: SourceEvent,
        body: str,
        now: datetime,
        referral_id: UUID | None = None,
    ) -> Delivery:
        return cls(
            id=uuid4(),
            organization_id=organization_id,
            channel=Channel.WEBHOOK,
            source=source,
            created_at=now,
            referral_id=referral_id,
            body=body,
            next_attempt_at=now,
            webhook_id=webhook_id,
        )

    @classmethod
    def to_person(
        cls,
        recipient_id: UUID,
        organization_id: UUID | None,
        channel: Channel,
        kind: str,
        fields: dict[str, Any],
        source: SourceEvent,
        now: datetime,
        *,
        at: datetime | None,
        digest: bool = False,
        referral_id: UUID | None = None,
    ) -> Delivery:
        """An e-mail or SMS to send at `at`, or (`at` None) one the recipient's preferences
        leave out, recorded as skipped."""
        if channel not in PERSONAL_CHANNELS:
            raise ValueError(f"{channel} does not reach one person")
        return cls(
            id=uuid4(),
            organization_id=organization_id,
            channel=channel,
            source=source,
            created_at=now,
            status=DeliveryStatus.PENDING if at else DeliveryStatus.SKIPPED,
            referral_id=referral_id,
            next_attempt_at=at,
            recorded_at=None if at else now,
            recipient_id=recipient_id,
            kind=kind,
            fields=fields,
            digest=digest,
        )

    def succeeded(self, now: datetime) -> None:
        """The attempt worked: a webhook is delivered; an e-mail or SMS sent, the mail
        server or gateway taking it from there."""
        self._require_pending()
        self.attempts += 1
        self.status = (
            DeliveryStatus.SENT if self.channel in PERSONAL_CHANNELS else DeliveryStatus.DELIVERED
        )
        self.next_attempt_at = None
        self.last_error = None
        self.recorded_at = now

    def attempt_failed(
        self, now: datetime, error: str, policy: RetryPolicy, *, permanent: bool = False
    ) -> None:
        """Schedule the next attempt, or give up once the policy's attempts are used or
        when trying again cannot help (`permanent`)."""
        self._require_pending()
        self.attempts += 1
        self.last_error = error
        if permanent or self.attempts >= policy.max_attempts:
            self.give_up(now, error)
        else:
            self.next_attempt_at = now + policy.delay_after(self.attempts)

    def give_up(self, now: datetime, reason: str) -> None:
        self._require_pending()
        self.status = DeliveryStatus.FAILED
        self.next_attempt_at = None
        self.last_error = reason
        self.recorded_at = now

    def merge_into(self, digest: Delivery, now: datetime) -> None:
        """Sent as a part of `digest`: the digest's outcome is this one's too."""
        self._require_pending()
        if not (self.digest and digest.digest and self.recipient_id == digest.recipient_id):
            raise InvalidTransition("only digest e-mails of one recipient merge")
        self.status = DeliveryStatus.MERGED
        self.merged_into = digest.id
        self.next_attempt_at = None
        self.recorded_at = now

    def _require_pending(self) -> None:
        if self.status is not DeliveryStatus.PENDING:
            raise InvalidTransition(f"a delivery that is {self.status} has no further attempts")
