"""The referral aggregate: each step of its life, checked against the transition table in
`rules`, and the events it causes. Rules only, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import get_args
from uuid import UUID, uuid4

from contracts import (
    ConsentWithdrawn,
    ContactMade,
    FirstMeetingHeld,
    IntegrationEvent,
    OfferDeclined,
    OfferExpired,
    OfferWithdrawn,
    ReferralAccepted,
    ReferralAssigned,
    ReferralCancelled,
    ReferralErased,
    ReferralEscalated,
    ReferralFailed,
    ReferralOffered,
    ReferralPutOnHold,
    ReferralResumed,
    ReferralSubmitted,
    VolunteerNamed,
)
from contracts.referrals import CareSystemEvent, TimeOfDay
from referrals.domain.citizen import Consent, ConsentMethod, ConsentWithdrawal, ErasureBasis
from referrals.domain.follow_ups import (
    CITY_TIME,
    DEFAULT_PLAN,
    FollowUp,
    FollowUpPlan,
)
from referrals.domain.following import FollowingUp
from referrals.domain.offers import (
    OFFER_EXPIRY,
    Accompaniment,
    CancelReason,
    Candidate,
    Deadline,
    DeclineReason,
    EscalationReason,
    FailReason,
    HoldReason,
    KnownService,
    Offer,
    OfferStatus,
    WithdrawalReason,
)
from referrals.domain.outcomes import Outcome, Scores
from referrals.domain.rules import (
    CLOCK,
    FINAL,
    HELD,
    SYSTEM,
    Action,
    Actor,
    Forbidden,
    Holder,
    InvalidAnswer,
    InvalidTransition,
    Party,
    ReferralStatus,
    Transition,
    check_party,
    may_know,
    require_text,
)

S = ReferralStatus

_DAY: tuple[TimeOfDay, ...] = get_args(TimeOfDay)


def in_day_order(times: Iterable[str]) -> list[TimeOfDay]:
    """Times of day each once, morning first, so that equal preferences read the same."""
    wanted = set(times)
    return [time for time in _DAY if time in wanted]


@dataclass(frozen=True)
class ErasedReferral:
    """What is kept of an erased referral: that it existed, and who knew of it, so that
    they are told it is gone (410) and everyone else that it never was (404). Nothing
    about the citizen."""

    id: UUID
    submitted_by: str
    organization_ids: tuple[UUID, ...]
    """Every organisation it was offered to."""
    erased_at: datetime

    def visible_to(self, actor: Actor) -> bool:
        return may_know(actor, self.submitted_by, self.organization_ids)


@dataclass
class Referral(FollowingUp):
    id: UUID
    submitted_by: str
    citizen_ref: str
    age_band: str
    district: str
    interests: list[str]
    languages: list[str]
    needs: list[str]
    consent: Consent
    submitted_at: datetime
    needs_accompaniment: bool = False
    preferred_times: list[TimeOfDay] = field(default_factory=list)
    """When in the day the citizen would go, in the day's order; empty: any time."""
    care_record_reference: str | None = None
    """The care system's own reference for the referral; shown only to that care system."""
    baseline: Scores | None = None
    """The citizen's answers at intake, with their consent to follow-up questions."""
    status: ReferralStatus = ReferralStatus.SUBMITTED
    candidates: list[Candidate] = field(default_factory=list)
    offers: list[Offer] = field(default_factory=list)
    escalation_reason: EscalationReason | None = None
    escalated_at: datetime | None = None
    contact_made_on: date | None = None
    first_meeting_on: date | None = None
    accompanied_by: Accompaniment | None = None
    volunteer_id: UUID | None = None
    """The volunteer the accepting organisation named to meet the citizen, if any."""
    follow_ups: list[FollowUp] = field(default_factory=list)
    """Scheduled when the first meeting is recorded, in order."""
    outcome: Outcome | None = None
    """How it ended, once completed after follow-ups."""
    history: list[Transition] = field(default_factory=list)
    version: int = 0
    """Bumped by the store on every save: two writers of one referral cannot both win."""
    events: list[IntegrationEvent] = field(default_factory=list, compare=False, repr=False)
    """Events caused since it was loaded; the unit of work collects them at commit."""
    care_events: list[CareSystemEvent] = field(default_factory=list, compare=False, repr=False)
    """What its care system is to be told since it was loaded (`referrals.status.v1`):
    each change of status, each follow-up falling due. Collected like `events`."""

    @classmethod
    def submit(cls, referral: Referral) -> Referral:
        """A new referral, recording `ReferralSubmitted`. Answers at intake are kept only
        if the citizen consented to follow-up questions."""
        if referral.baseline is not None and not referral.consent.follow_up_questions:
            raise InvalidAnswer(
                "baseline: the citizen did not consent to follow-up questions, so their "
                "answers cannot be recorded"
            )
        referral.history.append(
            Transition(referral.submitted_at, "submit", Party.CARE_SYSTEM, None, S.SUBMITTED)
        )
        referral.care_events.append(referral._status_changed(None, None, referral.submitted_at))
        referral.events.append(
            ReferralSubmitted(
                referral_id=referral.id,
                citizen_ref=referral.citizen_ref,
                age_band=referral.age_band,
                district=referral.district,
                interests=referral.interests,
                languages=referral.languages,
                needs=referral.needs,
                submitted_at=referral.submitted_at,
                needs_accompaniment=referral.needs_accompaniment,
                preferred_times=referral.preferred_times,
            )
        )
        return referral

    # --- what the referral says about itself --------------------------------------------

    @property
    def current_offer(self) -> Offer | None:
        """The pending offer, or the accepted one while an organisation holds the referral."""
        if not self.offers:
            return None
        last = self.offers[-1]
        return last if last.status in (OfferStatus.PENDING, OfferStatus.ACCEPTED) else None

    @property
    def accepted_offer(self) -> Offer | None:
        last = self.offers[-1] if self.offers else None
        return last if last and last.status is OfferStatus.ACCEPTED else None

    @property
    def offered_organizations(self) -> list[UUID]:
        """Every organisation it was offered to, each once, in the order of their offers."""
        return list(dict.fromkeys(offer.organization_id for offer in self.offers))

    def visible_to(self, actor: Actor) -> bool:
        """Whether `actor` may know the referral exists (see `rules.may_know`)."""
        return may_know(actor, self.submitted_by, self.offered_organizations)

    def latest_offer_to(self, organization_id: UUID) -> Offer | None:
        offers = [o for o in self.offers if o.organization_id == organization_id]
        return offers[-1] if offers else None

    def status_for(self, organization_id: UUID) -> str | None:
        """The referral as one partner organisation sees it: the referral's status while it
        holds the offer or the referral, otherwise what became of its offer (e.g. `declined`);
        None if it was never offered to it."""
        offer = self.latest_offer_to(organization_id)
        if offer is None:
            return None
        if offer.status in (OfferStatus.PENDING, OfferStatus.ACCEPTED):
            return self.status.value
        return offer.status.value

    @property
    def completed_at(self) -> datetime | None:
        return next((t.at for t in self.history if t.to_status is S.COMPLETED), None)

    def deadlines(self) -> list[Deadline]:
        """The durable timers this state needs: the expiry of a pending offer; while an
        organisation holds the referral, each follow-up's falling due, its reminder and its
        escalation. None once consent is withdrawn: nothing may happen to the referral on
        its own any more."""
        if self.consent.withdrawal is not None:
            return []
        deadlines = [
            Deadline(OFFER_EXPIRY, offer.id, offer.expires_at)
            for offer in self.offers
            if offer.status is OfferStatus.PENDING
        ]
        return deadlines + self._follow_up_deadlines()

    def held_by(self, organization_id: UUID) -> bool:
        """Whether this organisation accepted the referral and holds it now (accepted, in
        progress or on hold): it may read the care worker's note."""
        accepted = self.accepted_offer
        return (
            self.status in HELD
            and accepted is not None
            and accepted.organization_id == organization_id
        )

    def contact_shared_with(self, organization_id: UUID) -> bool:
        """Whether this organisation may read how to reach the citizen: it holds the
        referral, and the citizen consented to share contact details (and did not withdraw)."""
        return (
            self.consent.share_contact_details
            and self.consent.withdrawal is None
            and self.held_by(organization_id)
        )

    # --- directory's answer -------------------------------------------------------------

    def receive_candidates(
        self,
        candidates: list[Candidate],
        services: Mapping[UUID, KnownService],
        now: datetime,
        ttl: timedelta,
    ) -> None:
        """Directory ranked candidates: offer the best available one, or escalate."""
        if self.status is not S.SUBMITTED:
            return  # a late or repeated match list changes nothing
        self.candidates = list(candidates)
        self._offer_next(services, now, ttl)

    def no_match(self, now: datetime) -> None:
        if self.status is S.SUBMITTED:
            self._escalate(EscalationReason.NO_MATCH, now)

    # --- the partner's answers ----------------------------------------------------------

    def accept(self, actor: Actor, now: datetime) -> None:
        offer = self._check_holder(Action.ACCEPT, actor)
        offer.status, offer.answered_at = OfferStatus.ACCEPTED, now
        self._move(Action.ACCEPT, actor, S.ACCEPTED, now)
        self.events.append(ReferralAccepted(**self._offer_fields(offer), accepted_at=now))

    def decline(
        self,
        actor: Actor,
        reason: DeclineReason,
        text: str | None,
        services: Mapping[UUID, KnownService],
        now: datetime,
        ttl: timedelta,
    ) -> None:
        offer = self._check_holder(Action.DECLINE, actor)
        require_text(reason, text)
        offer.status, offer.answered_at, offer.decline_reason = OfferStatus.DECLINED, now, reason
        self._move(Action.DECLINE, actor, S.OFFERED, now, reason, text)  # the next offer moves on
        self.events.append(
            OfferDeclined(**self._offer_fields(offer), reason=reason.value, declined_at=now)
        )
        self._offer_next(services, now, ttl)

    def expire(
        self,
        offer_id: UUID,
        services: Mapping[UUID, KnownService],
        now: datetime,
        ttl: timedelta,
        actor: Actor = CLOCK,
    ) -> bool:
        """The offer's deadline passed. False, changing nothing, if it was answered or taken
        back meanwhile (a timer may fire after the state it was set for has moved on)."""
        check_party(Action.EXPIRE, actor)  # only the clock, whatever the state
        offer = self.current_offer
        if (
            self.status is not S.OFFERED
            or offer is None
            or offer.id != offer_id
            or offer.status is not OfferStatus.PENDING
            or offer.expires_at > now
        ):
            return False
        self._check(Action.EXPIRE, actor)
        offer.status, offer.answered_at = OfferStatus.EXPIRED, now
        self._move(Action.EXPIRE, actor, S.OFFERED, now)
        self.events.append(OfferExpired(**self._offer_fields(offer), expired_at=now))
        self._offer_next(services, now, ttl)
        return True

    def record_contact(self, actor: Actor, on: date, now: datetime) -> None:
        offer = self._check_holder(Action.RECORD_CONTACT, actor)
        self._check_day(on, now, "contact")
        self.contact_made_on = on
        self._move(Action.RECORD_CONTACT, actor, self.status, now)
        self.events.append(ContactMade(**self._held_fields(offer), contacted_on=on))

    def name_volunteer(self, actor: Actor, volunteer_id: UUID, now: datetime) -> None:
        """The accepting organisation names who will meet the citizen; naming another
        replaces them, naming the same one again changes nothing."""
        offer = self._check_holder(Action.NAME_VOLUNTEER, actor)
        if self.volunteer_id == volunteer_id:
            return
        self.volunteer_id = volunteer_id
        self._move(Action.NAME_VOLUNTEER, actor, self.status, now)
        self.events.append(
            VolunteerNamed(
                **self._held_fields(offer),
                volunteer_id=volunteer_id,
                district=self.district,
                languages=self.languages,
                needs_accompaniment=self.needs_accompaniment,
                preferred_times=self.preferred_times,
                named_at=now,
            )
        )

    def record_first_meeting(
        self,
        actor: Actor,
        on: date,
        accompanied_by: Accompaniment,
        now: datetime,
        plan: FollowUpPlan = DEFAULT_PLAN,
    ) -> None:
        """The citizen came: the follow-ups of `plan` are scheduled from this day."""
        offer = self._check_holder(Action.RECORD_FIRST_MEETING, actor)
        self._check_day(on, now, "first meeting")
        if self.contact_made_on is not None and on < self.contact_made_on:
            raise InvalidAnswer("the first meeting cannot be before the day contact was made")
        self.first_meeting_on, self.accompanied_by = on, accompanied_by
        self.follow_ups = plan.schedule(on)
        self._move(Action.RECORD_FIRST_MEETING, actor, S.IN_PROGRESS, now)
        self.events.append(
            FirstMeetingHeld(
                **self._held_fields(offer),
                met_on=on,
                accompanied_by=accompanied_by.value,
            )
        )

    def put_on_hold(
        self, actor: Actor, reason: HoldReason, text: str | None, now: datetime
    ) -> None:
        offer = self._check_holder(Action.PUT_ON_HOLD, actor)
        require_text(reason, text)
        self._move(Action.PUT_ON_HOLD, actor, S.ON_HOLD, now, reason, text)
        self.events.append(ReferralPutOnHold(**self._held_fields(offer), held_at=now))

    def resume(self, actor: Actor, now: datetime) -> None:
        offer = self._check_holder(Action.RESUME, actor)
        self._move(Action.RESUME, actor, S.IN_PROGRESS, now)
        self.events.append(ReferralResumed(**self._held_fields(offer), resumed_at=now))

    def complete(self, actor: Actor, note: str | None, now: datetime) -> None:
        """The organisation ends it as it should; follow-ups not yet answered are no longer
        asked (their timers go)."""
        offer = self._check_holder(Action.COMPLETE, actor)
        self._complete(offer, actor, now, note)

    def fail(self, actor: Actor, reason: FailReason, text: str | None, now: datetime) -> None:
        offer = self._check_holder(Action.FAIL, actor)
        require_text(reason, text)
        self._move(Action.FAIL, actor, S.FAILED, now, reason, text)
        self.events.append(ReferralFailed(**self._held_fields(offer), failed_at=now))

    # --- the service's own clock --------------------------------------------------------

    def act_on(
        self,
        kind: str,
        key: UUID,
        services: Mapping[UUID, KnownService],
        now: datetime,
        ttl: timedelta,
    ) -> bool:
        """A durable timer fired. False, changing nothing, if what it was set for has
        happened meanwhile (an offer answered, a follow-up answered, the referral ended)."""
        if kind == OFFER_EXPIRY:
            return self.expire(key, services, now, ttl)
        return self._act_on_follow_up(kind, key, now)

    # --- care systems and operators -----------------------------------------------------

    def cancel(self, actor: Actor, reason: CancelReason, text: str | None, now: datetime) -> None:
        self._check(Action.CANCEL, actor)
        require_text(reason, text)
        self._cancel(actor, reason, text, now)

    def withdraw_consent(
        self,
        actor: Actor,
        recorded_by: str | None,
        how: ConsentMethod | None,
        now: datetime,
    ) -> None:
        """The citizen withdrew consent: a referral not yet final is cancelled (reason
        `consent_withdrawn`, an open offer withdrawn), and every organisation it was offered
        to is to delete what it holds about it (`ConsentWithdrawn`). Once only."""
        self._check(Action.WITHDRAW_CONSENT, actor)
        if self.consent.withdrawal is not None:
            raise InvalidTransition("consent to this referral was withdrawn already")
        if self.status not in FINAL:
            self._cancel(actor, CancelReason.CONSENT_WITHDRAWN, None, now)
        withdrawal = ConsentWithdrawal(now, actor.party, actor.subject, recorded_by, how)
        self.consent = replace(self.consent, withdrawal=withdrawal)
        self.events.append(
            ConsentWithdrawn(
                referral_id=self.id,
                organization_ids=self.offered_organizations,
                withdrawn_at=now,
            )
        )

    def erase(self, actor: Actor, basis: ErasureBasis, now: datetime) -> ErasedReferral:
        """The citizen's data is erased: a referral not yet final is cancelled first (an
        open offer withdrawn, a place given back), then every service and organisation is
        to forget it (`ReferralErased`). Returns what may be kept of it: its tombstone."""
        self._check(Action.ERASE, actor)
        if self.status not in FINAL:
            self._cancel(actor, basis, None, now)
        organizations = self.offered_organizations
        self.events.append(
            ReferralErased(referral_id=self.id, organization_ids=organizations, erased_at=now)
        )
        return ErasedReferral(self.id, self.submitted_by, tuple(organizations), now)

    def _cancel(self, actor: Actor, reason: StrEnum, text: str | None, now: datetime) -> None:
        previous = self.status
        self._withdraw_open_offer(WithdrawalReason.CANCELLED, now)
        held = self.accepted_offer if previous in HELD else None
        self._move(Action.CANCEL, actor, S.CANCELLED, now, reason, text)
        self.events.append(
            ReferralCancelled(
                referral_id=self.id,
                cancelled_by=actor.party.value,
                previous_status=previous.value,
                organization_id=held.organization_id if held else None,
                service_id=held.service_id if held else None,
                cancelled_at=now,
            )
        )

    def assign(
        self,
        actor: Actor,
        service: KnownService | UUID,
        text: str | None,
        now: datetime,
        ttl: timedelta,
    ) -> Offer:
        """An operator offers the referral to a service of their choosing; an open offer is
        withdrawn. `service` is what directory announced of it, or only its id if directory
        announced nothing; it must be known and active, and a full one may still be chosen."""
        self._check(Action.ASSIGN, actor)
        if not isinstance(service, KnownService):
            raise InvalidAnswer(f"directory has announced no service {service}")
        if not service.active:
            raise InvalidAnswer(f"service {service.service_id} is closed")
        self._withdraw_open_offer(WithdrawalReason.REASSIGNED, now)
        offer = self._new_offer(service.service_id, service.organization_id, now, ttl)
        self.escalation_reason = self.escalated_at = None
        self._move(Action.ASSIGN, actor, S.OFFERED, now, text=text)
        self.events.append(ReferralAssigned(**self._offer_fields(offer), assigned_at=now))
        self.events.append(self._offered_event(offer))
        return offer

    # --- the rules ----------------------------------------------------------------------

    def _check(self, action: Action, actor: Actor) -> Offer | None:
        """Raise unless `actor` may take `action` now; return the current offer, if any."""
        rule = check_party(action, actor)
        if actor.party is Party.CARE_SYSTEM and actor.subject != self.submitted_by:
            raise Forbidden("only the care system that submitted a referral may change it")
        offer = self.current_offer
        # The organisation before the state: an organisation that no longer holds the
        # referral must not learn from a 409 what became of it.
        if rule.holder is not Holder.NONE and (
            offer is None or offer.organization_id != actor.organization_id
        ):
            whose = "offered to" if rule.holder is Holder.OFFERED else "accepted by"
            raise Forbidden(f"the referral is not {whose} this organisation")
        if self.status not in rule.from_states:
            raise InvalidTransition(f"a referral that is {self.status} cannot {action.value}")
        return offer

    def _check_holder(self, action: Action, actor: Actor) -> Offer:
        """`_check` for the partner's actions: the offer the acting organisation holds."""
        offer = self._check(action, actor)
        if offer is None:  # the rules admit a partner's action only while it holds an offer
            raise InvalidTransition(f"a referral that is {self.status} cannot {action.value}")
        return offer

    def _check_day(self, on: date, now: datetime, what: str) -> None:
        if on > now.astimezone(CITY_TIME).date():
            raise InvalidAnswer(f"the {what} cannot be in the future")
        accepted = self.accepted_offer
        if (
            accepted
            and accepted.answered_at
            and on < accepted.answered_at.astimezone(CITY_TIME).date()
        ):
            raise InvalidAnswer(f"the {what} cannot be before the day the referral was accepted")

    def _offer_next(
        self, services: Mapping[UUID, KnownService], now: datetime, ttl: timedelta
    ) -> None:
        tried = {offer.organization_id for offer in self.offers}
        for candidate in self.candidates:
            known = services.get(candidate.service_id)
            if candidate.organization_id in tried or (known and not known.available):
                continue
            offer = self._new_offer(candidate.service_id, candidate.organization_id, now, ttl)
            self._move("offer", SYSTEM, S.OFFERED, now)
            self.events.append(self._offered_event(offer))
            return
        self._escalate(self._why_nothing_left(), now)

    def _why_nothing_left(self) -> EscalationReason:
        answered = {o.status for o in self.offers if o.status is not OfferStatus.WITHDRAWN}
        if not self.candidates and not self.offers:
            return EscalationReason.NO_MATCH
        if answered == {OfferStatus.DECLINED}:
            return EscalationReason.ALL_DECLINED
        if answered == {OfferStatus.EXPIRED}:
            return EscalationReason.ALL_EXPIRED
        if answered:
            return EscalationReason.DECLINED_OR_EXPIRED
        return EscalationReason.NONE_AVAILABLE

    def _escalate(self, reason: EscalationReason, now: datetime) -> None:
        self.escalation_reason, self.escalated_at = reason, now
        self._move("escalate", SYSTEM, S.ESCALATED, now, reason)
        self.events.append(
            ReferralEscalated(
                referral_id=self.id,
                district=self.district,
                interests=self.interests,
                languages=self.languages,
                needs=self.needs,
                reason=reason.value,
                escalated_at=now,
            )
        )

    def _new_offer(
        self, service_id: UUID, organization_id: UUID, now: datetime, ttl: timedelta
    ) -> Offer:
        offer = Offer(uuid4(), organization_id, service_id, offered_at=now, expires_at=now + ttl)
        self.offers.append(offer)
        return offer

    def _withdraw_open_offer(self, reason: WithdrawalReason, now: datetime) -> None:
        offer = self.current_offer
        if offer is None or offer.status is not OfferStatus.PENDING:
            return
        offer.status, offer.answered_at = OfferStatus.WITHDRAWN, now
        self.events.append(
            OfferWithdrawn(**self._offer_fields(offer), reason=reason.value, withdrawn_at=now)
        )

    def _offered_event(self, offer: Offer) -> ReferralOffered:
        """What a partner needs to decide: never the personal number, name or address."""
        return ReferralOffered(
            **self._offer_fields(offer),
            citizen_ref=self.citizen_ref,
            age_band=self.age_band,
            district=self.district,
            interests=self.interests,
            languages=self.languages,
            needs=self.needs,
            expires_at=offer.expires_at,
            needs_accompaniment=self.needs_accompaniment,
        )

    def _offer_fields(self, offer: Offer) -> dict[str, UUID]:
        return {
            "referral_id": self.id,
            "offer_id": offer.id,
            "organization_id": offer.organization_id,
            "service_id": offer.service_id,
        }

    def _held_fields(self, offer: Offer) -> dict[str, UUID]:
        return {
            "referral_id": self.id,
            "organization_id": offer.organization_id,
            "service_id": offer.service_id,
        }

    def _move(
        self,
        action: str,
        actor: Actor,
        to: ReferralStatus,
        now: datetime,
        reason: StrEnum | None = None,
        text: str | None = None,
    ) -> None:
        previous = self.status
        code = reason.value if reason is not None else None
        self.history.append(Transition(now, action, actor.party, previous, to, code, text))
        self.status = to
        if to is not previous:
            self.care_events.append(self._status_changed(previous, code, now))

    def _note(self, action: str, actor: Actor, now: datetime, follow_up: int) -> None:
        """A step of a follow-up, which keeps the status."""
        self.history.append(
            Transition(now, action, actor.party, self.status, self.status, follow_up=follow_up)
        )
