"""The referrals use cases on in-memory fakes, with a clock the tests move."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from contracts import (
    OfferExpired,
    OfferWithdrawn,
    ReferralAccepted,
    ReferralCancelled,
    ReferralEscalated,
    ReferralOffered,
    ReferralSubmitted,
)
from referrals import services
from referrals.domain import (
    OFFER_EXPIRY,
    Accompaniment,
    Actor,
    CancelReason,
    DeclineReason,
    EscalationReason,
    FailReason,
    Forbidden,
    HoldReason,
    InvalidAnswer,
    InvalidPersonalNumber,
    KnownService,
    OfferStatus,
    Party,
    ReferralStatus,
)
from referrals.privacy import CitizenIdentity
from referrals.store import ConcurrentUpdate, StoredCitizen
from runtime.idempotency import IdempotencyConflict
from tests.events import matches_found, no_match_found, service_changed
from tests.fakes import FakeClock
from tests.referrals.fakes import FakeUnitOfWork
from tests.referrals.support import (
    CARE,
    NOTE,
    NOW,
    OPERATOR,
    PERSONAL_DATA,
    REFERENCE,
    TTL,
    VAULT,
    city_day,
    consent,
    events_since,
    offered,
    partner,
    submit_command,
    submitted,
)

# --- intake -------------------------------------------------------------------------------


def test_submitting_a_referral_stores_it_and_records_one_submitted_event(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    referral, created = services.submit_referral(
        submit_command(needs_accompaniment=True), uow, VAULT, clock
    )
    assert created
    stored = uow.stored(referral.id)
    assert (stored.status, stored.submitted_at, stored.needs_accompaniment) == (
        ReferralStatus.SUBMITTED,
        NOW,
        True,
    )
    [event] = uow.committed_events
    assert isinstance(event, ReferralSubmitted)
    assert (event.referral_id, event.interests, event.age_band) == (
        referral.id,
        ["chess", "walking"],
        "85-89",
    )
    assert event.needs_accompaniment


def test_the_submitted_event_carries_a_random_reference_and_never_the_identity(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    submitted(uow, clock)
    [event] = uow.committed_events
    assert not [part for part in PERSONAL_DATA if part in event.model_dump_json()]
    assert re.match(REFERENCE, event.citizen_ref)  # type: ignore[attr-defined]


def test_two_referrals_of_one_citizen_have_different_references_and_one_citizen(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    first = submitted(uow, clock)
    second = submitted(uow, clock, personal_number="0101401234", phone="+45 87 65 43 21")
    assert first.citizen_ref != second.citizen_ref
    [citizen] = uow.tables.citizens.values()
    assert {uow.referrals.sealed(r.id).citizen_id for r in (first, second)} == {citizen.id}
    identity = VAULT.data_key(citizen.id).open_identity(citizen.identity)
    assert identity.phone == "+45 87 65 43 21", "the identity is what was sent last"


def test_the_identity_and_the_note_are_stored_sealed_with_the_citizens_key(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    referral = submitted(uow, clock)
    [citizen] = uow.tables.citizens.values()
    note = uow.referrals.sealed(referral.id).note
    assert note is not None
    for sealed in (citizen.identity, note):
        assert not [part for part in PERSONAL_DATA if part.encode() in sealed]
    key = VAULT.data_key(citizen.id)
    assert key.open_identity(citizen.identity).name == "Inger Jensen"
    assert key.open_note(referral.id, note) == NOTE


def test_a_new_citizen_added_by_another_request_meanwhile_is_found_on_the_next_try(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    key = VAULT.new_data_key(uuid4())
    theirs = StoredCitizen(
        key.citizen_id,
        VAULT.blind_index("0101401234"),
        key.seal_identity(CitizenIdentity("0101401234", "Inger Jensen")),
    )
    # Another request adds the same citizen between this one's lookup and its insert.
    uow.citizen_arrives.append(
        lambda: uow.committed_elsewhere(lambda: uow.tables.citizens.update({theirs.id: theirs}))
    )
    referral = submitted(uow, clock)
    assert list(uow.tables.citizens) == [theirs.id]
    assert uow.referrals.sealed(referral.id).citizen_id == theirs.id
    assert [type(e) for e in uow.committed_events] == [ReferralSubmitted]


def test_a_retry_with_the_same_idempotency_key_returns_the_first_referral(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    command = submit_command()
    first, _ = services.submit_referral(command, uow, VAULT, clock)
    again, created = services.submit_referral(command, uow, VAULT, clock)
    assert (again.id, created) == (first.id, False)
    assert len(uow.tables.referrals) == 1
    assert len(uow.committed_events) == 1


def test_reusing_an_idempotency_key_for_another_referral_is_a_conflict(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    services.submit_referral(submit_command(idempotency_key="k"), uow, VAULT, clock)
    with pytest.raises(IdempotencyConflict):
        services.submit_referral(
            submit_command(idempotency_key="k", district="Valby"), uow, VAULT, clock
        )
    assert len(uow.tables.referrals) == 1


def test_an_invalid_personal_number_writes_nothing(uow: FakeUnitOfWork, clock: FakeClock) -> None:
    with pytest.raises(InvalidPersonalNumber):
        submitted(uow, clock, personal_number="999999-9999")
    assert (uow.tables.referrals, uow.committed_events) == ({}, [])


# --- directory's events -------------------------------------------------------------------


def test_directorys_candidates_are_kept_and_the_first_is_offered_with_an_expiry_timer(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    first, second = uuid4(), uuid4()
    referral = offered(uow, clock, first, second)
    assert referral.status is ReferralStatus.OFFERED
    assert [c.organization_id for c in referral.candidates] == [first, second]
    [offer] = referral.offers
    assert (offer.organization_id, offer.expires_at) == (first, NOW + TTL)
    assert uow.tables.timers == {(referral.id, OFFER_EXPIRY, offer.id): NOW + TTL}
    offered_event = uow.committed_events[-1]
    assert isinstance(offered_event, ReferralOffered)
    assert not [part for part in PERSONAL_DATA if part in offered_event.model_dump_json()]


def test_a_service_directory_announced_closed_is_not_offered(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    referral = submitted(uow, clock)
    found = matches_found(referral.id, uuid4(), uuid4())
    closed = found.matches[0]
    with uow() as unit:
        services.learn_service(
            service_changed(
                service_id=closed.service_id,
                organization_id=closed.organization_id,
                status="inactive",
            ),
            unit,
        )
    with uow() as unit:
        services.offer_to_candidates(found, unit, TTL, clock)
    assert [o.organization_id for o in uow.stored(referral.id).offers] == [
        found.matches[1].organization_id
    ]


def test_an_older_service_change_arriving_late_is_ignored(uow: FakeUnitOfWork) -> None:
    newer = service_changed(free_places=0, changed_at=NOW)
    older = newer.model_copy(update={"free_places": 5, "changed_at": NOW - timedelta(1)})
    for event in (newer, older):
        with uow() as unit:
            services.learn_service(event, unit)
    assert uow.tables.services[newer.service_id][0].free_places == 0


def test_a_second_match_list_for_an_offered_referral_changes_nothing(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    referral = offered(uow, clock, uuid4())
    events = len(uow.committed_events)
    with uow() as unit:
        services.offer_to_candidates(matches_found(referral.id, uuid4()), unit, TTL, clock)
    assert uow.stored(referral.id).offers == referral.offers
    assert events_since(uow, events) == []


def test_no_match_escalates_the_referral_for_an_operator(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    referral = submitted(uow, clock)
    with uow() as unit:
        services.escalate_unmatched(no_match_found(referral_id=referral.id), unit, clock)
    stored = uow.stored(referral.id)
    assert (stored.status, stored.escalation_reason) == (
        ReferralStatus.ESCALATED,
        EscalationReason.NO_MATCH,
    )
    assert isinstance(uow.committed_events[-1], ReferralEscalated)


def test_matches_for_an_unknown_referral_fail_loudly(uow: FakeUnitOfWork, clock: FakeClock) -> None:
    with uow() as unit, pytest.raises(services.ReferralNotFound):
        services.offer_to_candidates(matches_found(uuid4(), uuid4()), unit, TTL, clock)


# --- the partner's answers ----------------------------------------------------------------


def test_a_partner_takes_a_referral_from_acceptance_to_completion(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    organisation = uuid4()
    referral = offered(uow, clock, organisation)
    holder = partner(organisation)
    clock.advance(timedelta(hours=2))
    accepted = services.accept_offer(referral.id, holder, lifecycle)
    assert accepted.status is ReferralStatus.ACCEPTED
    assert accepted.offers[0].answered_at == clock.now
    assert uow.tables.timers == {}  # the expiry timer went with the pending offer
    clock.advance(timedelta(days=1))
    today = city_day(clock.now)
    services.record_contact(referral.id, today, holder, lifecycle)
    meeting = services.RecordFirstMeeting(today, Accompaniment.VOLUNTEER)
    services.record_first_meeting(referral.id, meeting, holder, lifecycle)
    services.put_on_hold(referral.id, services.PutOnHold(HoldReason.CITIZEN_ILL), holder, lifecycle)
    services.resume(referral.id, holder, lifecycle)
    done = services.complete(referral.id, "comes every week", holder, lifecycle)
    stored = uow.stored(referral.id)
    assert done.status is stored.status is ReferralStatus.COMPLETED
    assert (stored.contact_made_on, stored.first_meeting_on, stored.accompanied_by) == (
        today,
        today,
        Accompaniment.VOLUNTEER,
    )
    assert [t.action for t in stored.history][-6:] == [
        "accept",
        "contact_made",
        "first_meeting",
        "hold",
        "resume",
        "complete",
    ]
    assert uow.commits == 1 + 1 + 6


def test_a_decline_offers_the_referral_to_the_next_organisation_with_its_own_timer(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    first, second = uuid4(), uuid4()
    referral = offered(uow, clock, first, second)
    clock.advance(timedelta(hours=5))
    command = services.DeclineOffer(DeclineReason.NO_VOLUNTEER_AVAILABLE)
    services.decline_offer(referral.id, command, partner(first), lifecycle)
    stored = uow.stored(referral.id)
    next_offer = stored.offers[-1]
    assert (next_offer.organization_id, next_offer.expires_at) == (second, clock.now + TTL)
    assert uow.tables.timers == {(referral.id, OFFER_EXPIRY, next_offer.id): clock.now + TTL}


def test_a_decline_skips_a_candidate_whose_service_filled_up_since_the_match(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    first, full = uuid4(), uuid4()
    referral = offered(uow, clock, first, full)
    with uow() as unit:
        services.learn_service(
            service_changed(
                service_id=referral.candidates[1].service_id, organization_id=full, free_places=0
            ),
            unit,
        )
    command = services.DeclineOffer(DeclineReason.NO_CAPACITY)
    declined = services.decline_offer(referral.id, command, partner(first), lifecycle)
    assert (declined.status, declined.escalation_reason) == (
        ReferralStatus.ESCALATED,
        EscalationReason.ALL_DECLINED,
    )


def test_a_failed_referral_keeps_its_reason_and_text_inside_referrals(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    organisation = uuid4()
    referral = offered(uow, clock, organisation)
    services.accept_offer(referral.id, partner(organisation), lifecycle)
    command = services.FailReferral(FailReason.OTHER, "family took her abroad")
    events = len(uow.committed_events)
    services.fail(referral.id, command, partner(organisation), lifecycle)
    step = uow.stored(referral.id).history[-1]
    assert (step.reason, step.text) == ("other", "family took her abroad")
    assert all("abroad" not in e.model_dump_json() for e in uow.committed_events[events:])


def test_a_refused_step_changes_nothing_and_commits_nothing(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    organisation = uuid4()
    referral = offered(uow, clock, organisation)
    commits, events = uow.commits, len(uow.committed_events)
    with pytest.raises(InvalidAnswer):
        services.decline_offer(
            referral.id,
            services.DeclineOffer(DeclineReason.OTHER),
            partner(organisation),
            lifecycle,
        )
    assert uow.stored(referral.id) == referral
    assert (uow.commits, len(uow.committed_events)) == (commits, events)


# --- the service's own clock --------------------------------------------------------------


def test_an_unanswered_offer_expires_when_its_time_comes_and_the_next_is_offered(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    first, second = uuid4(), uuid4()
    referral = offered(uow, clock, first, second)
    clock.advance(TTL - timedelta(seconds=1))
    assert services.fire_due_timers(lifecycle) == 0
    assert uow.stored(referral.id).offers[0].status is OfferStatus.PENDING

    clock.advance(timedelta(seconds=1))
    events = len(uow.committed_events)
    assert services.fire_due_timers(lifecycle) == 1
    stored = uow.stored(referral.id)
    assert [o.status for o in stored.offers] == [OfferStatus.EXPIRED, OfferStatus.PENDING]
    assert stored.offers[1].organization_id == second
    assert events_since(uow, events) == [OfferExpired, ReferralOffered]
    assert stored.history[-2].party is Party.CLOCK

    clock.advance(TTL)
    assert services.fire_due_timers(lifecycle) == 1
    stored = uow.stored(referral.id)
    assert (stored.status, stored.escalation_reason) == (
        ReferralStatus.ESCALATED,
        EscalationReason.ALL_EXPIRED,
    )
    assert uow.tables.timers == {}
    assert services.fire_due_timers(lifecycle) == 0


def test_an_expired_offer_moves_past_a_candidate_whose_service_closed_meanwhile(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    first, closing, third = uuid4(), uuid4(), uuid4()
    referral = offered(uow, clock, first, closing, third)
    with uow() as unit:
        closed = service_changed(
            service_id=referral.candidates[1].service_id, organization_id=closing, status="inactive"
        )
        services.learn_service(closed, unit)
    clock.advance(TTL)
    services.fire_due_timers(lifecycle)
    assert [o.organization_id for o in uow.stored(referral.id).offers] == [first, third]


def test_the_scheduler_fires_at_most_its_batch_and_the_rest_on_the_next_round(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    referrals = [offered(uow, clock, uuid4()) for _ in range(3)]
    clock.advance(TTL)
    assert services.fire_due_timers(lifecycle, limit=2) == 2
    assert len(uow.tables.timers) == 1
    assert services.fire_due_timers(lifecycle, limit=2) == 1
    assert {uow.stored(r.id).status for r in referrals} == {ReferralStatus.ESCALATED}


def test_a_timer_left_over_from_an_answered_offer_is_dropped_and_changes_nothing(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    organisation = uuid4()
    referral = offered(uow, clock, organisation)
    stale = dict(uow.tables.timers)
    services.accept_offer(referral.id, partner(organisation), lifecycle)
    uow.tables.timers.update(stale)  # as if the timer had outlived the answer
    accepted, events = uow.stored(referral.id), len(uow.committed_events)
    clock.advance(TTL)
    services.fire_due_timers(lifecycle)
    assert uow.tables.timers == {}
    assert uow.stored(referral.id).status is ReferralStatus.ACCEPTED
    assert uow.stored(referral.id).offers == accepted.offers
    assert events_since(uow, events) == []


# --- care systems and operators -----------------------------------------------------------


def test_a_care_system_cancels_while_an_offer_is_pending_and_the_offer_is_withdrawn(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    referral = offered(uow, clock, uuid4())
    events = len(uow.committed_events)
    command = services.CancelReferral(CancelReason.NEED_MET_OTHERWISE)
    cancelled = services.cancel(referral.id, command, CARE, lifecycle)
    assert cancelled.status is ReferralStatus.CANCELLED
    withdrawn_then_cancelled: list[type] = [OfferWithdrawn, ReferralCancelled]
    assert events_since(uow, events) == withdrawn_then_cancelled
    assert uow.tables.timers == {}


def test_an_operator_assigns_an_escalated_referral_to_a_known_service(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    referral = submitted(uow, clock)
    with uow() as unit:
        services.escalate_unmatched(no_match_found(referral_id=referral.id), unit, clock)
    chosen = service_changed()
    with uow() as unit:
        services.learn_service(chosen, unit)
    command = services.AssignReferral(chosen.service_id, "her neighbour goes there")
    assigned = services.assign(referral.id, command, OPERATOR, lifecycle)
    [offer] = assigned.offers
    assert (assigned.status, offer.organization_id) == (
        ReferralStatus.OFFERED,
        chosen.organization_id,
    )
    assert set(uow.tables.timers) == {(referral.id, OFFER_EXPIRY, offer.id)}


@pytest.mark.parametrize("announced", [False, True], ids=["unknown", "closed"])
def test_an_operator_cannot_assign_to_a_service_unknown_or_closed(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle, announced: bool
) -> None:
    referral = offered(uow, clock, uuid4())
    closed = service_changed(status="inactive")
    if announced:
        with uow() as unit:
            services.learn_service(closed, unit)
    events = len(uow.committed_events)
    with pytest.raises(InvalidAnswer):
        services.assign(
            referral.id, services.AssignReferral(closed.service_id), OPERATOR, lifecycle
        )
    assert uow.stored(referral.id) == referral
    assert events_since(uow, events) == []


# --- who may see what ---------------------------------------------------------------------

STRANGER = partner(uuid4())
"""A partner of an organisation the referral was never offered to."""

USE_CASES: dict[str, Callable[[UUID, Actor, services.Lifecycle], object]] = {
    "get": lambda rid, actor, lc: services.get_referral(rid, actor, lc.start_uow),
    "contact": lambda rid, actor, lc: services.contact_details(rid, actor, lc, VAULT),
    "note": lambda rid, actor, lc: services.note(rid, actor, lc, VAULT),
    "accept": lambda rid, actor, lc: services.accept_offer(rid, actor, lc),
    "decline": lambda rid, actor, lc: services.decline_offer(
        rid, services.DeclineOffer(DeclineReason.NO_CAPACITY), actor, lc
    ),
    "contact_made": lambda rid, actor, lc: services.record_contact(rid, NOW.date(), actor, lc),
    "first_meeting": lambda rid, actor, lc: services.record_first_meeting(
        rid, services.RecordFirstMeeting(NOW.date(), Accompaniment.NOBODY), actor, lc
    ),
    "hold": lambda rid, actor, lc: services.put_on_hold(
        rid, services.PutOnHold(HoldReason.CITIZEN_AWAY), actor, lc
    ),
    "resume": lambda rid, actor, lc: services.resume(rid, actor, lc),
    "complete": lambda rid, actor, lc: services.complete(rid, None, actor, lc),
    "fail": lambda rid, actor, lc: services.fail(
        rid, services.FailReferral(FailReason.NOT_SUITABLE), actor, lc
    ),
    "cancel": lambda rid, actor, lc: services.cancel(
        rid, services.CancelReferral(CancelReason.DUPLICATE), actor, lc
    ),
    "assign": lambda rid, actor, lc: services.assign(
        rid, services.AssignReferral(uuid4()), actor, lc
    ),
}


@pytest.mark.parametrize("use_case", sorted(USE_CASES))
def test_a_partner_never_offered_the_referral_is_told_it_does_not_exist(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle, use_case: str
) -> None:
    referral = offered(uow, clock, uuid4())
    with pytest.raises(services.ReferralNotFound):
        USE_CASES[use_case](referral.id, STRANGER, lifecycle)
    assert uow.stored(referral.id) == referral


@pytest.mark.parametrize("use_case", ["get", "cancel"])
def test_another_care_system_is_told_the_referral_does_not_exist(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle, use_case: str
) -> None:
    referral = offered(uow, clock, uuid4())
    with pytest.raises(services.ReferralNotFound):
        USE_CASES[use_case](referral.id, Actor(Party.CARE_SYSTEM, "care-2"), lifecycle)
    assert uow.stored(referral.id) == referral


def test_an_operator_reads_any_referral(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    referral = offered(uow, clock, uuid4())
    assert services.get_referral(referral.id, OPERATOR, lifecycle.start_uow) == referral


def test_a_partner_that_declined_still_sees_the_referral_but_not_the_contact(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    first, second = uuid4(), uuid4()
    referral = offered(uow, clock, first, second)
    services.decline_offer(
        referral.id, services.DeclineOffer(DeclineReason.NOT_SUITABLE), partner(first), lifecycle
    )
    services.accept_offer(referral.id, partner(second), lifecycle)
    seen = services.get_referral(referral.id, partner(first), uow)
    assert seen.status_for(first) == "declined"
    with pytest.raises(services.ContactNotShared):
        services.contact_details(referral.id, partner(first), lifecycle, VAULT)
    identity = services.contact_details(referral.id, partner(second), lifecycle, VAULT)
    assert (identity.name, identity.phone, identity.address) == (
        "Inger Jensen",
        "+45 12 34 56 78",
        "Jagtvej 1, 2200 København N",
    )


def test_no_contact_is_shared_without_the_citizens_consent(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    organisation = uuid4()
    referral = submitted(uow, clock, consent=consent(share_contact_details=False))
    with uow() as unit:
        services.offer_to_candidates(matches_found(referral.id, organisation), unit, TTL, clock)
    services.accept_offer(referral.id, partner(organisation), lifecycle)
    with pytest.raises(services.ContactNotShared):
        services.contact_details(referral.id, partner(organisation), lifecycle, VAULT)


# --- racing another writer ----------------------------------------------------------------


def test_a_step_that_lost_a_race_is_redone_on_the_referral_as_it_now_is(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    organisation = uuid4()
    referral = offered(uow, clock, organisation)
    uow.other_writers.append(lambda rid: uow.commit_elsewhere(rid, lambda r: None))
    events = len(uow.committed_events)
    accepted = services.accept_offer(referral.id, partner(organisation), lifecycle)
    assert accepted.status is ReferralStatus.ACCEPTED
    assert uow.stored(referral.id).version == referral.version + 2  # theirs, then ours
    assert events_since(uow, events) == [ReferralAccepted]


def test_a_redone_step_is_refused_when_the_other_writer_moved_the_referral_on(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    first, elsewhere = uuid4(), service_changed()
    referral = offered(uow, clock, first)

    def operator_reassigns(referral_id: UUID) -> None:
        known = KnownService(elsewhere.service_id, elsewhere.organization_id, True, 1)
        uow.commit_elsewhere(referral_id, lambda r: r.assign(OPERATOR, known, None, clock.now, TTL))

    uow.other_writers.append(operator_reassigns)
    with pytest.raises(Forbidden):
        services.accept_offer(referral.id, partner(first), lifecycle)
    stored = uow.stored(referral.id)
    assert stored.offers[-1].organization_id == elsewhere.organization_id
    assert [o.status for o in stored.offers] == [OfferStatus.WITHDRAWN, OfferStatus.PENDING]


def test_a_step_that_keeps_losing_races_gives_up_with_nothing_changed(
    uow: FakeUnitOfWork, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    organisation = uuid4()
    referral = offered(uow, clock, organisation)
    uow.other_writers.extend(
        [lambda rid: uow.commit_elsewhere(rid, lambda r: None)] * services.MAX_TRIES
    )
    events = len(uow.committed_events)
    with pytest.raises(ConcurrentUpdate):
        services.accept_offer(referral.id, partner(organisation), lifecycle)
    assert uow.stored(referral.id).status is ReferralStatus.OFFERED
    assert events_since(uow, events) == []
    assert uow.other_writers == []
