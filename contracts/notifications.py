"""Events owned by the notifications service. Topic `notifications.delivery.v2`, keyed by
delivery id (`notifications.delivery.v1` carried the first major version, no longer
published)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from contracts.base import REVERSE_DOMAIN, IntegrationEvent

TOPIC_V1 = "notifications.delivery.v1"
TOPIC = "notifications.delivery.v2"


class DeliveryRecordedV1(IntegrationEvent):
    """Version 1, no longer published: superseded by `DeliveryRecorded` (v2), which also
    tells of e-mails, SMS and deliveries to people rather than organisations, with statuses
    this version's consumers do not know. Its schema stays for the consumers built on it."""

    event_type = f"{REVERSE_DOMAIN}.notifications.delivery.recorded.v1"
    topic = TOPIC_V1
    key_field = "delivery_id"

    delivery_id: UUID = Field(description="The delivery's id, also the Kafka key.")
    organization_id: UUID = Field(description="The recipient organisation.")
    channel: Literal["inbox", "webhook", "email", "sms"] = Field(description="How it was sent.")
    status: Literal["delivered", "failed"] = Field(description="The outcome.")
    source_event_id: UUID = Field(description="The `ce_id` of the event that caused it.")
    source_event_type: str = Field(description="The `ce_type` of the event that caused it.")
    recorded_at: datetime = Field(description="When the outcome was recorded.")


RecipientKind = Literal[
    "partners", "organization", "operators", "coordinator", "volunteer", "operator", "care_system"
]


class DeliveryRecorded(IntegrationEvent):
    """A notification reached, failed to reach, or was not sent to a recipient over one
    channel: one event per delivery, when its status is final. It names no person: a
    person's contact details stay in notifications."""

    event_type = f"{REVERSE_DOMAIN}.notifications.delivery.recorded.v2"
    topic = TOPIC
    key_field = "delivery_id"

    delivery_id: UUID = Field(description="The delivery's id, also the Kafka key.")
    recipient_kind: RecipientKind = Field(
        description="Who it was for: an organisation (its inbox or webhook), every partner (a "
        "broadcast in their inboxes), the operators' "
        "shared inbox, one coordinator, volunteer or operator (e-mail, SMS), or a care "
        "system (its webhook)."
    )
    recipient_id: UUID | None = Field(
        default=None,
        description="The person it was for, as notifications knows them (e-mail and SMS).",
    )
    organization_id: UUID | None = Field(
        default=None,
        description="The organisation it was for, or the person's organisation; none for "
        "operators and care systems.",
    )
    channel: Literal["inbox", "webhook", "email", "sms"] = Field(description="How it was sent.")
    status: Literal["delivered", "sent", "failed", "skipped", "merged"] = Field(
        description="The outcome: `delivered` (in the inbox; the endpoint answered 2xx), "
        "`sent` (the mail server or SMS gateway took it), `failed` (after the last retry, "
        "or nowhere to send it), `skipped` (the recipient's preferences leave the channel "
        "out) or `merged` (sent as part of the recipient's daily digest)."
    )
    merged_into: UUID | None = Field(
        default=None, description="For `merged`: the delivery of the digest that carried it."
    )
    attempts: int = Field(ge=0, description="Attempts made (0 for the inbox and skipped).")
    source_event_id: UUID = Field(description="The `ce_id` of the event that caused it.")
    source_event_type: str = Field(description="The `ce_type` of the event that caused it.")
    recorded_at: datetime = Field(description="When the outcome was recorded.")
