"""The referral's offers one after another, escalation, withdrawal, the citizen's consent
withdrawn, erasure and what each party may see: the domain alone, no I/O."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest

from contracts import (
    ConsentWithdrawn,
    OfferDeclined,
    OfferExpired,
    OfferWithdrawn,
    ReferralAssigned,
    ReferralCancelled,
    ReferralErased,
    ReferralEscalated,
    ReferralOffered,
    ReferralSubmitted,
)
from referrals.domain import (
    OFFER_EXPIRY,
    Accompaniment,
    Actor,
    CancelReason,
    ConsentMethod,
    ConsentWithdrawal,
    Deadline,
    DeclineReason,
    ErasedReferral,
    ErasureBasis,
    EscalationReason,
    FailReason,
    Forbidden,
    HoldReason,
    InvalidAnswer,
    InvalidTransition,
    KnownService,
    OfferStatus,
    Party,
    Referral,
    ReferralStatus,
    WithdrawalReason,
)
from tests.referrals.support import (
    CARE,
    NOW,
    OPERATOR,
    TTL,
    candidate,
    known,
    new_referral,
    partner,
    referral_in,
    the_partner,
)

LATER = NOW + timedelta(hours=1)


def offered_organisations(referral: Referral) -> list[object]:
    return [offer.organization_id for offer in referral.offers]


def test_a_submitted_referral_records_its_submission() -> None:
    referral = new_referral()
    [event] = referral.events
    assert isinstance(event, ReferralSubmitted)
    assert (event.referral_id, event.district, event.needs) == (
        referral.id,
        "Nørrebro",
        ["wheelchair_access"],
    )
    assert [(t.action, t.to_status) for t in referral.history] == [
        ("submit", ReferralStatus.SUBMITTED)
    ]


def test_candidates_are_offered_one_at_a_time_in_directorys_order() -> None:
    first, second, third = candidate(), candidate(), candidate()
    referral = new_referral()
    referral.events.clear()
    referral.receive_candidates([first, second, third], {}, NOW, TTL)
    assert referral.status is ReferralStatus.OFFERED
    assert offered_organisations(referral) == [first.organization_id]
    [offered] = referral.events
    assert isinstance(offered, ReferralOffered)
    assert (offered.organization_id, offered.service_id) == (
        first.organization_id,
        first.service_id,
    )
    assert offered.expires_at == NOW + TTL == referral.offers[0].expires_at

    referral.decline(
        partner(first.organization_id), DeclineReason.NOT_SUITABLE, None, {}, LATER, TTL
    )
    assert offered_organisations(referral) == [first.organization_id, second.organization_id]
    assert referral.offers[0].decline_reason is DeclineReason.NOT_SUITABLE
    assert referral.offers[1].expires_at == LATER + TTL

    due = LATER + TTL
    assert referral.expire(referral.offers[1].id, {}, due, TTL)
    assert offered_organisations(referral)[-1] == third.organization_id
    assert [o.status for o in referral.offers] == [
        OfferStatus.DECLINED,
        OfferStatus.EXPIRED,
        OfferStatus.PENDING,
    ]


def test_an_organisation_already_offered_the_referral_is_skipped() -> None:
    organisation = uuid4()
    first, same_again, other = candidate(organisation), candidate(organisation), candidate()
    referral = referral_in(ReferralStatus.SUBMITTED)
    referral.receive_candidates([first, same_again, other], {}, NOW, TTL)
    referral.decline(partner(organisation), DeclineReason.NO_CAPACITY, None, {}, LATER, TTL)
    assert offered_organisations(referral) == [organisation, other.organization_id]


def test_an_organisation_an_operator_assigned_is_not_offered_it_again_after_declining() -> None:
    later_candidate, assigned = candidate(), candidate()
    referral = referral_in(ReferralStatus.SUBMITTED)
    referral.no_match(NOW)
    referral.candidates = [assigned, later_candidate]  # as if directory had ranked these
    service = known(assigned)[assigned.service_id]
    referral.assign(OPERATOR, service, None, NOW, TTL)
    referral.decline(
        partner(assigned.organization_id), DeclineReason.NO_CAPACITY, None, {}, LATER, TTL
    )
    assert offered_organisations(referral) == [
        assigned.organization_id,
        later_candidate.organization_id,
    ]


def test_services_known_to_be_closed_or_full_are_skipped_and_unknown_ones_offered() -> None:
    closed, full, unknown = candidate(), candidate(), candidate()
    services = {**known(closed, active=False), **known(full, free_places=0)}
    referral = referral_in(ReferralStatus.SUBMITTED)
    referral.receive_candidates([closed, full, unknown], services, NOW, TTL)
    assert offered_organisations(referral) == [unknown.organization_id]


def test_a_service_that_filled_up_meanwhile_is_skipped_when_the_offer_moves_on() -> None:
    first, filled = candidate(), candidate()
    referral = referral_in(ReferralStatus.SUBMITTED)
    referral.receive_candidates([first, filled], {}, NOW, TTL)
    referral.events.clear()
    referral.decline(
        partner(first.organization_id),
        DeclineReason.NO_CAPACITY,
        None,
        known(filled, free_places=0),
        LATER,
        TTL,
    )
    assert referral.status is ReferralStatus.ESCALATED
    assert [type(e) for e in referral.events] == [OfferDeclined, ReferralEscalated]


def escalated_by(*answers: str) -> Referral:
    """A referral with one candidate per answer, each answered in turn."""
    candidates = [candidate() for _ in answers]
    referral = referral_in(ReferralStatus.SUBMITTED)
    referral.receive_candidates(candidates, {}, NOW, TTL)
    at = NOW
    for answer, offered in zip(answers, candidates, strict=True):
        at += TTL
        if answer == "decline":
            referral.decline(
                partner(offered.organization_id), DeclineReason.NO_CAPACITY, None, {}, at, TTL
            )
        else:
            assert referral.expire(referral.offers[-1].id, {}, at, TTL)
    return referral


@pytest.mark.parametrize(
    ("answers", "reason"),
    [
        (("decline", "decline"), EscalationReason.ALL_DECLINED),
        (("expire", "expire"), EscalationReason.ALL_EXPIRED),
        (("decline", "expire"), EscalationReason.DECLINED_OR_EXPIRED),
        (("expire", "decline"), EscalationReason.DECLINED_OR_EXPIRED),
    ],
)
def test_a_referral_every_candidate_answered_is_escalated_saying_why(
    answers: tuple[str, ...], reason: EscalationReason
) -> None:
    referral = escalated_by(*answers)
    assert referral.status is ReferralStatus.ESCALATED
    assert referral.escalation_reason is reason
    assert referral.escalated_at == referral.offers[-1].answered_at
    escalated = referral.events[-1]
    assert isinstance(escalated, ReferralEscalated)
    assert (escalated.reason, escalated.district) == (reason.value, "Nørrebro")
    assert referral.deadlines() == []


def test_a_referral_nothing_fits_is_escalated_as_no_match() -> None:
    referral = referral_in(ReferralStatus.SUBMITTED)
    referral.no_match(NOW)
    assert (referral.status, referral.escalation_reason) == (
        ReferralStatus.ESCALATED,
        EscalationReason.NO_MATCH,
    )
    [event] = referral.events
    assert isinstance(event, ReferralEscalated) and event.reason == "no_match"


def test_candidates_all_closed_or_full_escalate_as_none_available() -> None:
    closed, full = candidate(), candidate()
    referral = referral_in(ReferralStatus.SUBMITTED)
    services = {**known(closed, active=False), **known(full, free_places=0)}
    referral.receive_candidates([closed, full], services, NOW, TTL)
    assert referral.escalation_reason is EscalationReason.NONE_AVAILABLE
    assert referral.offers == []


def test_a_withdrawn_offer_does_not_count_as_an_answer_when_escalating() -> None:
    first, assigned = candidate(), candidate()
    referral = referral_in(ReferralStatus.SUBMITTED)
    referral.receive_candidates([first], {}, NOW, TTL)
    referral.assign(OPERATOR, known(assigned)[assigned.service_id], None, NOW, TTL)
    referral.decline(
        partner(assigned.organization_id), DeclineReason.NO_CAPACITY, None, {}, LATER, TTL
    )
    assert referral.escalation_reason is EscalationReason.ALL_DECLINED


def test_a_late_or_repeated_answer_from_directory_changes_nothing() -> None:
    for status in (ReferralStatus.OFFERED, ReferralStatus.ESCALATED, ReferralStatus.CANCELLED):
        referral = referral_in(status)
        offers, history = list(referral.offers), list(referral.history)
        referral.receive_candidates([candidate()], {}, LATER, TTL)
        referral.no_match(LATER)
        assert (referral.status, referral.offers, referral.history) == (status, offers, history)
        assert referral.events == []


def test_expiry_is_a_no_op_for_an_answered_replaced_withdrawn_or_not_yet_due_offer() -> None:
    accepted = referral_in(ReferralStatus.ACCEPTED)
    replaced = referral_in(ReferralStatus.OFFERED)
    first_offer = replaced.offers[0].id
    replaced.decline(
        partner(replaced.offers[0].organization_id), DeclineReason.NO_CAPACITY, None, {}, LATER, TTL
    )
    replaced.events.clear()
    withdrawn = referral_in(ReferralStatus.OFFERED)
    withdrawn_offer = withdrawn.offers[0].id
    service = KnownService(uuid4(), uuid4(), active=True, free_places=1)
    withdrawn.assign(OPERATOR, service, None, LATER, TTL)
    withdrawn.events.clear()
    early = referral_in(ReferralStatus.OFFERED)

    far_later = NOW + 10 * TTL
    for referral, offer_id, at in (
        (accepted, accepted.offers[0].id, far_later),
        (replaced, first_offer, far_later),
        (withdrawn, withdrawn_offer, far_later),
        (early, early.offers[0].id, NOW + TTL - timedelta(seconds=1)),
    ):
        offers, status = [(o.id, o.status) for o in referral.offers], referral.status
        assert not referral.expire(offer_id, {}, at, TTL)
        assert ([(o.id, o.status) for o in referral.offers], referral.status) == (offers, status)
        assert referral.events == []


def test_an_offer_lapses_at_the_very_moment_it_expires() -> None:
    referral = referral_in(ReferralStatus.OFFERED)
    offer = referral.offers[0]
    assert referral.expire(offer.id, {}, offer.expires_at, TTL)
    expired = referral.events[0]
    assert isinstance(expired, OfferExpired)
    assert (expired.offer_id, expired.expired_at) == (offer.id, offer.expires_at)
    assert referral.history[-2].party.value == "clock"


def test_assigning_withdraws_the_open_offer_then_offers_the_named_service() -> None:
    referral = referral_in(ReferralStatus.OFFERED)
    open_offer = referral.offers[0]
    service = KnownService(uuid4(), uuid4(), active=True, free_places=0)  # full may be chosen
    offer = referral.assign(OPERATOR, service, "knows her from before", LATER, TTL)
    withdrawn, assigned, offered = referral.events
    assert isinstance(withdrawn, OfferWithdrawn) and isinstance(assigned, ReferralAssigned)
    assert isinstance(offered, ReferralOffered)
    assert (withdrawn.offer_id, withdrawn.reason) == (open_offer.id, "reassigned")
    assert open_offer.status is OfferStatus.WITHDRAWN and open_offer.answered_at == LATER
    assert assigned.offer_id == offered.offer_id == offer.id
    assert (offer.organization_id, offer.service_id) == (
        service.organization_id,
        service.service_id,
    )
    assert (offer.expires_at, referral.status) == (LATER + TTL, ReferralStatus.OFFERED)
    assert referral.history[-1].text == "knows her from before"
    assert "knows her" not in "".join(e.model_dump_json() for e in referral.events)


def test_assigning_an_escalated_referral_clears_why_it_waited() -> None:
    referral = referral_in(ReferralStatus.ESCALATED)
    service = KnownService(uuid4(), uuid4(), active=True, free_places=1)
    referral.assign(OPERATOR, service, None, LATER, TTL)
    assert (referral.escalation_reason, referral.escalated_at) == (None, None)
    assert [type(e) for e in referral.events] == [ReferralAssigned, ReferralOffered]


def test_a_service_directory_never_announced_cannot_be_assigned() -> None:
    referral = referral_in(ReferralStatus.ESCALATED)
    with pytest.raises(InvalidAnswer, match="announced no service"):
        referral.assign(OPERATOR, uuid4(), None, LATER, TTL)
    assert (referral.status, referral.offers, referral.events) == (
        ReferralStatus.ESCALATED,
        [],
        [],
    )


def test_a_final_referral_refuses_an_assignment_for_its_state_whatever_the_service() -> None:
    referral = referral_in(ReferralStatus.COMPLETED)
    with pytest.raises(InvalidTransition):
        referral.assign(OPERATOR, uuid4(), None, LATER, TTL)


def test_a_closed_service_cannot_be_assigned() -> None:
    referral = referral_in(ReferralStatus.ESCALATED)
    closed = KnownService(uuid4(), uuid4(), active=False, free_places=4)
    with pytest.raises(InvalidAnswer, match="closed"):
        referral.assign(OPERATOR, closed, None, LATER, TTL)
    assert (referral.status, referral.offers, referral.events) == (
        ReferralStatus.ESCALATED,
        [],
        [],
    )


def test_cancelling_withdraws_a_pending_offer_and_names_no_organisation() -> None:
    referral = referral_in(ReferralStatus.OFFERED)
    offer = referral.offers[0]
    referral.cancel(CARE, CancelReason.CITIZEN_DIED, None, LATER)
    withdrawn, cancelled = referral.events
    assert isinstance(withdrawn, OfferWithdrawn) and isinstance(cancelled, ReferralCancelled)
    assert (withdrawn.offer_id, withdrawn.reason) == (offer.id, WithdrawalReason.CANCELLED.value)
    assert offer.status is OfferStatus.WITHDRAWN
    assert (cancelled.previous_status, cancelled.cancelled_by) == ("offered", "care_system")
    assert (cancelled.organization_id, cancelled.service_id) == (None, None)
    assert referral.deadlines() == []


@pytest.mark.parametrize(
    "status", [ReferralStatus.ACCEPTED, ReferralStatus.IN_PROGRESS, ReferralStatus.ON_HOLD]
)
def test_cancelling_an_accepted_referral_names_the_organisation_whose_place_it_frees(
    status: ReferralStatus,
) -> None:
    referral = referral_in(status)
    accepted = referral.offers[0]
    referral.cancel(OPERATOR, CancelReason.CITIZEN_MOVED, None, LATER)
    [cancelled] = referral.events
    assert isinstance(cancelled, ReferralCancelled)
    assert (cancelled.organization_id, cancelled.service_id) == (
        accepted.organization_id,
        accepted.service_id,
    )
    assert (cancelled.previous_status, cancelled.cancelled_by) == (status.value, "operator")
    assert accepted.status is OfferStatus.ACCEPTED


@pytest.mark.parametrize("status", [ReferralStatus.SUBMITTED, ReferralStatus.ESCALATED])
def test_cancelling_a_referral_no_one_holds_names_no_organisation(status: ReferralStatus) -> None:
    referral = referral_in(status)
    referral.cancel(CARE, CancelReason.DUPLICATE, None, LATER)
    [cancelled] = referral.events
    assert isinstance(cancelled, ReferralCancelled)
    assert (cancelled.organization_id, cancelled.previous_status) == (None, status.value)


def test_each_organisation_sees_what_became_of_its_own_offer() -> None:
    first, second, third, fourth = (candidate() for _ in range(4))
    referral = referral_in(ReferralStatus.SUBMITTED)
    referral.receive_candidates([first, second, third, fourth], {}, NOW, TTL)
    assert referral.status_for(first.organization_id) == "offered"
    assert referral.status_for(second.organization_id) is None  # not offered yet
    referral.decline(partner(first.organization_id), DeclineReason.NO_CAPACITY, None, {}, NOW, TTL)
    assert referral.expire(referral.offers[-1].id, {}, NOW + TTL, TTL)
    holder = partner(third.organization_id)
    referral.accept(holder, NOW + TTL)
    referral.record_first_meeting(holder, (NOW + TTL).date(), Accompaniment.NOBODY, NOW + TTL)
    assert [referral.status_for(c.organization_id) for c in (first, second, third, fourth)] == [
        "declined",
        "expired",
        "in_progress",
        None,
    ]
    referral.complete(holder, None, NOW + TTL)
    assert referral.status_for(third.organization_id) == "completed"

    reassigned = referral_in(ReferralStatus.OFFERED)
    was_offered = reassigned.offers[0].organization_id
    reassigned.assign(OPERATOR, KnownService(uuid4(), uuid4(), True, 1), None, LATER, TTL)
    assert reassigned.status_for(was_offered) == "withdrawn"


def test_contact_details_are_shared_only_with_the_accepting_organisation_while_it_holds_them() -> (
    None
):
    referral = referral_in(ReferralStatus.OFFERED)
    offered_to = referral.offers[0].organization_id
    assert not referral.contact_shared_with(offered_to)  # offered is not accepted
    referral.accept(partner(offered_to), LATER)
    assert referral.contact_shared_with(offered_to)
    assert not referral.contact_shared_with(uuid4())
    referral.fail(partner(offered_to), FailReason.CITIZEN_UNREACHABLE, None, LATER)
    assert not referral.contact_shared_with(offered_to)  # no longer holds it

    declined = referral_in(ReferralStatus.OFFERED)
    decliner = declined.offers[0].organization_id
    declined.decline(partner(decliner), DeclineReason.NOT_SUITABLE, None, {}, LATER, TTL)
    assert not declined.contact_shared_with(decliner)
    declined.accept(partner(declined.offers[1].organization_id), LATER)
    assert declined.contact_shared_with(declined.offers[1].organization_id)
    assert not declined.contact_shared_with(decliner)


def test_no_contact_details_are_shared_without_the_citizens_consent() -> None:
    referral = new_referral(share_contact_details=False)
    offered = candidate()
    referral.receive_candidates([offered], {}, NOW, TTL)
    referral.accept(partner(offered.organization_id), LATER)
    assert not referral.contact_shared_with(offered.organization_id)


def test_the_only_deadline_is_the_expiry_of_the_pending_offer() -> None:
    assert referral_in(ReferralStatus.SUBMITTED).deadlines() == []
    referral = referral_in(ReferralStatus.OFFERED)
    first = referral.offers[0]
    assert referral.deadlines() == [Deadline(OFFER_EXPIRY, first.id, first.expires_at)]
    referral.decline(
        partner(first.organization_id), DeclineReason.NO_CAPACITY, None, {}, LATER, TTL
    )
    second = referral.offers[1]
    assert referral.deadlines() == [Deadline(OFFER_EXPIRY, second.id, LATER + TTL)]
    referral.accept(partner(second.organization_id), LATER)
    assert referral.deadlines() == []


def test_the_events_carry_no_personal_data_no_free_text_and_no_sensitive_reason() -> None:
    texts = ["She prefers mornings", "In hospital after a fall", "Walked twice, loved it"]
    first, second = candidate(), candidate()
    referral = new_referral()
    referral.receive_candidates([first, second], {}, NOW, TTL)
    referral.decline(partner(first.organization_id), DeclineReason.OTHER, texts[0], {}, NOW, TTL)
    holder = partner(second.organization_id)
    referral.accept(holder, NOW)
    referral.name_volunteer(holder, uuid4(), NOW)
    referral.record_contact(holder, NOW.date(), NOW)
    referral.record_first_meeting(holder, NOW.date(), Accompaniment.HOME_CARE_STAFF, NOW)
    referral.put_on_hold(holder, HoldReason.CITIZEN_IN_HOSPITAL, texts[1], NOW)
    referral.resume(holder, NOW)
    referral.complete(holder, texts[2], NOW)
    failed = referral_in(ReferralStatus.ACCEPTED)
    failed.fail(the_partner(failed), FailReason.CITIZEN_DIED, None, NOW)
    cancelled = referral_in(ReferralStatus.OFFERED)
    cancelled.cancel(CARE, CancelReason.CONSENT_WITHDRAWN, None, NOW)

    sent = "".join(e.model_dump_json() for r in (referral, failed, cancelled) for e in r.events)
    assert len(referral.events) == 11
    for secret in [*texts, "citizen_in_hospital", "citizen_died", "consent_withdrawn"]:
        assert secret not in sent
    assert [t.text for t in referral.history if t.text] == texts


# --- the citizen's consent withdrawn, the citizen's data erased ---------------------------


def test_withdrawing_consent_from_a_held_referral_ends_every_sharing_and_every_timer() -> None:
    referral = referral_in(ReferralStatus.ACCEPTED)
    holder = referral.offers[-1].organization_id
    assert referral.contact_shared_with(holder)

    referral.withdraw_consent(CARE, "cw-0815", ConsentMethod.WRITTEN, LATER)

    assert referral.consent.withdrawal == ConsentWithdrawal(
        LATER, Party.CARE_SYSTEM, CARE.subject, "cw-0815", ConsentMethod.WRITTEN
    )
    assert referral.consent.share_contact_details, "what was consented to stays on record"
    assert referral.status is ReferralStatus.CANCELLED
    assert referral.history[-1].reason == CancelReason.CONSENT_WITHDRAWN.value
    assert not referral.contact_shared_with(holder)
    assert not referral.held_by(holder)
    assert referral.deadlines() == []
    cancelled, withdrawn = referral.events
    assert isinstance(cancelled, ReferralCancelled) and cancelled.organization_id == holder
    assert withdrawn == ConsentWithdrawn(
        referral_id=referral.id, organization_ids=[holder], withdrawn_at=LATER
    )


def test_a_withdrawal_with_an_offer_pending_has_no_deadline_left() -> None:
    referral = referral_in(ReferralStatus.OFFERED)
    assert referral.deadlines() != []
    referral.withdraw_consent(OPERATOR, None, None, LATER)
    assert referral.offers[-1].status is OfferStatus.WITHDRAWN
    assert referral.deadlines() == []
    assert referral.consent.withdrawal == ConsentWithdrawal(LATER, Party.OPERATOR, OPERATOR.subject)


def test_consent_is_withdrawn_once_only() -> None:
    referral = referral_in(ReferralStatus.OFFERED)
    referral.withdraw_consent(CARE, None, None, NOW)
    referral.events.clear()
    before = (referral.consent, list(referral.history), referral.status)
    with pytest.raises(InvalidTransition, match="withdrawn already"):
        referral.withdraw_consent(OPERATOR, None, None, LATER)
    assert (referral.consent, referral.history, referral.status) == before
    assert referral.events == []


def test_only_the_care_system_that_submitted_a_referral_may_withdraw_its_consent() -> None:
    referral = referral_in(ReferralStatus.OFFERED)
    with pytest.raises(Forbidden):
        referral.withdraw_consent(Actor(Party.CARE_SYSTEM, "care-2"), None, None, LATER)
    assert referral.consent.withdrawal is None and referral.events == []


def test_erasing_tells_every_organisation_ever_offered_the_referral_once_each() -> None:
    first, second = candidate(), candidate()
    referral = new_referral()
    referral.receive_candidates([first, second], {}, NOW, TTL)
    referral.decline(partner(first.organization_id), DeclineReason.NO_CAPACITY, None, {}, NOW, TTL)
    referral.assign(
        OPERATOR, KnownService(first.service_id, first.organization_id, True, 1), None, NOW, TTL
    )
    referral.events.clear()

    tombstone = referral.erase(OPERATOR, ErasureBasis.NO_LONGER_NECESSARY, LATER)

    organisations = [first.organization_id, second.organization_id]
    assert [type(e) for e in referral.events] == [
        OfferWithdrawn,
        ReferralCancelled,
        ReferralErased,
    ]
    assert referral.events[-1] == ReferralErased(
        referral_id=referral.id, organization_ids=organisations, erased_at=LATER
    )
    assert tombstone == ErasedReferral(referral.id, CARE.subject, tuple(organisations), LATER)


def test_an_erased_referral_is_known_to_be_gone_only_by_those_who_knew_of_it() -> None:
    referral = referral_in(ReferralStatus.OFFERED)
    offered_to = referral.offers[0].organization_id
    tombstone = referral.erase(OPERATOR, ErasureBasis.GDPR_ART17_REQUEST, LATER)
    assert tombstone.visible_to(CARE)
    assert tombstone.visible_to(OPERATOR)
    assert tombstone.visible_to(partner(offered_to))
    assert not tombstone.visible_to(partner(uuid4()))
    assert not tombstone.visible_to(Actor(Party.CARE_SYSTEM, "care-2"))


def test_only_an_operator_erases() -> None:
    referral = referral_in(ReferralStatus.OFFERED)
    for actor in (CARE, the_partner(referral)):
        with pytest.raises(Forbidden):
            referral.erase(actor, ErasureBasis.GDPR_ART17_REQUEST, LATER)
    assert referral.status is ReferralStatus.OFFERED and referral.events == []


def test_neither_withdrawal_nor_erasure_sends_the_legal_basis_or_who_recorded_it() -> None:
    withdrawn = referral_in(ReferralStatus.OFFERED)
    withdrawn.withdraw_consent(CARE, "cw-0815", ConsentMethod.VERBAL, LATER)
    erased = referral_in(ReferralStatus.ACCEPTED)
    erased.erase(OPERATOR, ErasureBasis.UNLAWFUL_PROCESSING, LATER)
    sent = "".join(e.model_dump_json() for r in (withdrawn, erased) for e in r.events)
    for secret in ("cw-0815", "verbal", "unlawful_processing", "consent_withdrawn"):
        assert secret not in sent
