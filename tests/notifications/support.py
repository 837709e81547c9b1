"""What the notifications tests share: the readers, the time, and the real consumer path to
consume events through."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from contracts import ConsentWithdrawn, ReferralErased
from notifications import consumers
from notifications.domain import Language, OperatorReader, PartnerReader
from notifications.services import Clock
from notifications.store import NotificationsUnitOfWork
from runtime.consumer import EventConsumer, IncomingRecord
from runtime.storage import UnitOfWork, utcnow

ORG = uuid4()
OTHER_ORG = uuid4()
PARTNER = PartnerReader(ORG)
OTHER_PARTNER = PartnerReader(OTHER_ORG)
OPERATOR = OperatorReader("operator-anna")
OTHER_OPERATOR = OperatorReader("operator-bo")
NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
LEASE = timedelta(seconds=30)


def consent_withdrawn(referral_id: UUID, *organization_ids: UUID) -> ConsentWithdrawn:
    """The citizen withdrew consent to the referral, offered to `organization_ids`."""
    return ConsentWithdrawn(
        referral_id=referral_id, organization_ids=list(organization_ids), withdrawn_at=NOW
    )


def referral_erased(referral_id: UUID, *organization_ids: UUID) -> ReferralErased:
    """The citizen's data was erased; the referral was offered to `organization_ids`."""
    return ReferralErased(
        referral_id=referral_id, organization_ids=list(organization_ids), erased_at=NOW
    )


StartUow = Callable[[], NotificationsUnitOfWork]


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
