"""Use cases of the referrals service: one function each, the only place that commits."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol
from uuid import UUID, uuid4

from sqlalchemy.exc import IntegrityError

from contracts import MatchesFound, NoMatchFound, ServiceChanged
from contracts.referrals import TimeOfDay
from referrals.domain import (
    Accompaniment,
    Actor,
    CancelReason,
    Candidate,
    Consent,
    ConsentMethod,
    DeclineReason,
    ErasureBasis,
    FailReason,
    Forbidden,
    HoldReason,
    IdentityPurpose,
    KnownService,
    Party,
    Referral,
    age_band,
    in_day_order,
    parse_cpr,
)
from referrals.privacy import (
    CitizenIdentity,
    DataKey,
    DataKeyStore,
    KeyUnavailable,
    MasterKeys,
    Vault,
    new_reference,
    open_legacy_identity,
)
from referrals.store import (
    CitizenRepository,
    ConcurrentUpdate,
    ReferralRepository,
    Sealed,
    ServiceBook,
    StoredCitizen,
    TimerRepository,
)
from runtime.audit import AuditEntry
from runtime.clock import Clock, utcnow
from runtime.idempotency import IdempotentRequest, KeyStore, create_once


class UnitOfWork(KeyStore, Protocol):
    @property
    def referrals(self) -> ReferralRepository: ...

    @property
    def citizens(self) -> CitizenRepository: ...

    @property
    def services(self) -> ServiceBook: ...

    @property
    def timers(self) -> TimerRepository: ...

    def audit(self, entry: AuditEntry) -> None:
        """Append to the audit log, in this transaction; last before `commit`."""
        ...

    def commit(self) -> None: ...


UnitOfWorkFactory = Callable[[], AbstractContextManager[UnitOfWork]]

MAX_TRIES = 3
"""How often a change that lost a race with another writer of the same referral is redone."""


class ReferralNotFound(Exception):
    """No such referral, or not one this actor may see."""


class ReferralErased(Exception):
    """The referral was erased with its citizen's data; this actor knew of it."""


@dataclass(frozen=True)
class Lifecycle:
    """What every change of a referral needs besides the change itself."""

    start_uow: UnitOfWorkFactory
    offer_ttl: timedelta
    clock: Clock = utcnow


# --- intake -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubmitReferral:
    submitted_by: str
    personal_number: str
    name: str
    district: str
    interests: list[str]
    languages: list[str]
    consent: Consent
    needs: list[str] = field(default_factory=list)
    address: str | None = None
    phone: str | None = None
    note: str | None = None
    """The care worker's words to the partner; sealed, never on Kafka."""
    needs_accompaniment: bool = False
    preferred_times: list[TimeOfDay] = field(default_factory=list)
    idempotency_key: str | None = None


def submit_referral(
    command: SubmitReferral,
    start_uow: UnitOfWorkFactory,
    vault: Vault,
    clock: Clock = utcnow,
) -> tuple[Referral, bool]:
    """Create the referral, recording `ReferralSubmitted`; a retry returns the first one.
    A citizen referred before is found by the blind index and keeps their data key; the
    identity becomes what was sent now.

    Returns the referral and whether it was created now.
    """
    personal_number, born = parse_cpr(command.personal_number)
    now = clock()
    identity = CitizenIdentity(personal_number, command.name, command.address, command.phone)

    def create(uow: UnitOfWork) -> tuple[Referral, str]:
        referral = Referral.submit(
            Referral(
                id=uuid4(),
                submitted_by=command.submitted_by,
                citizen_ref=new_reference(),
                age_band=age_band(born, now.date()),
                district=command.district,
                interests=sorted({i.strip().lower() for i in command.interests}),
                languages=sorted({lang.lower() for lang in command.languages}),
                needs=sorted(set(command.needs)),
                consent=command.consent,
                needs_accompaniment=command.needs_accompaniment,
                preferred_times=in_day_order(command.preferred_times),
                submitted_at=now,
            )
        )
        key = _keep_citizen(uow, vault, identity, now)
        note = key.seal_note(referral.id, command.note) if command.note else None
        uow.referrals.add(referral, citizen_id=key.citizen_id, note=note)
        return referral, str(referral.id)

    request = IdempotentRequest.of(
        command.submitted_by, command.idempotency_key, command, secret=vault.fingerprint_key
    )
    attempt = 1
    while True:
        try:
            return create_once(
                start_uow,
                request,
                create=create,
                load=lambda uow, referral_id: _get(uow, UUID(referral_id)),
            )
        except IntegrityError:
            # Most likely the same new citizen referred at the same moment by another
            # request, which added them first: the next attempt finds them.
            if attempt >= MAX_TRIES:
                raise
            attempt += 1


def _keep_citizen(
    uow: UnitOfWork, vault: Vault, identity: CitizenIdentity, now: datetime
) -> DataKey:
    """Store the identity as the citizen's current one; returns the citizen's data key."""
    blind_index = vault.blind_index(identity.personal_number)
    citizen = uow.citizens.find(blind_index)
    if citizen is None:
        # The key is stored (and committed in the key store) before anything sealed with it:
        # a crash in between leaves an unused key, never a citizen without one.
        key = vault.new_data_key(uuid4())
        stored = StoredCitizen(key.citizen_id, blind_index, key.seal_identity(identity))
        uow.citizens.add(stored, now=now)
        return key
    key = vault.data_key(citizen.id)
    uow.citizens.update_identity(citizen.id, key.seal_identity(identity), now=now)
    return key


# --- directory's events -------------------------------------------------------------------


def offer_to_candidates(
    event: MatchesFound, uow: UnitOfWork, offer_ttl: timedelta, clock: Clock = utcnow
) -> None:
    """Directory ranked candidates: keep them and offer the first one available."""
    referral = _unless_erased(uow, event.referral_id)
    if referral is None:
        return
    candidates = [
        Candidate(m.service_id, m.organization_id, m.score, list(m.reasons)) for m in event.matches
    ]
    known = uow.services.get_many({c.service_id for c in candidates})
    referral.receive_candidates(candidates, known, clock(), offer_ttl)
    uow.referrals.save(referral)
    uow.commit()


def escalate_unmatched(event: NoMatchFound, uow: UnitOfWork, clock: Clock = utcnow) -> None:
    """Nothing fits: the referral waits for an operator."""
    referral = _unless_erased(uow, event.referral_id)
    if referral is None:
        return
    referral.no_match(clock())
    uow.referrals.save(referral)
    uow.commit()


def _unless_erased(uow: UnitOfWork, referral_id: UUID) -> Referral | None:
    """The referral, locked; None (the event taken as handled) if it was erased before
    directory's answer arrived."""
    referral = uow.referrals.get(referral_id, for_update=True)
    if referral is not None:
        return referral
    if uow.referrals.erased(referral_id) is None:
        raise ReferralNotFound(f"no referral {referral_id}")
    uow.commit()
    return None


def learn_service(event: ServiceChanged, uow: UnitOfWork) -> None:
    """Remember who runs a service and whether it takes referrals, as directory says."""
    uow.services.put(
        KnownService(
            service_id=event.service_id,
            organization_id=event.organization_id,
            active=event.status == "active",
            free_places=event.free_places,
        ),
        changed_at=event.changed_at,
    )
    uow.commit()


# --- the partner's answers, care systems and operators -----------------------------------


def accept_offer(referral_id: UUID, actor: Actor, lifecycle: Lifecycle) -> Referral:
    return _change(referral_id, actor, lifecycle, lambda r, _uow, now: r.accept(actor, now))


@dataclass(frozen=True)
class DeclineOffer:
    reason: DeclineReason
    text: str | None = None


def decline_offer(
    referral_id: UUID, command: DeclineOffer, actor: Actor, lifecycle: Lifecycle
) -> Referral:
    def decline(referral: Referral, uow: UnitOfWork, now: datetime) -> None:
        known = uow.services.get_many({c.service_id for c in referral.candidates})
        referral.decline(actor, command.reason, command.text, known, now, lifecycle.offer_ttl)

    return _change(referral_id, actor, lifecycle, decline)


def record_contact(referral_id: UUID, on: date, actor: Actor, lifecycle: Lifecycle) -> Referral:
    return _change(
        referral_id, actor, lifecycle, lambda r, _uow, now: r.record_contact(actor, on, now)
    )


@dataclass(frozen=True)
class RecordFirstMeeting:
    on: date
    accompanied_by: Accompaniment


def record_first_meeting(
    referral_id: UUID, command: RecordFirstMeeting, actor: Actor, lifecycle: Lifecycle
) -> Referral:
    return _change(
        referral_id,
        actor,
        lifecycle,
        lambda r, _uow, now: r.record_first_meeting(actor, command.on, command.accompanied_by, now),
    )


@dataclass(frozen=True)
class PutOnHold:
    reason: HoldReason
    text: str | None = None


def put_on_hold(
    referral_id: UUID, command: PutOnHold, actor: Actor, lifecycle: Lifecycle
) -> Referral:
    return _change(
        referral_id,
        actor,
        lifecycle,
        lambda r, _uow, now: r.put_on_hold(actor, command.reason, command.text, now),
    )


def resume(referral_id: UUID, actor: Actor, lifecycle: Lifecycle) -> Referral:
    return _change(referral_id, actor, lifecycle, lambda r, _uow, now: r.resume(actor, now))


def complete(referral_id: UUID, note: str | None, actor: Actor, lifecycle: Lifecycle) -> Referral:
    return _change(referral_id, actor, lifecycle, lambda r, _uow, now: r.complete(actor, note, now))


@dataclass(frozen=True)
class FailReferral:
    reason: FailReason
    text: str | None = None


def fail(referral_id: UUID, command: FailReferral, actor: Actor, lifecycle: Lifecycle) -> Referral:
    return _change(
        referral_id,
        actor,
        lifecycle,
        lambda r, _uow, now: r.fail(actor, command.reason, command.text, now),
    )


@dataclass(frozen=True)
class CancelReferral:
    reason: CancelReason
    text: str | None = None


def cancel(
    referral_id: UUID, command: CancelReferral, actor: Actor, lifecycle: Lifecycle
) -> Referral:
    return _change(
        referral_id,
        actor,
        lifecycle,
        lambda r, _uow, now: r.cancel(actor, command.reason, command.text, now),
    )


@dataclass(frozen=True)
class AssignReferral:
    service_id: UUID
    text: str | None = None


def assign(
    referral_id: UUID, command: AssignReferral, actor: Actor, lifecycle: Lifecycle
) -> Referral:
    """Raises `InvalidAnswer` for a service directory never announced or has closed."""

    def assign_to(referral: Referral, uow: UnitOfWork, now: datetime) -> None:
        known = uow.services.get_many({command.service_id}).get(command.service_id)
        service = known or command.service_id
        referral.assign(actor, service, command.text, now, lifecycle.offer_ttl)

    return _change(referral_id, actor, lifecycle, assign_to)


# --- the service's own clock --------------------------------------------------------------


def fire_due_timers(lifecycle: Lifecycle, limit: int = 100) -> int:
    """Act on every deadline that has passed: an offer not answered in time moves on as
    after a decline. Each timer fires in its own transaction together with the change it
    causes, claimed so that with several replicas exactly one fires it. Returns how many
    fired."""
    fired = 0
    for _ in range(limit):
        with lifecycle.start_uow() as uow:
            now = lifecycle.clock()
            timer = uow.timers.claim_due(now)
            if timer is None:
                break
            if not uow.timers.remove(timer):
                continue  # another scheduler fired it between the claim and now
            referral = _get(uow, timer.referral_id, for_update=True)
            known = uow.services.get_many({c.service_id for c in referral.candidates})
            referral.expire(timer.key, known, now, lifecycle.offer_ttl)
            uow.referrals.save(referral)
            uow.commit()
            fired += 1
    return fired


# --- reading ------------------------------------------------------------------------------


def get_referral(referral_id: UUID, actor: Actor, start_uow: UnitOfWorkFactory) -> Referral:
    with start_uow() as uow:
        return _find(uow, referral_id, actor)


def partner_referrals(
    actor: Actor, status: str | None, offset: int, limit: int, start_uow: UnitOfWorkFactory
) -> tuple[list[Referral], int]:
    """The referrals ever offered to the actor's organisation, newest offer first."""
    if actor.organization_id is None:
        raise ValueError("only a partner has an organisation")
    with start_uow() as uow:
        return uow.referrals.offered_to(actor.organization_id, status, offset, limit)


def escalations(
    district: str | None, offset: int, limit: int, start_uow: UnitOfWorkFactory
) -> tuple[list[Referral], int]:
    """Escalated referrals, the longest waiting first."""
    with start_uow() as uow:
        return uow.referrals.escalated(district, offset, limit)


class ContactNotShared(Exception):
    """The organisation may not read how to reach the citizen."""


class NoteNotShared(Exception):
    """The organisation may not read the care worker's note."""


class ConsentWasWithdrawn(Exception):
    """The citizen withdrew consent: nothing of them is shared any more."""


class IdentityNotConverted(Exception):
    """The referral's identity is still under the legacy key: nothing can be read of it."""


# What the audit log says of each read of personal data: the action, the purpose (a code)
# and the names of the fields read.
CONTACT_READ = ("contact_details.read", "contact_citizen", ("name", "phone", "address"))
NOTE_READ = ("note.read", "carry_out_referral", ("note",))
IDENTITY_READ = "citizen_identity.read"
IDENTITY_FIELDS = ("personal_number", "name", "address", "phone")
CONSENT_WITHDRAWN = ("consent.withdrawn", "citizen_withdrew_consent", ("consent.withdrawal",))
CITIZEN_ERASED = "citizen.erased"
ERASED_FIELDS = (*IDENTITY_FIELDS, "note", "history.text")


def contact_details(
    referral_id: UUID, actor: Actor, lifecycle: Lifecycle, vault: Vault
) -> CitizenIdentity:
    """The citizen's name, phone and address, for the organisation that accepted the
    referral and holds it, and only if the citizen consented; the read is audited."""
    with lifecycle.start_uow() as uow:
        referral = _find(uow, referral_id, actor)
        _still_consented(referral)
        if actor.organization_id is None or not referral.contact_shared_with(actor.organization_id):
            raise ContactNotShared(
                "contact details are shared only with the organisation that accepted the "
                "referral, while it holds it, and only if the citizen consented"
            )
        identity = _identity(uow, referral_id, vault)
        _audit(uow, actor, lifecycle.clock(), referral_id, *CONTACT_READ)
        uow.commit()
        return identity


def note(referral_id: UUID, actor: Actor, lifecycle: Lifecycle, vault: Vault) -> str | None:
    """The care worker's note to the partner (None if there is none), for the organisation
    that accepted the referral, while it holds it; the read is audited."""
    with lifecycle.start_uow() as uow:
        referral = _find(uow, referral_id, actor)
        _still_consented(referral)
        if actor.organization_id is None or not referral.held_by(actor.organization_id):
            raise NoteNotShared(
                "the note is shared only with the organisation that accepted the referral, "
                "while it holds it"
            )
        sealed = uow.referrals.sealed(referral_id)
        text = None
        if sealed.note is not None:
            text = vault.data_key(_citizen_of(sealed)).open_note(referral_id, sealed.note)
        _audit(uow, actor, lifecycle.clock(), referral_id, *NOTE_READ)
        uow.commit()
        return text


def citizen_identity(
    referral_id: UUID, purpose: IdentityPurpose, actor: Actor, lifecycle: Lifecycle, vault: Vault
) -> CitizenIdentity:
    """Who the referral is for, in full, for an operator, who says why; the read is
    audited with that purpose."""
    if actor.party is not Party.OPERATOR:
        raise Forbidden("only an operator may see a citizen's identity")
    with lifecycle.start_uow() as uow:
        _find(uow, referral_id, actor)
        identity = _identity(uow, referral_id, vault)
        read = (IDENTITY_READ, purpose.value, IDENTITY_FIELDS)
        _audit(uow, actor, lifecycle.clock(), referral_id, *read)
        uow.commit()
        return identity


def _still_consented(referral: Referral) -> None:
    if referral.consent.withdrawal is not None:
        raise ConsentWasWithdrawn(
            "the citizen withdrew consent to this referral: nothing of them is shared any more"
        )


def _identity(uow: UnitOfWork, referral_id: UUID, vault: Vault) -> CitizenIdentity:
    citizen_id = _citizen_of(uow.referrals.sealed(referral_id))
    citizen = uow.citizens.get(citizen_id)
    if citizen is None:
        raise KeyUnavailable(f"no citizen {citizen_id}")
    return vault.data_key(citizen_id).open_identity(citizen.identity)


def _citizen_of(sealed: Sealed) -> UUID:
    citizen_id = sealed.citizen_id
    if citizen_id is None:
        raise IdentityNotConverted(
            "this referral was stored under the legacy identity key and is not converted "
            "yet: set REFERRALS_LEGACY_IDENTITY_KEY and restart the service"
        )
    return citizen_id


# --- consent and erasure ------------------------------------------------------------------


@dataclass(frozen=True)
class WithdrawConsent:
    """Who recorded the withdrawal (the care worker's id) and how the citizen said so."""

    recorded_by: str | None = None
    how: ConsentMethod | None = None


def withdraw_consent(
    referral_id: UUID, command: WithdrawConsent, actor: Actor, lifecycle: Lifecycle
) -> Referral:
    """The citizen withdrew consent: the referral is cancelled if it is not final, and every
    organisation it was offered to is told to delete what it holds; audited."""
    return _change(
        referral_id,
        actor,
        lifecycle,
        lambda r, _uow, now: r.withdraw_consent(actor, command.recorded_by, command.how, now),
        audit=CONSENT_WITHDRAWN,
    )


class CitizenNotFound(Exception):
    """No citizen with this personal number is known: never referred, or erased."""


@dataclass(frozen=True)
class EraseCitizen:
    personal_number: str
    legal_basis: ErasureBasis


@dataclass(frozen=True)
class Erasure:
    """What an erasure did: the referrals it erased, and when."""

    referral_ids: list[UUID]
    erased_at: datetime


def erase_citizen(
    command: EraseCitizen, actor: Actor, lifecycle: Lifecycle, vault: Vault
) -> Erasure:
    """Erase everything of the citizen: each referral is cancelled if it is not final, then
    deleted but for its tombstone, every service and organisation told to forget it; the
    citizen's data key is destroyed and the citizen (blind index, sealed identity) deleted.
    The audit log keeps who erased which referrals and on what legal basis, nothing more.

    Raises `CitizenNotFound` for a personal number no citizen has, `InvalidPersonalNumber`
    for one that is no personal number."""
    personal_number, _ = parse_cpr(command.personal_number)
    blind_index = vault.blind_index(personal_number)
    attempt = 1
    while True:
        with lifecycle.start_uow() as uow:
            now = lifecycle.clock()
            citizen = uow.citizens.find(blind_index)
            if citizen is None:
                raise CitizenNotFound("no citizen with this personal number is known")
            referrals = uow.referrals.of_citizen(citizen.id)
            tombstones = [referral.erase(actor, command.legal_basis, now) for referral in referrals]
            # The key first, in the key store's own commit: from here on nothing sealed for
            # the citizen opens, here or in any copy, even if what follows fails. The blind
            # index goes only with the commit below, so a retry finds the citizen again.
            vault.destroy_data_key(citizen.id)
            try:
                for referral, tombstone in zip(referrals, tombstones, strict=True):
                    uow.referrals.erase(referral, tombstone)
            except ConcurrentUpdate:
                if attempt >= MAX_TRIES:
                    raise
                attempt += 1
                continue
            uow.citizens.remove(citizen.id)
            erased = [referral.id for referral in referrals]
            entry = (CITIZEN_ERASED, command.legal_basis.value, ERASED_FIELDS)
            audited: list[UUID | None] = [*erased] or [None]  # none left: still audited
            for referral_id in audited:
                _audit(uow, actor, now, referral_id, *entry)
            uow.commit()
            return Erasure(erased, now)


def _audit(
    uow: UnitOfWork,
    actor: Actor,
    at: datetime,
    referral_id: UUID | None,
    action: str,
    purpose: str,
    fields: tuple[str, ...],
) -> None:
    """The audit entry of what `actor` did, in the transaction it is part of."""
    uow.audit(
        AuditEntry(
            at=at,
            subject=actor.subject,
            role=actor.party.value,
            organization_id=actor.organization_id,
            action=action,
            referral_id=referral_id,
            fields=fields,
            purpose=purpose,
        )
    )


# --- keys ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rotation:
    """What `rotate_keys` did, in counts: never a key or an identity."""

    master_key: str
    """The id of the master key every data key is now wrapped under."""
    rewrapped: int
    already_current: int
    unreadable: int
    """Under a master key no longer configured: still under it, unreadable until it is."""


def rotate_keys(master: MasterKeys, keys: DataKeyStore, batch: int = 500) -> Rotation:
    """Rewrap every data key under the newest master key, so that the older ones can be
    removed from the configuration. Safe to run again, and alongside the service: a key
    changed meanwhile is left for the next run."""
    rewrapped = unreadable = 0
    after: UUID | None = None
    while found := keys.not_under(master.current, after=after, limit=batch):
        for citizen_id, wrapped in found:
            try:
                fresh = master.rewrap(wrapped, citizen_id)
            except KeyUnavailable:
                unreadable += 1
                continue
            rewrapped += keys.replace(citizen_id, wrapped, fresh)
        after = found[-1][0]
    already = keys.count() - rewrapped - unreadable
    return Rotation(master.current, rewrapped, already, unreadable)


@dataclass(frozen=True)
class Conversion:
    converted: int
    unreadable: int
    """The legacy key did not open them; they stay as they are."""


def convert_legacy_identities(
    start_uow: UnitOfWorkFactory,
    vault: Vault,
    legacy_key: str,
    clock: Clock = utcnow,
    batch: int = 100,
) -> Conversion:
    """Move identities stored under the one Fernet key of before into per-citizen keys:
    each referral gets its citizen (found again by the blind index, or new). Its reference
    stays what it was, as the events already published say."""
    converted = unreadable = 0
    after: UUID | None = None
    while True:
        with start_uow() as uow:
            found = uow.referrals.legacy(after=after, limit=batch)
        if not found:
            return Conversion(converted, unreadable)
        for referral_id, ciphertext in found:
            try:
                identity = open_legacy_identity(legacy_key, ciphertext)
            except KeyUnavailable:
                unreadable += 1
                continue
            with start_uow() as uow:
                key = _keep_citizen(uow, vault, identity, clock())
                uow.referrals.attach_citizen(referral_id, key.citizen_id)
                uow.commit()
            converted += 1
        after = found[-1][0]


def legacy_referrals(start_uow: UnitOfWorkFactory) -> int:
    """How many referrals still wait for conversion from the legacy key."""
    with start_uow() as uow:
        return uow.referrals.count_legacy()


# --- helpers ------------------------------------------------------------------------------


def _change(
    referral_id: UUID,
    actor: Actor,
    lifecycle: Lifecycle,
    change: Callable[[Referral, UnitOfWork, datetime], None],
    *,
    audit: tuple[str, str, tuple[str, ...]] | None = None,
) -> Referral:
    """Load the referral the actor may see, apply `change`, store it (with the audit entry
    (action, purpose, fields) of the change, if it is audited) and commit; redone from the
    start when another writer changed the referral meanwhile."""
    attempt = 1
    while True:
        with lifecycle.start_uow() as uow:
            referral = _find(uow, referral_id, actor, for_update=True)
            now = lifecycle.clock()
            change(referral, uow, now)
            try:
                uow.referrals.save(referral)
                if audit is not None:
                    _audit(uow, actor, now, referral.id, *audit)
                uow.commit()
            except ConcurrentUpdate:
                if attempt >= MAX_TRIES:
                    raise
                attempt += 1
                continue
            return referral


def _find(
    uow: UnitOfWork, referral_id: UUID, actor: Actor, *, for_update: bool = False
) -> Referral:
    """The referral if `actor` may know it exists (partners what was offered to their
    organisation, care systems what they submitted, operators everything); `ReferralErased`
    if it was erased and the actor knew of it, `ReferralNotFound` otherwise."""
    referral = uow.referrals.get(referral_id, for_update=for_update)
    if referral is not None and referral.visible_to(actor):
        return referral
    if referral is None:
        erased = uow.referrals.erased(referral_id)
        if erased is not None and erased.visible_to(actor):
            raise ReferralErased(f"referral {referral_id} was erased")
    raise ReferralNotFound(f"no referral {referral_id}")


def _get(uow: UnitOfWork, referral_id: UUID, *, for_update: bool = False) -> Referral:
    referral = uow.referrals.get(referral_id, for_update=for_update)
    if referral is None:
        raise ReferralNotFound(f"no referral {referral_id}")
    return referral
