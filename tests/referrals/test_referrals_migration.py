"""Revision 0003 brings referrals stored before the lifecycle into it: `unmatched` becomes
`escalated` for want of a match, and an open offer gets its expiry timer and its
organisation's view."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from uuid import UUID, uuid4

from alembic import command
from sqlalchemy import JSON, Boolean, Engine, LargeBinary, String, Uuid, column, insert, table
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from referrals import services
from referrals.app import MIGRATIONS
from referrals.domain import (
    OFFER_EXPIRY,
    EscalationReason,
    OfferStatus,
    ReferralStatus,
)
from referrals.privacy import CitizenIdentity
from referrals.store import ReferralsUnitOfWork, TimerRow
from runtime.migrations import alembic_config
from runtime.storage import UTCDateTime
from tests.fakes import FakeClock
from tests.referrals.support import NOW, TTL, VAULT, partner

REFERRAL_0002 = table(
    "referral",
    column("id", Uuid()),
    column("submitted_by", String()),
    column("citizen_ref", String()),
    column("identity_ciphertext", LargeBinary()),
    column("age_band", String()),
    column("district", String()),
    column("interests", JSON()),
    column("languages", JSON()),
    column("needs", JSON()),
    column("share_contact_details", Boolean()),
    column("status", String()),
    column("submitted_at", UTCDateTime()),
)
OFFER_0002 = table(
    "offer",
    column("id", Uuid()),
    column("referral_id", Uuid()),
    column("organization_id", Uuid()),
    column("service_id", Uuid()),
    column("status", String()),
    column("offered_at", UTCDateTime()),
    column("expires_at", UTCDateTime()),
)


def old_referral(status: str, district: str, minutes: int) -> dict[str, object]:
    return {
        "id": uuid4(),
        "submitted_by": "care-1",
        "citizen_ref": "cit_0123456789abcdef0123456789abcdef",
        "identity_ciphertext": VAULT.seal(CitizenIdentity("0101401234", "Inger Jensen")),
        "age_band": "80-84",
        "district": district,
        "interests": ["walking"],
        "languages": ["da"],
        "needs": [],
        "share_contact_details": True,
        "status": status,
        "submitted_at": NOW + timedelta(minutes=minutes),
    }


def test_referrals_from_before_join_the_lifecycle_through_revision_0003(
    engine_for: Callable[[str], Engine],
) -> None:
    engine = engine_for("referrals")
    config = alembic_config(MIGRATIONS, engine)
    command.upgrade(config, "0002")
    unmatched = old_referral("unmatched", "Valby", 0)
    waiting = old_referral("offered", "Nørrebro", 1)
    organization = uuid4()
    offer = {
        "id": uuid4(),
        "referral_id": waiting["id"],
        "organization_id": organization,
        "service_id": uuid4(),
        "status": "pending",
        "offered_at": NOW,
        "expires_at": NOW + TTL,
    }
    with engine.begin() as connection:
        connection.execute(insert(REFERRAL_0002), [unmatched, waiting])
        connection.execute(insert(OFFER_0002), [offer])

    command.upgrade(config, "head")
    factory = sessionmaker(engine, class_=Session, expire_on_commit=False)

    def start_uow() -> ReferralsUnitOfWork:
        return ReferralsUnitOfWork(factory, "/brobygger/referrals")

    with start_uow() as uow:
        escalated, total = uow.referrals.escalated("valby", 0, 10)
        listed, _ = uow.referrals.offered_to(organization, "offered", 0, 10)
        due = uow.session.execute(TimerRow.__table__.select()).all()  # type: ignore[attr-defined]
    assert (total, escalated[0].id) == (1, unmatched["id"])
    assert (escalated[0].status, escalated[0].escalation_reason, escalated[0].escalated_at) == (
        ReferralStatus.ESCALATED,
        EscalationReason.NO_MATCH,
        unmatched["submitted_at"],
    )
    assert (escalated[0].needs_accompaniment, escalated[0].version) == (False, 0)
    assert [r.id for r in listed] == [waiting["id"]]
    assert [(t.referral_id, t.kind, t.key, t.due_at) for t in due] == [
        (waiting["id"], OFFER_EXPIRY, offer["id"], NOW + TTL)
    ]

    # The old offer lives on: it expires on time, and its organisation may answer it.
    clock = FakeClock(NOW + TTL)
    lifecycle = services.Lifecycle(start_uow, TTL, clock)
    waiting_id = waiting["id"]
    assert isinstance(waiting_id, UUID)
    assert services.get_referral(waiting_id, partner(organization), start_uow).version == 0
    assert services.fire_due_timers(lifecycle) == 1
    expired = services.get_referral(waiting_id, partner(organization), start_uow)
    assert [o.status for o in expired.offers] == [OfferStatus.EXPIRED]
    assert expired.status is ReferralStatus.ESCALATED
