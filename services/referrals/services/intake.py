"""A care system submits a referral."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID, uuid4

from sqlalchemy.exc import IntegrityError

from contracts.referrals import TimeOfDay
from referrals.domain import (
    Consent,
    Referral,
    Scores,
    age_band,
    in_day_order,
    parse_cpr,
)
from referrals.privacy import (
    CitizenIdentity,
    DataKey,
    Vault,
    new_reference,
)
from referrals.services.common import MAX_TRIES, UnitOfWork, UnitOfWorkFactory, load
from referrals.store import (
    StoredCitizen,
)
from runtime.clock import Clock, utcnow
from runtime.idempotency import IdempotentRequest, create_once


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
    care_record_reference: str | None = None
    baseline: Scores | None = None
    """The citizen's answers at intake; only with consent to follow-up questions."""
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
                care_record_reference=command.care_record_reference,
                baseline=command.baseline,
                submitted_at=now,
            )
        )
        key = keep_citizen(uow, vault, identity, now)
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
                load=lambda uow, referral_id: load(uow, UUID(referral_id)),
            )
        except IntegrityError:
            # Most likely the same new citizen referred at the same moment by another
            # request, which added them first: the next attempt finds them.
            if attempt >= MAX_TRIES:
                raise
            attempt += 1


def keep_citizen(
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
