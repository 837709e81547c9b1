from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest
from cryptography.fernet import Fernet

from contracts import Match, MatchesFound, NoMatchFound, ReferralOffered, ReferralSubmitted
from referrals import services
from referrals.domain import InvalidPersonalNumber, ReferralStatus
from referrals.privacy import IdentityVault
from runtime.idempotency import IdempotencyConflict
from tests.referrals.fakes import FakeUnitOfWork

VAULT = IdentityVault(Fernet.generate_key().decode(), "k" * 32)
TTL = timedelta(hours=72)


def submit(**changes: object) -> services.SubmitReferral:
    fields: dict[str, object] = {
        "submitted_by": "care-1",
        "personal_number": "010140-1234",
        "name": "Inger Jensen",
        "district": "Nørrebro",
        "interests": ["Walking ", "chess"],
        "languages": ["da"],
        "idempotency_key": "key-1",
    }
    fields.update(changes)
    return services.SubmitReferral(**fields)  # type: ignore[arg-type]


def test_submitting_a_referral_stores_it_and_queues_one_submitted_event() -> None:
    uow = FakeUnitOfWork()
    referral, created = services.submit_referral(submit(), uow, VAULT, date(2026, 11, 22))
    assert created
    assert uow.referrals.get(referral.id) is not None
    [event] = uow.committed_events
    assert isinstance(event, ReferralSubmitted)
    assert event.referral_id == referral.id
    assert event.interests == ["chess", "walking"]
    assert event.age_band == "85-89"


IDENTITY = ("0101401234", "010140-1234", "Inger", "Jensen")


def test_the_submitted_event_carries_a_pseudonym_and_never_the_identity() -> None:
    uow = FakeUnitOfWork()
    services.submit_referral(submit(), uow, VAULT)
    [event] = uow.committed_events
    assert not [part for part in IDENTITY if part in event.model_dump_json()]
    assert event.citizen_ref == VAULT.pseudonym("0101401234")


def test_the_identity_is_stored_encrypted() -> None:
    uow = FakeUnitOfWork()
    referral, _ = services.submit_referral(submit(), uow, VAULT)
    ciphertext = uow.referrals.rows[referral.id][1]
    assert b"Inger" not in ciphertext
    assert VAULT.open(ciphertext).name == "Inger Jensen"


def test_a_retry_with_the_same_idempotency_key_returns_the_first_referral() -> None:
    uow = FakeUnitOfWork()
    first, _ = services.submit_referral(submit(), uow, VAULT)
    again, created = services.submit_referral(submit(), uow, VAULT)
    assert not created
    assert again.id == first.id
    assert len(uow.referrals.rows) == 1
    assert len(uow.committed_events) == 1


def test_reusing_an_idempotency_key_for_another_referral_is_a_conflict() -> None:
    uow = FakeUnitOfWork()
    services.submit_referral(submit(), uow, VAULT)
    with pytest.raises(IdempotencyConflict):
        services.submit_referral(submit(district="Valby"), uow, VAULT)
    assert len(uow.referrals.rows) == 1


def test_an_invalid_personal_number_writes_nothing() -> None:
    uow = FakeUnitOfWork()
    with pytest.raises(InvalidPersonalNumber):
        services.submit_referral(submit(personal_number="999999-9999"), uow, VAULT)
    assert uow.referrals.rows == {}
    assert uow.committed_events == []


def submitted_referral(uow: FakeUnitOfWork) -> ReferralSubmitted:
    services.submit_referral(submit(), uow, VAULT)
    event = uow.committed_events[0]
    assert isinstance(event, ReferralSubmitted)
    return event


def matches_for(referral_id: object, *scores: float) -> MatchesFound:
    return MatchesFound(
        referral_id=referral_id,
        matches=[
            Match(
                service_id=uuid4(),
                organization_id=uuid4(),
                service_name=f"s{score}",
                score=score,
                reasons=["interest:walking"],
            )
            for score in scores
        ],
    )


def test_matches_make_an_offer_to_the_first_ranked_organisation() -> None:
    uow = FakeUnitOfWork()
    submitted = submitted_referral(uow)
    found = matches_for(submitted.referral_id, 7.0, 2.0)
    services.offer_to_best_match(found, uow, TTL)
    offered = uow.committed_events[-1]
    assert isinstance(offered, ReferralOffered)
    assert offered.organization_id == found.matches[0].organization_id
    referral = uow.referrals.get(submitted.referral_id)
    assert referral is not None and referral.status is ReferralStatus.OFFERED
    assert not [part for part in IDENTITY if part in offered.model_dump_json()]
    assert offered.expires_at > datetime.now(UTC) + TTL - timedelta(minutes=1)


def test_a_second_match_list_for_an_offered_referral_changes_nothing() -> None:
    uow = FakeUnitOfWork()
    submitted = submitted_referral(uow)
    services.offer_to_best_match(matches_for(submitted.referral_id, 5.0), uow, TTL)
    events_before = list(uow.committed_events)
    services.offer_to_best_match(matches_for(submitted.referral_id, 9.0), uow, TTL)
    assert uow.committed_events == events_before


def test_no_match_leaves_the_referral_unmatched_for_an_operator() -> None:
    uow = FakeUnitOfWork()
    submitted = submitted_referral(uow)
    services.mark_unmatched(
        NoMatchFound(referral_id=submitted.referral_id, reason="no shared language"), uow
    )
    referral = uow.referrals.get(submitted.referral_id)
    assert referral is not None and referral.status is ReferralStatus.UNMATCHED


def test_matches_for_an_unknown_referral_fail_loudly() -> None:
    with pytest.raises(services.ReferralNotFound):
        services.offer_to_best_match(matches_for(uuid4(), 1.0), FakeUnitOfWork(), TTL)
