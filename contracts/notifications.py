"""Events owned by the notifications service. Topic `notifications.delivery.v1`, keyed by
delivery id."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from contracts.base import REVERSE_DOMAIN, IntegrationEvent

TOPIC = "notifications.delivery.v1"


class DeliveryRecorded(IntegrationEvent):
    """A notification reached (or failed to reach) a recipient over one channel."""

    event_type = f"{REVERSE_DOMAIN}.notifications.delivery.recorded.v1"
    topic = TOPIC
    key_field = "delivery_id"

    delivery_id: UUID = Field(description="The delivery's id, also the Kafka key.")
    organization_id: UUID = Field(description="The recipient organisation.")
    channel: Literal["inbox", "webhook", "email", "sms"] = Field(description="How it was sent.")
    status: Literal["delivered", "failed"] = Field(description="The outcome.")
    source_event_id: UUID = Field(description="The `ce_id` of the event that caused it.")
    source_event_type: str = Field(description="The `ce_type` of the event that caused it.")
    recorded_at: datetime = Field(description="When the outcome was recorded.")
