"""Use cases of the referrals service: one function each, the only place that commits."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from uuid import UUID, uuid4

from contracts import IntegrationEvent, MatchesFound, NoMatchFound
from referrals import events
from referrals.domain import Match, Referral, ReferralStatus, age_band, parse_cpr
from referrals.privacy import CitizenIdentity, IdentityVault
from referrals.store import ReferralRepository
from runtime.idempotency import IdempotentRequest, KeyStore, create_once


class UnitOfWork(KeyStore, Protocol):
    @property
    def referrals(self) -> ReferralRepository: ...

    def publish(self, event: IntegrationEvent) -> None: ...


UnitOfWorkFactory = Callable[[], AbstractContextManager[UnitOfWork]]


class ReferralNotFound(Exception):
    pass


@dataclass(frozen=True)
class SubmitReferral:
    submitted_by: str
    personal_number: str
    name: str
    district: str
    interests: list[str]
    languages: list[str]
    needs: list[str] = field(default_factory=list)
    address: str | None = None
    phone: str | None = None
    share_contact_details: bool = False
    idempotency_key: str | None = None


def submit_referral(
    command: SubmitReferral,
    start_uow: UnitOfWorkFactory,
    vault: IdentityVault,
    today: date | None = None,
) -> tuple[Referral, bool]:
    """Create the referral and queue `ReferralSubmitted`; a retry returns the first one.

    Returns the referral and whether it was created now.
    """
    personal_number, born = parse_cpr(command.personal_number)
    now = datetime.now(UTC)

    def create(uow: UnitOfWork) -> tuple[Referral, str]:
        referral = Referral(
            id=uuid4(),
            submitted_by=command.submitted_by,
            citizen_ref=vault.pseudonym(personal_number),
            age_band=age_band(born, today or now.date()),
            district=command.district,
            interests=sorted({i.strip().lower() for i in command.interests}),
            languages=sorted({lang.lower() for lang in command.languages}),
            needs=sorted(set(command.needs)),
            share_contact_details=command.share_contact_details,
            submitted_at=now,
        )
        identity = CitizenIdentity(personal_number, command.name, command.address, command.phone)
        uow.referrals.add(referral, identity_ciphertext=vault.seal(identity))
        uow.publish(events.referral_submitted(referral))
        return referral, str(referral.id)

    return create_once(
        start_uow,
        IdempotentRequest.of(
            command.submitted_by, command.idempotency_key, command, secret=vault.mac_key
        ),
        create=create,
        load=lambda uow, referral_id: _get(uow, UUID(referral_id)),
    )


def offer_to_best_match(event: MatchesFound, uow: UnitOfWork, offer_ttl: timedelta) -> None:
    """Directory found matches: offer the referral to the best one."""
    referral = _get(uow, event.referral_id)
    if referral.status is ReferralStatus.SUBMITTED:
        matches = [Match(m.service_id, m.organization_id) for m in event.matches]
        offer = referral.offer_best(matches, datetime.now(UTC), offer_ttl)
        uow.referrals.save(referral)
        uow.publish(events.referral_offered(referral, offer))
    # Otherwise it was offered on an earlier match list, and a late one changes nothing.
    uow.commit()


def mark_unmatched(event: NoMatchFound, uow: UnitOfWork) -> None:
    """Nothing fits: the referral waits for an operator."""
    referral = _get(uow, event.referral_id)
    if referral.status is ReferralStatus.SUBMITTED:
        referral.mark_unmatched()
        uow.referrals.save(referral)
    uow.commit()


def get_referral(referral_id: UUID, start_uow: UnitOfWorkFactory) -> Referral:
    with start_uow() as uow:
        return _get(uow, referral_id)


def _get(uow: UnitOfWork, referral_id: UUID) -> Referral:
    referral = uow.referrals.get(referral_id)
    if referral is None:
        raise ReferralNotFound(f"no referral {referral_id}")
    return referral
