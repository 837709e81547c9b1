"""The transition table, every (state, action, party) triple: who may take which step from
which state, what it leads to and records, and that a refusal changes nothing. Withdrawing
consent and erasing, taken in any state, too."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import date, timedelta
from uuid import uuid4

import pytest

from contracts import (
    ConsentWithdrawn,
    ContactMade,
    FirstMeetingHeld,
    FollowUpDue,
    FollowUpRecorded,
    IntegrationEvent,
    OfferDeclined,
    OfferExpired,
    OfferWithdrawn,
    ReferralAccepted,
    ReferralAssigned,
    ReferralCancelled,
    ReferralCompleted,
    ReferralErased,
    ReferralFailed,
    ReferralOffered,
    ReferralPutOnHold,
    ReferralResumed,
    VolunteerNamed,
)
from referrals.domain import (
    CLOCK,
    Accompaniment,
    Action,
    Actor,
    CancelReason,
    ConsentMethod,
    DeclineReason,
    ErasureBasis,
    FailReason,
    Forbidden,
    HoldReason,
    InvalidAnswer,
    InvalidTransition,
    KnownService,
    Participation,
    ParticipationStatus,
    Party,
    Referral,
    ReferralStatus,
    Scores,
    Ucla3,
)
from tests.referrals.support import (
    CARE,
    NOW,
    OPERATOR,
    TTL,
    city_day,
    partner,
    referral_in,
    the_partner,
)

S = ReferralStatus
AT = NOW + TTL
"""When each step is taken: the first offer has just lapsed, the days reported are today."""
FIRST_FOLLOW_UP_DUE = AT + timedelta(days=40)
ASSIGNED_TO = KnownService(uuid4(), uuid4(), active=True, free_places=2)


@dataclass(frozen=True)
class Row:
    parties: frozenset[Party]
    from_states: frozenset[ReferralStatus]
    to: ReferralStatus | None
    """None: it stays in the state it was in."""
    records: tuple[type[IntegrationEvent], ...]


def row(
    parties: set[Party],
    from_states: set[ReferralStatus],
    to: ReferralStatus | None,
    *records: type[IntegrationEvent],
) -> Row:
    return Row(frozenset(parties), frozenset(from_states), to, records)


HELD = {S.ACCEPTED, S.IN_PROGRESS, S.ON_HOLD}
MET = {S.IN_PROGRESS, S.ON_HOLD}
"""After the first meeting: the follow-ups are scheduled."""
FINAL = {S.COMPLETED, S.FAILED, S.CANCELLED}
NOT_FINAL = set(S) - FINAL
P = Party

TABLE: dict[Action, Row] = {
    Action.ACCEPT: row({P.PARTNER}, {S.OFFERED}, S.ACCEPTED, ReferralAccepted),
    # Declined or lapsed, the referral is offered to the next candidate.
    Action.DECLINE: row({P.PARTNER}, {S.OFFERED}, S.OFFERED, OfferDeclined, ReferralOffered),
    Action.EXPIRE: row({P.CLOCK}, {S.OFFERED}, S.OFFERED, OfferExpired, ReferralOffered),
    Action.RECORD_CONTACT: row({P.PARTNER}, {S.ACCEPTED}, S.ACCEPTED, ContactMade),
    Action.RECORD_FIRST_MEETING: row({P.PARTNER}, {S.ACCEPTED}, S.IN_PROGRESS, FirstMeetingHeld),
    Action.PUT_ON_HOLD: row({P.PARTNER}, {S.IN_PROGRESS}, S.ON_HOLD, ReferralPutOnHold),
    Action.RESUME: row({P.PARTNER}, {S.ON_HOLD}, S.IN_PROGRESS, ReferralResumed),
    Action.COMPLETE: row({P.PARTNER}, HELD, S.COMPLETED, ReferralCompleted),
    Action.FAIL: row({P.PARTNER}, HELD, S.FAILED, ReferralFailed),
    Action.NAME_VOLUNTEER: row({P.PARTNER}, HELD, None, VolunteerNamed),
    # The first follow-up falls due as it is answered (the scheduler had not got to it).
    Action.RECORD_PARTICIPATION: row({P.PARTNER}, MET, None, FollowUpDue, FollowUpRecorded),
    Action.RECORD_WELLBEING: row({P.CARE_SYSTEM}, MET, None, FollowUpDue, FollowUpRecorded),
    Action.CANCEL: row({P.CARE_SYSTEM, P.OPERATOR}, NOT_FINAL, S.CANCELLED, ReferralCancelled),
    Action.ASSIGN: row(
        {P.OPERATOR}, {S.ESCALATED, S.OFFERED}, S.OFFERED, ReferralAssigned, ReferralOffered
    ),
}
"""The issue's table, written out here rather than read from `RULES`."""

ENDINGS: dict[Action, tuple[frozenset[Party], type[IntegrationEvent]]] = {
    Action.WITHDRAW_CONSENT: (frozenset({P.CARE_SYSTEM, P.OPERATOR}), ConsentWithdrawn),
    Action.ERASE: (frozenset({P.OPERATOR}), ReferralErased),
}
"""Steps taken in any state, by these parties, recording this event: a referral not yet
final is cancelled first."""

PARTIES = (P.CARE_SYSTEM, P.PARTNER, P.OPERATOR, P.CLOCK)
TAKES_BACK = (Action.CANCEL, Action.ASSIGN)
"""Steps that withdraw the offer open at the time."""


def actor_for(party: Party, referral: Referral) -> Actor:
    """The right one of each party: the submitting care system, the partner of the
    organisation holding the offer (or next in line)."""
    return {
        P.CARE_SYSTEM: CARE,
        P.PARTNER: the_partner(referral),
        P.OPERATOR: OPERATOR,
        P.CLOCK: CLOCK,
    }[party]


def act(action: Action, referral: Referral, actor: Actor) -> bool:
    """Take `action` with valid answers; False when the domain ignored it."""
    offer_id = referral.offers[-1].id if referral.offers else uuid4()
    today = city_day(AT)
    match action:
        case Action.ACCEPT:
            referral.accept(actor, AT)
        case Action.DECLINE:
            referral.decline(actor, DeclineReason.NO_CAPACITY, None, {}, AT, TTL)
        case Action.EXPIRE:
            return referral.expire(offer_id, {}, AT, TTL, actor)
        case Action.RECORD_CONTACT:
            referral.record_contact(actor, today, AT)
        case Action.RECORD_FIRST_MEETING:
            referral.record_first_meeting(actor, today, Accompaniment.RELATIVE, AT)
        case Action.PUT_ON_HOLD:
            referral.put_on_hold(actor, HoldReason.CITIZEN_AWAY, None, AT)
        case Action.RESUME:
            referral.resume(actor, AT)
        case Action.COMPLETE:
            referral.complete(actor, "went well", AT)
        case Action.FAIL:
            referral.fail(actor, FailReason.CITIZEN_MOVED, None, AT)
        case Action.CANCEL:
            referral.cancel(actor, CancelReason.NEED_MET_OTHERWISE, None, AT)
        case Action.NAME_VOLUNTEER:
            referral.name_volunteer(actor, uuid4(), AT)
        case Action.RECORD_PARTICIPATION:
            report = Participation(ParticipationStatus.TAKING_PART, 4)
            referral.record_participation(actor, 1, report, FIRST_FOLLOW_UP_DUE)
        case Action.RECORD_WELLBEING:
            referral.record_wellbeing(actor, 1, Scores(ucla3=Ucla3(2, 2, 1)), FIRST_FOLLOW_UP_DUE)
        case Action.ASSIGN:
            referral.assign(actor, ASSIGNED_TO, "knows the area", AT, TTL)
        case Action.WITHDRAW_CONSENT:
            referral.withdraw_consent(actor, "cw-4711", ConsentMethod.WRITTEN, AT)
        case Action.ERASE:
            referral.erase(actor, ErasureBasis.GDPR_ART17_REQUEST, AT)
    return True


def state_of(referral: Referral) -> object:
    """Everything a refusal must leave as it was."""
    return copy.deepcopy(
        (
            referral.status,
            referral.offers,
            referral.candidates,
            referral.history,
            referral.escalation_reason,
            referral.contact_made_on,
            referral.first_meeting_on,
            referral.follow_ups,
            referral.volunteer_id,
        )
    )


TRIPLES = [(state, action, party) for state in S for action in TABLE for party in PARTIES]


@pytest.mark.parametrize(
    ("state", "action", "party"), TRIPLES, ids=[f"{s}-{a}-{p}" for s, a, p in TRIPLES]
)
def test_each_party_may_take_exactly_the_steps_the_table_gives_it_in_each_state(
    state: ReferralStatus, action: Action, party: Party
) -> None:
    referral = referral_in(state)
    before = state_of(referral)
    rule = TABLE[action]
    allowed = party in rule.parties and state in rule.from_states

    if allowed:
        assert act(action, referral, actor_for(party, referral))
        withdrawn = [OfferWithdrawn] if state is S.OFFERED and action in TAKES_BACK else []
        assert referral.status is (rule.to or state)
        assert [type(e) for e in referral.events] == [*withdrawn, *rule.records]
        taken = [step for step in referral.history if step.action == action.value]
        assert [(step.party, step.from_status) for step in taken] == [(party, state)]
    elif action is Action.EXPIRE and party is P.CLOCK:
        # A timer that fires after the referral moved on is ignored, not an error.
        assert not act(action, referral, actor_for(party, referral))
        assert (state_of(referral), referral.events) == (before, [])
    else:
        # The party is checked first (403), then whether a partner's organisation holds the
        # referral now (403: a former offeree learns nothing), then the state (409).
        actor = actor_for(party, referral)
        holds = referral.current_offer is not None and (
            referral.current_offer.organization_id == actor.organization_id
        )
        state_decides = party in rule.parties and (party is not P.PARTNER or holds)
        with pytest.raises(InvalidTransition if state_decides else Forbidden):
            act(action, referral, actor)
        assert (state_of(referral), referral.events) == (before, [])


def test_the_table_covers_every_action() -> None:
    assert set(TABLE) | set(ENDINGS) == set(Action)


ENDING_TRIPLES = [(state, action, party) for state in S for action in ENDINGS for party in PARTIES]


@pytest.mark.parametrize(
    ("state", "action", "party"),
    ENDING_TRIPLES,
    ids=[f"{s}-{a}-{p}" for s, a, p in ENDING_TRIPLES],
)
def test_withdrawal_and_erasure_are_taken_in_any_state_and_cancel_a_referral_not_yet_final(
    state: ReferralStatus, action: Action, party: Party
) -> None:
    referral = referral_in(state)
    before, steps_before = state_of(referral), len(referral.history)
    parties, record = ENDINGS[action]
    actor = actor_for(party, referral)
    if party not in parties:
        with pytest.raises(Forbidden):
            act(action, referral, actor)
        assert (state_of(referral), referral.events) == (before, [])
        return

    act(action, referral, actor)

    if state in FINAL:
        assert (referral.status, [type(e) for e in referral.events]) == (state, [record])
        assert state_of(referral) == before, "a final referral keeps its history"
    else:
        withdrawn = [OfferWithdrawn] if state is S.OFFERED else []
        assert referral.status is S.CANCELLED
        assert [type(e) for e in referral.events] == [*withdrawn, ReferralCancelled, record]
        assert [(t.action, t.party, t.from_status) for t in referral.history[steps_before:]] == [
            ("cancel", party, state)
        ]
    offered_to = [offer.organization_id for offer in referral.offers]
    told = referral.events[-1]
    assert isinstance(told, ConsentWithdrawn | ReferralErased)
    assert told.organization_ids == list(dict.fromkeys(offered_to))
    assert referral.deadlines() == []


PARTNER_STEPS = [
    (action, state)
    for action, rule in TABLE.items()
    if P.PARTNER in rule.parties
    for state in sorted(rule.from_states)
]


@pytest.mark.parametrize(
    ("action", "state"), PARTNER_STEPS, ids=[f"{a}-{s}" for a, s in PARTNER_STEPS]
)
def test_a_partner_of_another_organisation_may_take_no_partner_step(
    action: Action, state: ReferralStatus
) -> None:
    referral = referral_in(state)
    before = state_of(referral)
    with pytest.raises(Forbidden):
        act(action, referral, partner(uuid4()))
    assert (state_of(referral), referral.events) == (before, [])


def test_a_partner_whose_offer_passed_to_another_organisation_may_no_longer_answer() -> None:
    referral = referral_in(S.OFFERED)
    first = the_partner(referral)
    act(Action.DECLINE, referral, first)
    referral.events.clear()
    before = state_of(referral)
    for action in (Action.ACCEPT, Action.DECLINE):
        with pytest.raises(Forbidden):
            act(action, referral, first)
    assert (state_of(referral), referral.events) == (before, [])


@pytest.mark.parametrize(
    "later", [S.ACCEPTED, S.IN_PROGRESS, S.COMPLETED, S.CANCELLED], ids=lambda s: s.value
)
def test_a_former_offeree_learns_nothing_of_what_became_of_the_referral(
    later: ReferralStatus,
) -> None:
    referral = referral_in(S.OFFERED)
    first = the_partner(referral)
    act(Action.DECLINE, referral, first)
    nxt = the_partner(referral)
    steps = {
        S.ACCEPTED: [Action.ACCEPT],
        S.IN_PROGRESS: [Action.ACCEPT, Action.RECORD_FIRST_MEETING],
        S.COMPLETED: [Action.ACCEPT, Action.COMPLETE],
        S.CANCELLED: [Action.ACCEPT, Action.CANCEL],
    }[later]
    for step in steps:
        act(step, referral, CARE if step is Action.CANCEL else nxt)
    assert referral.status is later
    referral.events.clear()
    before = state_of(referral)
    for action, rule in TABLE.items():
        if P.PARTNER in rule.parties:
            with pytest.raises(Forbidden):
                act(action, referral, first)
    assert (state_of(referral), referral.events) == (before, [])


@pytest.mark.parametrize("state", sorted(NOT_FINAL))
def test_only_the_care_system_that_submitted_a_referral_may_cancel_it(
    state: ReferralStatus,
) -> None:
    referral = referral_in(state)
    before = state_of(referral)
    with pytest.raises(Forbidden):
        act(Action.CANCEL, referral, Actor(P.CARE_SYSTEM, "care-2"))
    assert (state_of(referral), referral.events) == (before, [])


REASONED = [
    (S.OFFERED, lambda r, a, text: r.decline(a, DeclineReason.OTHER, text, {}, AT, TTL)),
    (S.IN_PROGRESS, lambda r, a, text: r.put_on_hold(a, HoldReason.OTHER, text, AT)),
    (S.ACCEPTED, lambda r, a, text: r.fail(a, FailReason.OTHER, text, AT)),
    (S.ACCEPTED, lambda r, _a, text: r.cancel(CARE, CancelReason.OTHER, text, AT)),
]


@pytest.mark.parametrize(("state", "step"), REASONED, ids=["decline", "hold", "fail", "cancel"])
@pytest.mark.parametrize("text", [None, "", "   "])
def test_the_reason_other_without_a_text_is_refused_and_changes_nothing(
    state: ReferralStatus, step: object, text: str | None
) -> None:
    referral = referral_in(state)
    before = state_of(referral)
    with pytest.raises(InvalidAnswer, match="other"):
        step(referral, the_partner(referral), text)  # type: ignore[operator]
    assert (state_of(referral), referral.events) == (before, [])


@pytest.mark.parametrize(("state", "step"), REASONED, ids=["decline", "hold", "fail", "cancel"])
def test_the_reason_other_with_a_text_is_taken_and_the_text_kept_in_the_history(
    state: ReferralStatus, step: object
) -> None:
    referral = referral_in(state)
    step(referral, the_partner(referral), "moved to her daughter's")  # type: ignore[operator]
    assert "moved to her daughter's" in [t.text for t in referral.history]
    assert all("daughter" not in e.model_dump_json() for e in referral.events)


@pytest.mark.parametrize("first_meeting", [False, True], ids=["contact", "first_meeting"])
@pytest.mark.parametrize(
    "day",
    [city_day(AT) + timedelta(days=1), city_day(NOW) - timedelta(days=1)],
    ids=["future", "before_acceptance"],
)
def test_a_day_in_the_future_or_before_the_acceptance_is_refused(
    first_meeting: bool, day: date
) -> None:
    referral = referral_in(S.ACCEPTED)  # accepted on NOW's day
    holder = the_partner(referral)
    before = state_of(referral)

    def report() -> None:
        if first_meeting:
            referral.record_first_meeting(holder, day, Accompaniment.NOBODY, AT)
        else:
            referral.record_contact(holder, day, AT)

    with pytest.raises(InvalidAnswer):
        report()
    assert (state_of(referral), referral.events) == (before, [])


def test_the_day_reported_is_read_on_the_copenhagen_calendar() -> None:
    referral = referral_in(S.ACCEPTED)
    holder = the_partner(referral)
    late_evening = NOW.replace(hour=23, minute=30)  # 00:30 the next day in Copenhagen
    next_day = late_evening.date() + timedelta(days=1)
    referral.record_contact(holder, next_day, late_evening)
    assert referral.contact_made_on == next_day


def test_a_first_meeting_before_the_day_contact_was_made_is_refused() -> None:
    referral = referral_in(S.ACCEPTED)
    holder = the_partner(referral)
    referral.record_contact(holder, city_day(AT), AT)
    referral.events.clear()
    before = state_of(referral)
    with pytest.raises(InvalidAnswer, match="contact"):
        referral.record_first_meeting(
            holder, city_day(AT) - timedelta(days=1), Accompaniment.NOBODY, AT
        )
    assert (state_of(referral), referral.events) == (before, [])
