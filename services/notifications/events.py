"""The integration events notifications publishes and consumes, built from the domain."""

from __future__ import annotations

from contracts import (
    ApplicationDecided,
    CareFollowUpDue,
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
    ReferralStatusChanged,
    ReportOverdue,
    VolunteerNamed,
)
from contracts.partners import PARTNER_EVENTS
from notifications.domain import Delivery

PUBLISHES: tuple[type[IntegrationEvent], ...] = (DeliveryRecorded,)
FORWARDS_TO_PARTNERS = PARTNER_EVENTS
"""Consumed events it writes, as their sources published them, on partners' own topics."""
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
    ApplicationDecided,
    ReportOverdue,
    VolunteerNamed,
    ReferralStatusChanged,
    CareFollowUpDue,
)


def delivery_recorded(delivery: Delivery, recipient_kind: str) -> DeliveryRecorded:
    """The final status of a delivery: `recipient_kind` says who it was for (an audience of
    the inbox, a kind of recipient, or a webhook's owner)."""
    if delivery.recorded_at is None:
        raise ValueError(f"delivery {delivery.id} has no final status yet")
    return DeliveryRecorded.model_validate(
        {
            "delivery_id": delivery.id,
            "recipient_kind": recipient_kind,
            "recipient_id": delivery.recipient_id,
            "organization_id": delivery.organization_id,
            "channel": delivery.channel.value,
            "status": delivery.status.value,
            "merged_into": delivery.merged_into,
            "attempts": delivery.attempts,
            "source_event_id": delivery.source.id,
            "source_event_type": delivery.source.type,
            "recorded_at": delivery.recorded_at,
        }
    )
