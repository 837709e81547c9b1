"""What the referrals tests share: the people who act, and referrals walked into each state
through the domain's own methods."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from referrals import services
from referrals.domain import (
    Accompaniment,
    Actor,
    CancelReason,
    Candidate,
    Consent,
    ConsentMethod,
    FailReason,
    HoldReason,
    KnownService,
    Party,
    Referral,
    ReferralStatus,
)
from referrals.privacy import MasterKeys, Vault
from referrals.services import UnitOfWorkFactory
from runtime.clock import Clock
from tests.events import matches_found
from tests.referrals.fakes import FakeDataKeyStore, FakeUnitOfWork

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
TTL = timedelta(hours=72)
CITY = ZoneInfo("Europe/Copenhagen")
MASTER_KEY = "test-1:" + base64.b64encode(bytes(range(32))).decode()
"""A master key id and 32 bytes, base64, as REFERRALS_MASTER_KEYS holds them."""
VAULT = Vault(
    MasterKeys.parse(MASTER_KEY),
    FakeDataKeyStore(),
    blind_index_key=b"blind-index-key-of-the-tests-0123456789",
    fingerprint_key=b"fingerprint-key-of-the-tests-0123456789",
)
CARE = Actor(Party.CARE_SYSTEM, "care-1")
OPERATOR = Actor(Party.OPERATOR, "operator-anna")

NOTE = "Hard of hearing, loves singing"
PERSONAL_DATA = (
    "0101401234",
    "010140-1234",
    "Inger",
    "Jensen",
    "Jagtvej",
    "12 34 56 78",
    "Hard of hearing",
    "loves singing",
)
"""The citizen's identity and the note as the tests submit them: none of it may leave
referrals."""
REFERENCE = r"^ref_[a-z2-7]{26}$"
"""A referral's random reference: `ref_` and 26 base32 characters."""


def consent(**changes: object) -> Consent:
    """The consent of a care worker's record, with `changes`."""
    fields: dict[str, object] = {
        "given_on": NOW.date(),
        "recorded_by": "cw-4711",
        "how": ConsentMethod.VERBAL,
        "share_contact_details": True,
        "follow_up_questions": True,
    }
    fields.update(changes)
    return Consent(**fields)  # type: ignore[arg-type]


def partner(organization_id: UUID) -> Actor:
    return Actor(Party.PARTNER, f"coordinator-{organization_id}", organization_id)


def candidate(organization_id: UUID | None = None) -> Candidate:
    return Candidate(uuid4(), organization_id or uuid4(), 1.0, ["interest:walking"])


def known(of: Candidate, *, active: bool = True, free_places: int = 3) -> dict[UUID, KnownService]:
    return {of.service_id: KnownService(of.service_id, of.organization_id, active, free_places)}


def new_referral(*, share_contact_details: bool = True) -> Referral:
    return Referral.submit(
        Referral(
            id=uuid4(),
            submitted_by=CARE.subject,
            citizen_ref="ref_abcdefghijklmnopqrstuvwxyz",
            age_band="80-84",
            district="Nørrebro",
            interests=["walking"],
            languages=["da"],
            needs=["wheelchair_access"],
            consent=consent(share_contact_details=share_contact_details),
            submitted_at=NOW,
        )
    )


def referral_in(status: ReferralStatus, *, candidates: int = 2) -> Referral:
    """A referral walked to `status` through the domain's methods, offered (if at all) to
    the first of `candidates` organisations; its events so far are cleared."""
    referral = new_referral()
    offered = [candidate() for _ in range(candidates)]
    if status is ReferralStatus.ESCALATED:
        referral.no_match(NOW)
    elif status is ReferralStatus.CANCELLED:
        referral.cancel(CARE, CancelReason.DUPLICATE, None, NOW)
    elif status is not ReferralStatus.SUBMITTED:
        referral.receive_candidates(offered, {}, NOW, TTL)
    holder = partner(offered[0].organization_id)
    if status in (
        ReferralStatus.ACCEPTED,
        ReferralStatus.IN_PROGRESS,
        ReferralStatus.ON_HOLD,
        ReferralStatus.COMPLETED,
        ReferralStatus.FAILED,
    ):
        referral.accept(holder, NOW)
    if status in (ReferralStatus.IN_PROGRESS, ReferralStatus.ON_HOLD):
        referral.record_first_meeting(holder, NOW.date(), Accompaniment.VOLUNTEER, NOW)
    if status is ReferralStatus.ON_HOLD:
        referral.put_on_hold(holder, HoldReason.CITIZEN_ILL, None, NOW)
    if status is ReferralStatus.COMPLETED:
        referral.complete(holder, None, NOW)
    if status is ReferralStatus.FAILED:
        referral.fail(holder, FailReason.CITIZEN_NOT_INTERESTED, None, NOW)
    assert referral.status is status
    referral.events.clear()
    referral.care_events.clear()
    return referral


def the_partner(referral: Referral) -> Actor:
    """The partner of the organisation holding the referral's latest offer, or of the one
    it would be offered to next."""
    if referral.offers:
        return partner(referral.offers[-1].organization_id)
    first = referral.candidates[0].organization_id if referral.candidates else uuid4()
    return partner(first)


def submit_command(**changes: object) -> services.SubmitReferral:
    fields: dict[str, object] = {
        "submitted_by": "care-1",
        "personal_number": "010140-1234",
        "name": "Inger Jensen",
        "address": "Jagtvej 1, 2200 København N",
        "phone": "+45 12 34 56 78",
        "district": "Nørrebro",
        "interests": ["Walking ", "chess"],
        "languages": ["da"],
        "consent": consent(),
        "note": NOTE,
        "idempotency_key": f"key-{uuid4()}",
    }
    fields.update(changes)
    return services.SubmitReferral(**fields)  # type: ignore[arg-type]


def submitted(start_uow: UnitOfWorkFactory, clock: Clock, **changes: object) -> Referral:
    """A referral submitted through the use case, with `changes` to its command."""
    referral, _ = services.submit_referral(submit_command(**changes), start_uow, VAULT, clock)
    return referral


def offered(
    start_uow: UnitOfWorkFactory, clock: Clock, *organizations: UUID, **changes: object
) -> Referral:
    """A referral directory found `organizations` for, offered to the first; as stored."""
    referral = submitted(start_uow, clock, **changes)
    with start_uow() as uow:
        services.offer_to_candidates(matches_found(referral.id, *organizations), uow, TTL, clock)
        stored = uow.referrals.get(referral.id)
    assert stored is not None
    return stored


def city_day(at: datetime) -> date:
    """The day `at` falls on in Copenhagen, as partners report dates."""
    return at.astimezone(CITY).date()


def events_since(uow: FakeUnitOfWork, count: int) -> list[type]:
    """The types of the events committed after the first `count`."""
    return [type(e) for e in uow.committed_events[count:]]
