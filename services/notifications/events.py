"""The integration events notifications publishes and consumes, built from the domain."""

from __future__ import annotations

from contracts import (
    ConsentWithdrawn,
    DeliveryRecorded,
    FollowUpDue,
    FollowUpEscalated,
    FollowUpOverdue,
    IntegrationEvent,
    OfferExpired,
    OfferWithdrawn,
    PoolOpened,
    ReferralErased,
    ReferralEscalated,
    ReferralOffered,
)
from notifications.domain import Delivery

PUBLISHES: tuple[type[IntegrationEvent], ...] = (DeliveryRecorded,)
CONSUMES: tuple[type[IntegrationEvent], ...] = (
    ReferralOffered,
    OfferWithdrawn,
    OfferExpired,
    ReferralEscalated,
    FollowUpDue,
    FollowUpOverdue,
    FollowUpEscalated,
    ConsentWithdrawn,
    ReferralErased,
    PoolOpened,
)


def delivery_recorded(delivery: Delivery) -> DeliveryRecorded:
    """The outcome of a delivery to one organisation; broadcasts, operators' messages and
    pending deliveries have none."""
    if delivery.organization_id is None or delivery.recorded_at is None:
        raise ValueError(f"delivery {delivery.id} has no recipient organisation or no outcome")
    return DeliveryRecorded(
        delivery_id=delivery.id,
        organization_id=delivery.organization_id,
        channel=delivery.channel.value,
        status=delivery.status.value,
        source_event_id=delivery.source.id,
        source_event_type=delivery.source.type,
        recorded_at=delivery.recorded_at,
    )
