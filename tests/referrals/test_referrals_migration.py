"""Revision 0003 brings referrals stored before the lifecycle into it: `unmatched` becomes
`escalated` for want of a match, and an open offer gets its expiry timer and its
organisation's view. Revision 0004 and the start-up after it bring identities stored under
the one Fernet key of before into per-citizen keys. Revision 0005 adds the consent's
withdrawal, erasure tombstones and the audit log."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from alembic import command
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy import (
    JSON,
    Boolean,
    Engine,
    LargeBinary,
    String,
    Uuid,
    column,
    insert,
    inspect,
    table,
    text,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from referrals import services
from referrals.app import MIGRATIONS, create_app
from referrals.domain import (
    OFFER_EXPIRY,
    EscalationReason,
    OfferStatus,
    Referral,
    ReferralStatus,
)
from referrals.store import ReferralsUnitOfWork, TimerRow
from runtime.audit import AuditEntry, append
from runtime.auth import Role
from runtime.migrations import alembic_config
from runtime.storage import UTCDateTime
from tests.conftest import log_events
from tests.fakes import FakeClock
from tests.kit import auth_header
from tests.referrals.support import NOW, TTL, partner

LEGACY_KEY = Fernet.generate_key().decode()
LEGACY = Fernet(LEGACY_KEY)
"""The one Fernet key identities were encrypted with before per-citizen keys."""

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
        "identity_ciphertext": LEGACY.encrypt(
            json.dumps({"personal_number": "0101401234", "name": "Inger Jensen"}).encode()
        ),
        "age_band": "80-84",
        "district": district,
        "interests": ["walking"],
        "languages": ["da"],
        "needs": [],
        "share_contact_details": True,
        "status": status,
        "submitted_at": NOW + timedelta(minutes=minutes),
    }


def kept_through_upgrade(engine: Engine, revision: str, row: dict[str, object]) -> Referral | None:
    """Store `row` as a referral of revision `revision`, upgrade to the newest revision
    (checking that the models and the revisions then agree, as autogenerate compares them,
    column types included), and read the referral back."""
    config = alembic_config(MIGRATIONS, engine)
    command.upgrade(config, revision)
    with engine.begin() as connection:
        connection.execute(insert(REFERRAL_0002), [row])
    command.upgrade(config, "head")
    command.check(config)
    factory = sessionmaker(engine, class_=Session, expire_on_commit=False)
    with ReferralsUnitOfWork(factory, "/brobygger/referrals") as uow:
        return uow.referrals.get(UUID(str(row["id"])))


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


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_identities_from_before_are_converted_at_start_up_only_with_the_legacy_key(
    engine_for: Callable[[str], Engine],
    offline_service_env: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine, keys = engine_for("referrals"), engine_for("referrals_keys")
    command.upgrade(alembic_config(MIGRATIONS, engine), "0003")
    held = old_referral("accepted", "Nørrebro", 0)
    organization = uuid4()
    with engine.begin() as connection:
        connection.execute(insert(REFERRAL_0002), [held])
        connection.execute(
            insert(OFFER_0002),
            [
                {
                    "id": uuid4(),
                    "referral_id": held["id"],
                    "organization_id": organization,
                    "service_id": uuid4(),
                    "status": "accepted",
                    "offered_at": NOW,
                    "expires_at": NOW + TTL,
                }
            ],
        )
    offline_service_env.setenv("REFERRALS_DATABASE_URL", url_of(engine))
    offline_service_env.setenv("REFERRALS_KEYSTORE_URL", url_of(keys))
    contact = f"/partner/referrals/{held['id']}/contact"
    coordinator = auth_header(Role.PARTNER, organization_id=organization)
    caplog.set_level("INFO")

    with TestClient(create_app()) as client:  # migrates to 0004; no legacy key
        refused = client.get(contact, headers=coordinator)
    assert refused.status_code == 409
    assert "REFERRALS_LEGACY_IDENTITY_KEY" in refused.json()["detail"]
    assert "Inger" not in refused.text
    [waiting] = [e for e in log_events(caplog) if e["event"] == "legacy.waiting"]
    assert waiting["referrals"] == 1
    assert "REFERRALS_LEGACY_IDENTITY_KEY" in waiting["detail"]

    caplog.clear()
    offline_service_env.setenv("REFERRALS_LEGACY_IDENTITY_KEY", LEGACY_KEY)
    with TestClient(create_app()) as client:
        shared = client.get(contact, headers=coordinator)
        shown = client.get(f"/referrals/{held['id']}", headers=auth_header(Role.OPERATOR))
        again = client.post(
            "/referrals",
            json={
                "citizen": {"personal_number": "010140-1234", "name": "Inger Jensen"},
                "district": "Nørrebro",
                "interests": ["walking"],
                "languages": ["da"],
                "consent": {"referral": True, "given_on": "2026-11-20"},
            },
            headers={**auth_header(Role.CARE_SYSTEM), "Idempotency-Key": "visit-2"},
        )
    assert (shared.status_code, shared.json()["name"]) == (200, "Inger Jensen")
    assert shown.json()["citizen_ref"] == held["citizen_ref"], "what Kafka said stays true"
    assert shown.json()["consent"]["given_on"] is None, "it was not recorded then"
    assert again.status_code == 201, again.text
    events = log_events(caplog)
    assert [
        (e["converted"], e["unreadable"]) for e in events if e["event"] == "legacy.converted"
    ] == [(1, 0)]
    assert not [e for e in events if e["event"] == "legacy.waiting"]
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT citizen_id, identity_ciphertext FROM referral ORDER BY submitted_at")
        ).all()
        citizens = connection.execute(text("SELECT count(*) FROM citizen")).scalar_one()
    assert [bytes(ciphertext) for _, ciphertext in rows] == [b"", b""], "the old ciphertext is gone"
    assert rows[0][0] == rows[1][0] and citizens == 1, "found again by the blind index"


def test_after_revision_0005_the_database_is_exactly_the_models_and_the_audit_log_append_only(
    engine_for: Callable[[str], Engine],
) -> None:
    engine = engine_for("referrals")
    kept = kept_through_upgrade(engine, "0003", old_referral("offered", "Nørrebro", 0))
    assert kept is not None and kept.consent.withdrawal is None
    with Session(engine) as session:
        append(session, AuditEntry(NOW, "operator-anna", "operator", "citizen.erased", "x"))
        session.commit()
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_log"))

    command.downgrade(alembic_config(MIGRATIONS, engine), "0004")
    assert not {"audit_log", "erased_referral"} & set(inspect(engine).get_table_names())
