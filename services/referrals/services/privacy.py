"""Personal data: reading it (audited), consent withdrawal and erasure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from referrals.domain import (
    Actor,
    ConsentMethod,
    ErasureBasis,
    Forbidden,
    IdentityPurpose,
    Party,
    Referral,
    parse_cpr,
)
from referrals.privacy import (
    CitizenIdentity,
    KeyUnavailable,
    Vault,
)
from referrals.services.common import MAX_TRIES, Lifecycle, UnitOfWork, change, find, write_audit
from referrals.store import (
    ConcurrentUpdate,
    Sealed,
)


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
        referral = find(uow, referral_id, actor)
        _still_consented(referral)
        if actor.organization_id is None or not referral.contact_shared_with(actor.organization_id):
            raise ContactNotShared(
                "contact details are shared only with the organisation that accepted the "
                "referral, while it holds it, and only if the citizen consented"
            )
        identity = _identity(uow, referral_id, vault)
        write_audit(uow, actor, lifecycle.clock(), referral_id, *CONTACT_READ)
        uow.commit()
        return identity


def note(referral_id: UUID, actor: Actor, lifecycle: Lifecycle, vault: Vault) -> str | None:
    """The care worker's note to the partner (None if there is none), for the organisation
    that accepted the referral, while it holds it; the read is audited."""
    with lifecycle.start_uow() as uow:
        referral = find(uow, referral_id, actor)
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
        write_audit(uow, actor, lifecycle.clock(), referral_id, *NOTE_READ)
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
        find(uow, referral_id, actor)
        identity = _identity(uow, referral_id, vault)
        read = (IDENTITY_READ, purpose.value, IDENTITY_FIELDS)
        write_audit(uow, actor, lifecycle.clock(), referral_id, *read)
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
    return change(
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
                write_audit(uow, actor, now, referral_id, *entry)
            uow.commit()
            return Erasure(erased, now)
