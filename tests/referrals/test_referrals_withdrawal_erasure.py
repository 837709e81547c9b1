"""Consent withdrawn, a citizen erased, and the audit log of every read of personal data: the
use cases on in-memory fakes, with a clock the tests move."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from contracts import (
    ConsentWithdrawn,
    OfferWithdrawn,
    ReferralAccepted,
    ReferralCancelled,
    ReferralErased,
)
from referrals import services
from referrals.domain import (
    Actor,
    ConsentMethod,
    ErasureBasis,
    Forbidden,
    IdentityPurpose,
    InvalidPersonalNumber,
    InvalidTransition,
    Party,
    ReferralStatus,
)
from referrals.privacy import KeyUnavailable
from referrals.store import ConcurrentUpdate
from runtime.audit import AuditEntry
from tests.events import matches_found, no_match_found
from tests.fakes import FakeClock
from tests.referrals.fakes import FakeUnitOfWork
from tests.referrals.support import (
    CARE,
    NOTE,
    OPERATOR,
    PERSONAL_DATA,
    TTL,
    VAULT,
    events_since,
    offered,
    partner,
    submitted,
)

PERSONAL_NUMBER = "010140-1234"
"""The citizen `submit_command` refers, unless told otherwise."""
SOMEONE_ELSE = {"personal_number": "020341-1234", "name": "Karl Hansen"}


def accepted(uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle) -> UUID:
    organisation = uuid4()
    referral = offered(uow, clock, organisation)
    services.accept_offer(referral.id, partner(organisation), lifecycle)
    return referral.id


def holder(uow: FakeUnitOfWork, referral_id: UUID) -> Actor:
    return partner(uow.stored(referral_id).offers[-1].organization_id)


def citizen_of(uow: FakeUnitOfWork, referral_id: UUID) -> UUID:
    citizen_id = uow.tables.referrals[referral_id][1].citizen_id
    assert citizen_id is not None
    return citizen_id


def erase(
    lifecycle: services.Lifecycle,
    personal_number: str = PERSONAL_NUMBER,
    basis: ErasureBasis = ErasureBasis.GDPR_ART17_REQUEST,
) -> services.Erasure:
    command = services.EraseCitizen(personal_number, basis)
    return services.erase_citizen(command, OPERATOR, lifecycle, VAULT)


# --- the audit log of reads ------------------------------------------------------------------


def test_reading_the_contact_details_and_the_note_writes_an_audit_entry_with_each_read(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    referral_id = accepted(uow, clock, lifecycle)
    reader = holder(uow, referral_id)
    commits = uow.commits

    identity = services.contact_details(referral_id, reader, lifecycle, VAULT)
    clock.advance(timedelta(minutes=5))
    note = services.note(referral_id, reader, lifecycle, VAULT)

    assert (identity.name, note) == ("Inger Jensen", NOTE)
    assert uow.commits == commits + 2, "each read commits its entry"
    read_at = clock.now - timedelta(minutes=5)
    assert uow.tables.audit_log == [
        AuditEntry(
            at=read_at,
            subject=reader.subject,
            role="partner",
            organization_id=reader.organization_id,
            action="contact_details.read",
            referral_id=referral_id,
            fields=("name", "phone", "address"),
            purpose="contact_citizen",
        ),
        AuditEntry(
            at=clock.now,
            subject=reader.subject,
            role="partner",
            organization_id=reader.organization_id,
            action="note.read",
            referral_id=referral_id,
            fields=("note",),
            purpose="carry_out_referral",
        ),
    ]


def test_a_refused_read_of_personal_data_writes_no_audit_entry(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    organisation = uuid4()
    referral = offered(uow, clock, organisation)  # offered, not accepted
    with pytest.raises(services.ContactNotShared):
        services.contact_details(referral.id, partner(organisation), lifecycle, VAULT)
    with pytest.raises(services.NoteNotShared):
        services.note(referral.id, partner(organisation), lifecycle, VAULT)
    with pytest.raises(services.ReferralNotFound):
        services.contact_details(referral.id, partner(uuid4()), lifecycle, VAULT)
    assert uow.tables.audit_log == []


def test_an_operator_sees_the_citizens_identity_saying_why_and_the_read_is_audited(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    referral = submitted(uow, clock)

    identity = services.citizen_identity(
        referral.id, IdentityPurpose.ESCALATION, OPERATOR, lifecycle, VAULT
    )

    assert identity.personal_number == "0101401234"
    assert (identity.name, identity.address, identity.phone) == (
        "Inger Jensen",
        "Jagtvej 1, 2200 København N",
        "+45 12 34 56 78",
    )
    [entry] = uow.tables.audit_log
    assert entry == AuditEntry(
        at=clock.now,
        subject=OPERATOR.subject,
        role="operator",
        action="citizen_identity.read",
        referral_id=referral.id,
        fields=("personal_number", "name", "address", "phone"),
        purpose="escalation",
    )


@pytest.mark.parametrize("actor", [CARE, partner(uuid4())], ids=["care_system", "partner"])
def test_no_one_but_an_operator_sees_the_citizens_identity(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle, actor: Actor
) -> None:
    referral = submitted(uow, clock)
    with pytest.raises(Forbidden):
        services.citizen_identity(referral.id, IdentityPurpose.INCIDENT, actor, lifecycle, VAULT)
    assert uow.tables.audit_log == []


# --- consent withdrawn -----------------------------------------------------------------------


def test_withdrawing_consent_cancels_withdraws_the_offer_drops_its_timer_and_is_audited(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    organisation = uuid4()
    referral = offered(uow, clock, organisation)
    assert uow.tables.timers, "the offer's expiry is pending"
    events, commits = len(uow.committed_events), uow.commits

    withdrawn = services.withdraw_consent(
        referral.id, services.WithdrawConsent("cw-0815", ConsentMethod.WRITTEN), CARE, lifecycle
    )

    assert uow.commits == commits + 1, "the change, its events and its audit entry at once"
    assert withdrawn.status is ReferralStatus.CANCELLED
    stored = uow.stored(referral.id)
    assert stored.consent.withdrawal is not None
    assert (stored.consent.withdrawal.at, stored.consent.withdrawal.recorded_by) == (
        clock.now,
        "cw-0815",
    )
    assert events_since(uow, events) == [OfferWithdrawn, ReferralCancelled, ConsentWithdrawn]
    assert uow.committed_events[-1] == ConsentWithdrawn(
        referral_id=referral.id, organization_ids=[organisation], withdrawn_at=clock.now
    )
    assert uow.tables.timers == {}
    assert uow.tables.audit_log == [
        AuditEntry(
            at=clock.now,
            subject=CARE.subject,
            role="care_system",
            action="consent.withdrawn",
            referral_id=referral.id,
            fields=("consent.withdrawal",),
            purpose="citizen_withdrew_consent",
        )
    ]


def test_after_withdrawal_neither_contact_details_nor_note_are_served_to_the_holder(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    referral_id = accepted(uow, clock, lifecycle)
    reader = holder(uow, referral_id)
    services.withdraw_consent(referral_id, services.WithdrawConsent(), OPERATOR, lifecycle)
    entries = list(uow.tables.audit_log)

    with pytest.raises(services.ConsentWasWithdrawn, match="withdrew consent"):
        services.contact_details(referral_id, reader, lifecycle, VAULT)
    with pytest.raises(services.ConsentWasWithdrawn, match="withdrew consent"):
        services.note(referral_id, reader, lifecycle, VAULT)
    assert uow.tables.audit_log == entries, "nothing was read"


def test_a_second_withdrawal_is_refused_and_commits_nothing(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    referral = offered(uow, clock, uuid4())
    services.withdraw_consent(referral.id, services.WithdrawConsent(), CARE, lifecycle)
    events, commits, entries = len(uow.committed_events), uow.commits, len(uow.tables.audit_log)
    with pytest.raises(InvalidTransition):
        services.withdraw_consent(referral.id, services.WithdrawConsent(), OPERATOR, lifecycle)
    assert (len(uow.committed_events), uow.commits, len(uow.tables.audit_log)) == (
        events,
        commits,
        entries,
    )


def test_another_care_system_cannot_withdraw_consent_it_is_told_the_referral_does_not_exist(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    referral = offered(uow, clock, uuid4())
    with pytest.raises(services.ReferralNotFound):
        services.withdraw_consent(
            referral.id, services.WithdrawConsent(), Actor(Party.CARE_SYSTEM, "care-2"), lifecycle
        )
    assert uow.stored(referral.id) == referral


def test_consent_withdrawn_from_a_completed_referral_still_tells_its_organisation(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    referral_id = accepted(uow, clock, lifecycle)
    organisation = holder(uow, referral_id)
    services.complete(referral_id, None, organisation, lifecycle)
    events = len(uow.committed_events)
    services.withdraw_consent(referral_id, services.WithdrawConsent(), CARE, lifecycle)
    assert events_since(uow, events) == [ConsentWithdrawn]
    assert uow.stored(referral_id).status is ReferralStatus.COMPLETED


# --- erasure ---------------------------------------------------------------------------------


def test_erasing_a_citizen_erases_every_referral_of_theirs_and_destroys_their_key(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    first_org = uuid4()
    held = accepted(uow, clock, lifecycle)
    pending = offered(uow, clock, first_org).id
    escalated = submitted(uow, clock).id
    with uow() as unit:
        services.escalate_unmatched(no_match_found(referral_id=escalated), unit, clock)
    other = submitted(uow, clock, **SOMEONE_ELSE).id
    citizen = citizen_of(uow, held)
    assert citizen_of(uow, pending) == citizen != citizen_of(uow, other)
    held_by = holder(uow, held).organization_id
    events, commits = len(uow.committed_events), uow.commits
    clock.advance(timedelta(days=1))

    done = erase(lifecycle, basis=ErasureBasis.CONSENT_WITHDRAWN)

    assert set(done.referral_ids) == {held, pending, escalated}
    assert done.erased_at == clock.now
    assert uow.commits == commits + 1
    sent: dict[UUID, list[type]] = {}
    for event in uow.committed_events[events:]:
        sent.setdefault(event.referral_id, []).append(type(event))  # type: ignore[attr-defined]
    assert sent == {
        held: [ReferralCancelled, ReferralErased],  # the place it took is given back
        pending: [OfferWithdrawn, ReferralCancelled, ReferralErased],
        escalated: [ReferralCancelled, ReferralErased],
    }
    erased = [e for e in uow.committed_events if isinstance(e, ReferralErased)]
    assert {e.referral_id: e.organization_ids for e in erased} == {
        held: [held_by],
        pending: [first_org],
        escalated: [],
    }
    # Nothing of the citizen is left: not the key, not the identity, not the referrals.
    assert citizen not in VAULT.data_keys.keys  # type: ignore[attr-defined]
    assert citizen not in uow.tables.citizens
    assert set(uow.tables.referrals) == {other}
    assert {key[0] for key in uow.tables.timers} <= {other}
    assert {resource for _, resource in uow.keys.values()} == {str(other)}, "no request MAC"
    assert set(uow.tables.erased) == {held, pending, escalated}
    # Someone else is untouched.
    assert services.get_referral(other, CARE, uow).status is ReferralStatus.SUBMITTED


def test_the_audit_log_keeps_who_erased_which_referral_and_why_and_nothing_of_the_citizen(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    first = submitted(uow, clock).id
    second = submitted(uow, clock).id

    erase(lifecycle, basis=ErasureBasis.LEGAL_OBLIGATION)

    entries = uow.tables.audit_log
    assert {(e.action, e.referral_id, e.purpose, e.subject, e.role) for e in entries} == {
        ("citizen.erased", first, "legal_obligation", OPERATOR.subject, "operator"),
        ("citizen.erased", second, "legal_obligation", OPERATOR.subject, "operator"),
    }
    assert len(entries) == 2
    assert entries[0].fields == (
        "personal_number",
        "name",
        "address",
        "phone",
        "note",
        "history.text",
    )
    written = repr(entries)
    assert not [part for part in PERSONAL_DATA if part in written]


def test_an_erased_referral_answers_gone_to_whoever_knew_of_it_and_not_found_to_others(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    organisation = uuid4()
    referral = offered(uow, clock, organisation)
    erase(lifecycle)

    for actor in (CARE, OPERATOR, partner(organisation)):
        with pytest.raises(services.ReferralErased):
            services.get_referral(referral.id, actor, uow)
    for actor in (Actor(Party.CARE_SYSTEM, "care-2"), partner(uuid4())):
        with pytest.raises(services.ReferralNotFound):
            services.get_referral(referral.id, actor, uow)
    with pytest.raises(services.ReferralErased):
        services.accept_offer(referral.id, partner(organisation), lifecycle)
    with pytest.raises(services.ReferralErased):
        services.withdraw_consent(referral.id, services.WithdrawConsent(), CARE, lifecycle)
    with pytest.raises(services.ReferralErased):
        services.contact_details(referral.id, partner(organisation), lifecycle, VAULT)


def test_an_unknown_personal_number_erases_nothing(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    referral = submitted(uow, clock)
    keys, commits = dict(VAULT.data_keys.keys), uow.commits  # type: ignore[attr-defined]
    with pytest.raises(services.CitizenNotFound):
        erase(lifecycle, personal_number="020341-1234")
    with pytest.raises(InvalidPersonalNumber):
        erase(lifecycle, personal_number="290241-1234")  # 1941 had no 29 February
    assert VAULT.data_keys.keys == keys  # type: ignore[attr-defined]
    assert (uow.commits, uow.stored(referral.id).status) == (commits, ReferralStatus.SUBMITTED)


def test_a_second_erasure_of_the_same_citizen_finds_no_one(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    submitted(uow, clock)
    erase(lifecycle)
    with pytest.raises(services.CitizenNotFound):
        erase(lifecycle)


def test_a_crash_after_the_key_is_destroyed_leaves_nothing_readable_and_a_retry_completes(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    referral_id = accepted(uow, clock, lifecycle)
    citizen = citizen_of(uow, referral_id)
    stored_citizen = uow.tables.citizens[citizen]
    events = len(uow.committed_events)
    uow.crashes.append(RuntimeError("the process died"))

    with pytest.raises(RuntimeError):
        erase(lifecycle)

    # The key went first, in the key store's own commit; the rest was rolled back.
    assert citizen not in VAULT.data_keys.keys  # type: ignore[attr-defined]
    assert uow.tables.citizens[citizen] == stored_citizen
    assert uow.stored(referral_id).status is ReferralStatus.ACCEPTED
    assert events_since(uow, events) == []
    with pytest.raises(KeyUnavailable):
        VAULT.data_key(citizen).open_identity(stored_citizen.identity)
    with pytest.raises(KeyUnavailable):
        services.contact_details(referral_id, holder(uow, referral_id), lifecycle, VAULT)

    done = erase(lifecycle)

    assert done.referral_ids == [referral_id]
    assert citizen not in uow.tables.citizens
    assert events_since(uow, events) == [ReferralCancelled, ReferralErased]
    assert [e.action for e in uow.tables.audit_log if e.action == "citizen.erased"] == [
        "citizen.erased"
    ]


def test_an_erasure_that_lost_a_race_with_a_partner_is_redone_on_the_referral_as_it_now_is(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    organisation = uuid4()
    referral = offered(uow, clock, organisation)
    uow.other_writers.append(
        lambda rid: uow.commit_elsewhere(rid, lambda r: r.accept(partner(organisation), clock.now))
    )
    events = len(uow.committed_events)

    erase(lifecycle)

    assert events_since(uow, events) == [ReferralAccepted, ReferralCancelled, ReferralErased]
    cancelled = uow.committed_events[-2]
    assert isinstance(cancelled, ReferralCancelled)
    assert cancelled.organization_id == organisation, "the place the partner took is freed"
    assert set(uow.tables.erased) == {referral.id}


def test_an_erasure_that_keeps_losing_races_gives_up_with_nothing_but_the_key_gone(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    referral = offered(uow, clock, uuid4())
    uow.other_writers.extend(
        [lambda rid: uow.commit_elsewhere(rid, lambda r: None)] * services.MAX_TRIES
    )
    with pytest.raises(ConcurrentUpdate):
        erase(lifecycle)
    assert uow.stored(referral.id).status is ReferralStatus.OFFERED
    assert uow.tables.erased == {} and uow.tables.audit_log == []


def test_directorys_late_answer_about_an_erased_referral_is_taken_and_changes_nothing(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    referral = submitted(uow, clock)
    erase(lifecycle)
    events = len(uow.committed_events)
    with uow() as unit:
        services.offer_to_candidates(matches_found(referral.id, uuid4()), unit, TTL, clock)
    with uow() as unit:
        services.escalate_unmatched(no_match_found(referral_id=referral.id), unit, clock)
    assert events_since(uow, events) == []
    assert referral.id not in uow.tables.referrals
