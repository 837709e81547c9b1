"""The referrals store on the real databases: SQLite and PostgreSQL."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from contracts import Match, MatchesFound
from referrals import services
from referrals.app import MIGRATIONS
from referrals.domain import ReferralStatus
from referrals.privacy import IdentityVault
from referrals.store import ReferralsUnitOfWork
from runtime.migrations import upgrade
from runtime.storage import inbox, outbox

VAULT = IdentityVault(Fernet.generate_key().decode(), "k" * 32)


@pytest.fixture
def start_uow(engine_for: Callable[[str], Engine]) -> Callable[[], ReferralsUnitOfWork]:
    engine = engine_for("referrals")
    upgrade(MIGRATIONS, engine)
    factory = sessionmaker(engine, class_=Session, expire_on_commit=False)
    return lambda: ReferralsUnitOfWork(factory, "/brobygger/referrals")


def command(key: str | None = "key-1") -> services.SubmitReferral:
    return services.SubmitReferral(
        submitted_by="care-1",
        personal_number="0101401234",
        name="Inger Jensen",
        district="Nørrebro",
        interests=["walking"],
        languages=["da"],
        idempotency_key=key,
    )


def count(start_uow: Callable[[], ReferralsUnitOfWork], table: object) -> int:
    with start_uow() as uow:
        return int(uow.session.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_submitted_referral_and_its_outbox_row_are_stored_together(
    start_uow: Callable[[], ReferralsUnitOfWork],
) -> None:
    referral, _ = services.submit_referral(command(), start_uow, VAULT)
    stored = services.get_referral(referral.id, start_uow)
    assert stored.status is ReferralStatus.SUBMITTED
    assert stored.submitted_at.tzinfo is not None
    with start_uow() as uow:
        row = uow.session.execute(select(outbox)).one()
    assert row.key == str(referral.id)
    assert row.headers["ce_type"] == "dk.brobygger.referrals.referral.submitted.v1"
    assert row.published_at is None


def test_the_idempotency_key_holds_in_the_database(
    start_uow: Callable[[], ReferralsUnitOfWork],
) -> None:
    first, _ = services.submit_referral(command(), start_uow, VAULT)
    again, created = services.submit_referral(command(), start_uow, VAULT)
    assert (again.id, created) == (first.id, False)
    services.submit_referral(command(key=None), start_uow, VAULT)
    assert count(start_uow, outbox) == 2


def test_an_offer_is_saved_with_the_referral_and_the_inbox_row(
    start_uow: Callable[[], ReferralsUnitOfWork],
) -> None:
    referral, _ = services.submit_referral(command(), start_uow, VAULT)
    org = uuid4()
    found = MatchesFound(
        referral_id=referral.id,
        matches=[
            Match(
                service_id=uuid4(),
                organization_id=org,
                service_name="Gågruppe",
                score=5,
                reasons=["interest:walking"],
            )
        ],
    )
    with start_uow() as uow:
        uow.record_processed("event-1", found.event_type, "/brobygger/directory")
        services.offer_to_best_match(found, uow, timedelta(hours=72))
    stored = services.get_referral(referral.id, start_uow)
    assert stored.status is ReferralStatus.OFFERED
    assert stored.current_offer is not None
    assert stored.current_offer.organization_id == org
    assert stored.current_offer.expires_at > datetime.now(UTC)
    assert count(start_uow, inbox) == 1
    assert count(start_uow, outbox) == 2


def test_a_failed_handler_leaves_no_inbox_row(
    start_uow: Callable[[], ReferralsUnitOfWork],
) -> None:
    found = MatchesFound(
        referral_id=uuid4(),
        matches=[
            Match(
                service_id=uuid4(), organization_id=uuid4(), service_name="x", score=1, reasons=[]
            )
        ],
    )
    with start_uow() as uow:
        uow.record_processed("event-2", found.event_type, "/brobygger/directory")
        with pytest.raises(services.ReferralNotFound):
            services.offer_to_best_match(found, uow, timedelta(hours=1))
    assert count(start_uow, inbox) == 0
