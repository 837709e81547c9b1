"""A partner organisation's own topic, `partner.<organisation-id>.v1`: the events meant for
it, exactly as its webhook carries them, for a partner that would rather read Kafka.

Each record is the CloudEvent its source published (the same `ce_id`, `ce_source`,
`ce_type`, `ce_time`, key), its data what that organisation may see: a deletion notice names
only the organisation reading it. Notifications writes these topics; a partner may only read
its own (`brobygger partners kafka-access`).
"""

from __future__ import annotations

from uuid import UUID

from contracts.base import IntegrationEvent
from contracts.grants import ApplicationDecided, PoolOpened, ReportOverdue
from contracts.referrals import (
    ConsentWithdrawn,
    FollowUpDue,
    FollowUpOverdue,
    OfferExpired,
    OfferWithdrawn,
    ReferralErased,
    ReferralOffered,
)

PARTNER_TOPIC_PREFIX = "partner."

PARTNER_EVENTS: tuple[type[IntegrationEvent], ...] = (
    ReferralOffered,
    OfferWithdrawn,
    OfferExpired,
    FollowUpDue,
    FollowUpOverdue,
    ConsentWithdrawn,
    ReferralErased,
    PoolOpened,
    ApplicationDecided,
    ReportOverdue,
)
"""What a partner organisation is sent, by webhook or on its topic."""


def partner_topic(organization_id: UUID) -> str:
    return f"{PARTNER_TOPIC_PREFIX}{organization_id}.v1"


def partner_of(topic: str) -> UUID | None:
    """The organisation whose topic `topic` is, or None when it is no partner's topic."""
    if not (topic.startswith(PARTNER_TOPIC_PREFIX) and topic.endswith(".v1")):
        return None
    try:
        organization_id = UUID(topic.removeprefix(PARTNER_TOPIC_PREFIX).removesuffix(".v1"))
    except ValueError:
        return None
    # Only the canonical spelling: another would be a topic of its own.
    return organization_id if partner_topic(organization_id) == topic else None
