"""Events to consume, and the real consumer path to consume them through."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from uuid import UUID, uuid4

from contracts import OfferExpired, OfferWithdrawn, PoolOpened, ReferralEscalated, ReferralOffered
from contracts.referrals import EscalationReason, WithdrawalReason
from notifications import consumers
from notifications.domain import Language
from notifications.services import Clock
from runtime.consumer import EventConsumer, IncomingRecord
from runtime.storage import UnitOfWork, utcnow


def offered(organization_id: UUID) -> ReferralOffered:
    return ReferralOffered(
        referral_id=uuid4(),
        offer_id=uuid4(),
        organization_id=organization_id,
        service_id=uuid4(),
        citizen_ref="cit_0123456789abcdef",
        age_band="80-84",
        district="Nørrebro",
        interests=["walking"],
        languages=["da"],
        needs=[],
        expires_at=datetime(2026, 11, 25, 12, 0, tzinfo=UTC),
    )


def withdrawn(offer: ReferralOffered, reason: WithdrawalReason = "cancelled") -> OfferWithdrawn:
    return OfferWithdrawn(
        referral_id=offer.referral_id,
        offer_id=offer.offer_id,
        organization_id=offer.organization_id,
        service_id=offer.service_id,
        reason=reason,
        withdrawn_at=datetime(2026, 11, 23, 8, 15, tzinfo=UTC),
    )


def expired(offer: ReferralOffered) -> OfferExpired:
    return OfferExpired(
        referral_id=offer.referral_id,
        offer_id=offer.offer_id,
        organization_id=offer.organization_id,
        service_id=offer.service_id,
        expired_at=offer.expires_at,
    )


def escalated(reason: EscalationReason = "all_declined") -> ReferralEscalated:
    return ReferralEscalated(
        referral_id=uuid4(),
        district="Nørrebro",
        interests=["walking", "chess"],
        languages=["da"],
        needs=[],
        reason=reason,
        escalated_at=datetime(2026, 11, 25, 12, 0, tzinfo=UTC),
    )


def pool_opened() -> PoolOpened:
    return PoolOpened(
        pool_id=uuid4(),
        name="Nye fællesskaber 2026",
        budget_dkk=500_000,
        opens_on=date(2026, 3, 1),
        closes_on=date(2026, 4, 30),
        criteria="Foreninger der når ensomme ældre.",
    )


async def consume(
    start_uow: Callable[[], UnitOfWork], *records: IncomingRecord, clock: Clock = utcnow
) -> list[str]:
    """Run records through the runtime's consumer, the handlers reading `clock`; returns
    the reasons of any dead letters."""
    dead_letters: list[str] = []

    async def publish_raw(
        topic: str, key: bytes | None, value: bytes, headers: dict[str, str]
    ) -> None:
        dead_letters.append(headers["dlq_reason"])

    consumer = EventConsumer(
        group_id="brobygger-notifications",
        handlers=consumers.handlers(Language.DA, clock),
        uow_factory=start_uow,
        dead_letter_topic="notifications.deadletter.v1",
        publish_raw=publish_raw,
        max_attempts=1,
    )
    for record in records:
        await consumer.handle(record)
    return dead_letters
