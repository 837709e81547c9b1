"""Storage of referrals: SQLModel tables and the repositories the service layer uses."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import JSON, Column, Date, Index, LargeBinary, Text, delete, func, update
from sqlalchemy.orm import registry
from sqlmodel import Field, Session, SQLModel, col, select

from referrals.domain import (
    Accompaniment,
    Candidate,
    Consent,
    ConsentMethod,
    ConsentWithdrawal,
    Deadline,
    DeclineReason,
    ErasedReferral,
    EscalationReason,
    KnownService,
    Offer,
    OfferStatus,
    Party,
    Referral,
    ReferralStatus,
    Transition,
    in_day_order,
)
from runtime.audit import AuditEntry, append
from runtime.storage import UnitOfWork, UTCDateTime, idempotency_keys


class Base(SQLModel, registry=registry()):
    """This service's tables only; the outbox and inbox come from `runtime.storage`."""


class CitizenRow(Base, table=True):
    """A citizen referred at least once: found again by the blind index of the personal
    number; the identity sealed with the citizen's own data key (in the key store)."""

    __tablename__ = "citizen"

    id: UUID = Field(primary_key=True)
    blind_index: str = Field(max_length=64, unique=True)
    identity_ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class ReferralRow(Base, table=True):
    __tablename__ = "referral"
    __table_args__ = (Index("ix_referral_escalated", "status", "escalated_at"),)

    id: UUID = Field(primary_key=True)
    submitted_by: str = Field(index=True, max_length=200)
    citizen_ref: str = Field(index=True, max_length=64)
    # No foreign key: SQLite adds one only by rebuilding the table, which its offers forbid.
    citizen_id: UUID | None = Field(default=None, index=True)
    legacy_identity: bytes = Field(
        default=b"", sa_column=Column("identity_ciphertext", LargeBinary, nullable=False)
    )
    """Before per-citizen keys: the identity under the one Fernet key of those days; empty
    once converted (and for every referral since)."""
    note_ciphertext: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    """The care worker's note to the partner, sealed with the citizen's data key."""
    age_band: str = Field(max_length=8)
    district: str = Field(max_length=100)
    # Filters ignore case; SQLite's lower() knows only ASCII, so 'Østerbro' is folded here.
    district_key: str = Field(sa_column=Column(Text, nullable=False, index=True))
    interests: list[str] = Field(sa_column=Column(JSON, nullable=False))
    languages: list[str] = Field(sa_column=Column(JSON, nullable=False))
    needs: list[str] = Field(sa_column=Column(JSON, nullable=False))
    share_contact_details: bool
    consent_given_on: date | None = Field(default=None, sa_column=Column(Date()))
    consent_recorded_by: str | None = Field(default=None, max_length=100)
    consent_how: str | None = Field(default=None, max_length=10)
    consent_follow_up_questions: bool = False
    consent_share_outcome_with_care_system: bool = False
    consent_withdrawn_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    consent_withdrawn_party: str | None = Field(default=None, max_length=20)
    consent_withdrawn_by: str | None = Field(default=None, max_length=200)
    """The subject of the token that entered the withdrawal."""
    consent_withdrawal_recorded_by: str | None = Field(default=None, max_length=100)
    consent_withdrawal_how: str | None = Field(default=None, max_length=10)
    needs_accompaniment: bool = False
    preferred_times: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    status: str = Field(index=True, max_length=20)
    submitted_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    escalation_reason: str | None = Field(default=None, max_length=30)
    escalated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    contact_made_on: date | None = Field(default=None, sa_column=Column(Date()))
    first_meeting_on: date | None = Field(default=None, sa_column=Column(Date()))
    accompanied_by: str | None = Field(default=None, max_length=20)
    version: int = 0


class OfferRow(Base, table=True):
    __tablename__ = "offer"

    id: UUID = Field(primary_key=True)
    referral_id: UUID = Field(foreign_key="referral.id", index=True)
    seq: int = 0
    """Its place among the referral's offers: their times may tie (a clock standing still,
    replicas whose clocks differ), and the last offer is the one that counts."""
    organization_id: UUID = Field(index=True)
    service_id: UUID
    status: str = Field(max_length=20)
    offered_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    answered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    decline_reason: str | None = Field(default=None, max_length=30)


class CandidateRow(Base, table=True):
    """Directory's ranked candidates for a referral, offered one after another."""

    __tablename__ = "candidate"

    referral_id: UUID = Field(foreign_key="referral.id", primary_key=True)
    rank: int = Field(primary_key=True)
    service_id: UUID
    organization_id: UUID
    score: float
    reasons: list[str] = Field(sa_column=Column(JSON, nullable=False))


class TransitionRow(Base, table=True):
    """The referral's history; free text written about the citizen stays in this table."""

    __tablename__ = "transition"

    referral_id: UUID = Field(foreign_key="referral.id", primary_key=True)
    seq: int = Field(primary_key=True)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    action: str = Field(max_length=30)
    party: str = Field(max_length=20)
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str = Field(max_length=20)
    reason: str | None = Field(default=None, max_length=30)
    text: str | None = Field(default=None, sa_column=Column(Text))


class PartnerViewRow(Base, table=True):
    """Per referral and organisation offered it: the status that organisation sees, so a
    partner's list is one indexed query."""

    __tablename__ = "partner_view"
    __table_args__ = (Index("ix_partner_view_list", "organization_id", "offered_at"),)

    referral_id: UUID = Field(foreign_key="referral.id", primary_key=True)
    organization_id: UUID = Field(primary_key=True)
    status: str = Field(max_length=20)
    offered_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class TimerRow(Base, table=True):
    """A durable timer: written with the state it belongs to, and deleted by the scheduler
    in the same transaction as the change it causes when it fires."""

    __tablename__ = "timer"

    referral_id: UUID = Field(foreign_key="referral.id", primary_key=True)
    kind: str = Field(primary_key=True, max_length=30)
    key: UUID = Field(primary_key=True)
    due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


class KnownServiceRow(Base, table=True):
    """Directory's services as its `service.changed` events describe them."""

    __tablename__ = "known_service"

    service_id: UUID = Field(primary_key=True)
    organization_id: UUID
    active: bool
    free_places: int
    changed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class ErasedReferralRow(Base, table=True):
    """The tombstone of an erased referral: its id, who submitted it and the organisations
    it was offered to (they are told it is gone, others that it never was); nothing about
    the citizen."""

    __tablename__ = "erased_referral"

    id: UUID = Field(primary_key=True)
    submitted_by: str = Field(max_length=200)
    organization_ids: list[str] = Field(sa_column=Column(JSON, nullable=False))
    erased_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class ConcurrentUpdate(Exception):
    """Another transaction changed the referral since it was read."""


@dataclass(frozen=True)
class StoredCitizen:
    id: UUID
    blind_index: str
    identity: bytes
    """Sealed with the citizen's data key."""


@dataclass(frozen=True)
class Sealed:
    """What of a referral only the citizen's data key opens."""

    citizen_id: UUID | None
    """None while the referral waits for conversion from the legacy key."""
    note: bytes | None


@dataclass(frozen=True)
class DueTimer:
    referral_id: UUID
    kind: str
    key: UUID


class ReferralRepository(Protocol):
    def add(self, referral: Referral, *, citizen_id: UUID, note: bytes | None) -> None: ...

    def get(self, referral_id: UUID, *, for_update: bool = False) -> Referral | None:
        """`for_update`: lock it until the commit (on PostgreSQL; SQLite has one writer)."""
        ...

    def save(self, referral: Referral) -> None:
        """Raises `ConcurrentUpdate` if it changed since it was read."""
        ...

    def sealed(self, referral_id: UUID) -> Sealed: ...

    def of_citizen(self, citizen_id: UUID) -> list[Referral]:
        """The citizen's referrals, oldest first, locked until the commit (on PostgreSQL)."""
        ...

    def erase(self, referral: Referral, tombstone: ErasedReferral) -> None:
        """Delete the referral with everything stored of it (its history and its texts, its
        sealed note, its timers, the request that created it) and keep `tombstone`.
        Raises `ConcurrentUpdate` if it changed since it was read."""
        ...

    def erased(self, referral_id: UUID) -> ErasedReferral | None:
        """The tombstone of an erased referral."""
        ...

    def legacy(self, *, after: UUID | None, limit: int) -> list[tuple[UUID, bytes]]:
        """Referrals whose identity is still under the legacy key, by id, after `after`:
        (id, Fernet ciphertext)."""
        ...

    def attach_citizen(self, referral_id: UUID, citizen_id: UUID) -> None:
        """Point the referral to its citizen and drop its legacy ciphertext."""
        ...

    def count_legacy(self) -> int: ...

    def offered_to(
        self, organization_id: UUID, status: str | None, offset: int, limit: int
    ) -> tuple[list[Referral], int]: ...

    def escalated(
        self, district: str | None, offset: int, limit: int
    ) -> tuple[list[Referral], int]: ...

    def seen(self) -> Iterable[Referral]:
        """The referrals added or loaded in this unit of work."""
        ...


class CitizenRepository(Protocol):
    def find(self, blind_index: str) -> StoredCitizen | None:
        """The citizen, locked until the commit (on PostgreSQL): a submission for them and
        their erasure take turns, so that no referral is added to a citizen being erased."""
        ...

    def get(self, citizen_id: UUID) -> StoredCitizen | None: ...

    def add(self, citizen: StoredCitizen, *, now: datetime) -> None: ...

    def update_identity(self, citizen_id: UUID, identity: bytes, *, now: datetime) -> None: ...

    def remove(self, citizen_id: UUID) -> None:
        """Delete the citizen: the blind index and the sealed identity."""
        ...


class ServiceBook(Protocol):
    def get_many(self, service_ids: set[UUID]) -> dict[UUID, KnownService]: ...

    def put(self, service: KnownService, *, changed_at: datetime) -> None: ...


class TimerRepository(Protocol):
    def claim_due(self, now: datetime) -> DueTimer | None:
        """The earliest timer due by `now`, locked with its referral until the commit so
        that no other scheduler sees it; one whose referral is being changed is skipped
        (SKIP LOCKED on PostgreSQL)."""
        ...

    def remove(self, timer: DueTimer) -> bool:
        """Delete the claimed timer; False if another scheduler fired it first."""
        ...


class SqlReferralRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._seen: dict[UUID, Referral] = {}
        self._stored: dict[UUID, tuple[int, int]] = {}
        """Per referral: (history entries, candidates) already in the database."""

    def seen(self) -> Iterable[Referral]:
        return self._seen.values()

    def add(self, referral: Referral, *, citizen_id: UUID, note: bytes | None) -> None:
        consent = referral.consent
        self.session.add(
            ReferralRow(
                id=referral.id,
                submitted_by=referral.submitted_by,
                citizen_ref=referral.citizen_ref,
                citizen_id=citizen_id,
                note_ciphertext=note,
                submitted_at=referral.submitted_at,
                age_band=referral.age_band,
                district=referral.district,
                district_key=referral.district.casefold(),
                interests=referral.interests,
                languages=referral.languages,
                needs=referral.needs,
                share_contact_details=consent.share_contact_details,
                consent_given_on=consent.given_on,
                consent_recorded_by=consent.recorded_by,
                consent_how=consent.how.value if consent.how else None,
                consent_follow_up_questions=consent.follow_up_questions,
                consent_share_outcome_with_care_system=consent.share_outcome_with_care_system,
                **_withdrawal_columns(consent.withdrawal),
                needs_accompaniment=referral.needs_accompaniment,
                preferred_times=list(referral.preferred_times),
                status=referral.status.value,
                version=referral.version,
            )
        )
        self.session.flush()  # before its offers and history, which refer to it
        self._seen[referral.id] = referral
        self._stored[referral.id] = (0, 0)
        self._save_parts(referral)

    def get(self, referral_id: UUID, *, for_update: bool = False) -> Referral | None:
        query = select(ReferralRow).where(ReferralRow.id == referral_id)
        if for_update:
            query = query.with_for_update()
        row = self.session.exec(query).first()
        if row is None:
            return None
        referral = self._load([row])[0]
        self._seen[referral.id] = referral
        return referral

    def save(self, referral: Referral) -> None:
        changed = self.session.execute(
            update(ReferralRow)
            .where(col(ReferralRow.id) == referral.id, col(ReferralRow.version) == referral.version)
            .values(
                status=referral.status.value,
                escalation_reason=referral.escalation_reason,
                escalated_at=referral.escalated_at,
                contact_made_on=referral.contact_made_on,
                first_meeting_on=referral.first_meeting_on,
                accompanied_by=referral.accompanied_by,
                **_withdrawal_columns(referral.consent.withdrawal),
                version=referral.version + 1,
            )
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            raise ConcurrentUpdate(f"referral {referral.id} changed meanwhile")
        referral.version += 1
        self._save_parts(referral)

    def sealed(self, referral_id: UUID) -> Sealed:
        row = self.session.exec(
            select(ReferralRow.citizen_id, ReferralRow.note_ciphertext).where(
                ReferralRow.id == referral_id
            )
        ).first()
        if row is None:
            raise LookupError(f"no referral {referral_id}")
        return Sealed(citizen_id=row[0], note=row[1])

    def of_citizen(self, citizen_id: UUID) -> list[Referral]:
        rows = self.session.exec(
            select(ReferralRow)
            .where(ReferralRow.citizen_id == citizen_id)
            .order_by(col(ReferralRow.submitted_at), col(ReferralRow.id))
            .with_for_update()
        ).all()
        referrals = self._load(rows)
        self._seen.update((referral.id, referral) for referral in referrals)
        return referrals

    def erase(self, referral: Referral, tombstone: ErasedReferral) -> None:
        for part in (TimerRow, PartnerViewRow, TransitionRow, CandidateRow, OfferRow):
            self.session.execute(
                delete(part)
                .where(col(part.referral_id) == referral.id)
                .execution_options(synchronize_session=False)
            )
        deleted = self.session.execute(
            delete(ReferralRow)
            .where(col(ReferralRow.id) == referral.id, col(ReferralRow.version) == referral.version)
            .execution_options(synchronize_session=False)
        )
        if deleted.rowcount != 1:  # type: ignore[attr-defined]
            raise ConcurrentUpdate(f"referral {referral.id} changed meanwhile")
        # Its key's fingerprint is a MAC of the request, which held the identity.
        self.session.execute(
            delete(idempotency_keys).where(idempotency_keys.c.resource_id == str(referral.id))
        )
        self.session.add(
            ErasedReferralRow(
                id=tombstone.id,
                submitted_by=tombstone.submitted_by,
                organization_ids=[str(o) for o in tombstone.organization_ids],
                erased_at=tombstone.erased_at,
            )
        )
        self.session.flush()

    def erased(self, referral_id: UUID) -> ErasedReferral | None:
        row = self.session.get(ErasedReferralRow, referral_id)
        if row is None:
            return None
        organizations = tuple(UUID(o) for o in row.organization_ids)
        return ErasedReferral(row.id, row.submitted_by, organizations, row.erased_at)

    def legacy(self, *, after: UUID | None, limit: int) -> list[tuple[UUID, bytes]]:
        query = select(ReferralRow.id, ReferralRow.legacy_identity).where(
            col(ReferralRow.citizen_id).is_(None)
        )
        if after is not None:
            query = query.where(col(ReferralRow.id) > after)
        rows = self.session.exec(query.order_by(col(ReferralRow.id)).limit(limit)).all()
        return [(referral_id, ciphertext) for referral_id, ciphertext in rows]

    def count_legacy(self) -> int:
        query = (
            select(func.count())
            .select_from(ReferralRow)
            .where(col(ReferralRow.citizen_id).is_(None))
        )
        return int(self.session.exec(query).one())

    def attach_citizen(self, referral_id: UUID, citizen_id: UUID) -> None:
        self.session.execute(
            update(ReferralRow)
            .where(col(ReferralRow.id) == referral_id)
            .values(citizen_id=citizen_id, legacy_identity=b"")
            .execution_options(synchronize_session=False)
        )

    def offered_to(
        self, organization_id: UUID, status: str | None, offset: int, limit: int
    ) -> tuple[list[Referral], int]:
        query = select(PartnerViewRow).where(PartnerViewRow.organization_id == organization_id)
        if status is not None:
            query = query.where(PartnerViewRow.status == status)
        total = self.session.exec(select(func.count()).select_from(query.subquery())).one()
        views = self.session.exec(
            query.order_by(col(PartnerViewRow.offered_at).desc(), col(PartnerViewRow.referral_id))
            .offset(offset)
            .limit(limit)
        ).all()
        return self._by_ids([v.referral_id for v in views]), total

    def escalated(
        self, district: str | None, offset: int, limit: int
    ) -> tuple[list[Referral], int]:
        query = select(ReferralRow).where(ReferralRow.status == ReferralStatus.ESCALATED.value)
        if district is not None:
            query = query.where(ReferralRow.district_key == district.casefold())
        total = self.session.exec(select(func.count()).select_from(query.subquery())).one()
        rows = self.session.exec(
            query.order_by(col(ReferralRow.escalated_at), col(ReferralRow.id))
            .offset(offset)
            .limit(limit)
        ).all()
        return self._load(rows), total

    # --- writing the parts --------------------------------------------------------------

    def _save_parts(self, referral: Referral) -> None:
        stored_history, stored_candidates = self._stored[referral.id]
        self.session.add_all(
            CandidateRow(
                referral_id=referral.id,
                rank=rank,
                service_id=c.service_id,
                organization_id=c.organization_id,
                score=c.score,
                reasons=c.reasons,
            )
            for rank, c in enumerate(referral.candidates)
            if rank >= stored_candidates
        )
        self.session.add_all(
            TransitionRow(
                referral_id=referral.id,
                seq=seq,
                at=t.at,
                action=t.action,
                party=t.party.value,
                from_status=t.from_status.value if t.from_status else None,
                to_status=t.to_status.value,
                reason=t.reason,
                text=t.text,
            )
            for seq, t in enumerate(referral.history)
            if seq >= stored_history
        )
        for seq, offer in enumerate(referral.offers):
            self.session.merge(_offer_row(referral.id, seq, offer))
        for organization_id in {offer.organization_id for offer in referral.offers}:
            latest = referral.latest_offer_to(organization_id)
            status = referral.status_for(organization_id)
            assert latest is not None and status is not None  # it has an offer
            self.session.merge(
                PartnerViewRow(
                    referral_id=referral.id,
                    organization_id=organization_id,
                    status=status,
                    offered_at=latest.offered_at,
                )
            )
        self._save_timers(referral.id, referral.deadlines())
        self._stored[referral.id] = (len(referral.history), len(referral.candidates))
        self.session.flush()

    def _save_timers(self, referral_id: UUID, deadlines: list[Deadline]) -> None:
        """Make the timers exactly the referral's deadlines."""
        wanted = {(d.kind, d.key): d for d in deadlines}
        existing = self.session.exec(
            select(TimerRow).where(TimerRow.referral_id == referral_id)
        ).all()
        for timer in existing:
            if wanted.pop((timer.kind, timer.key), None) is None:
                self.session.delete(timer)
        self.session.add_all(
            TimerRow(referral_id=referral_id, kind=d.kind, key=d.key, due_at=d.due_at)
            for d in wanted.values()
        )

    # --- reading ------------------------------------------------------------------------

    def _by_ids(self, ids: list[UUID]) -> list[Referral]:
        if not ids:
            return []
        rows = self.session.exec(select(ReferralRow).where(col(ReferralRow.id).in_(ids))).all()
        by_id = {r.id: r for r in self._load(rows)}
        return [by_id[i] for i in ids]

    def _load(self, rows: Iterable[ReferralRow]) -> list[Referral]:
        """The referrals of `rows`, each with its parts, in four queries for all of them."""
        rows = list(rows)
        ids = [row.id for row in rows]
        offers = _grouped(
            self.session.exec(
                select(OfferRow)
                .where(col(OfferRow.referral_id).in_(ids))
                .order_by(col(OfferRow.seq))
            ).all()
        )
        candidates = _grouped(
            self.session.exec(
                select(CandidateRow)
                .where(col(CandidateRow.referral_id).in_(ids))
                .order_by(col(CandidateRow.rank))
            ).all()
        )
        history = _grouped(
            self.session.exec(
                select(TransitionRow)
                .where(col(TransitionRow.referral_id).in_(ids))
                .order_by(col(TransitionRow.seq))
            ).all()
        )
        referrals = []
        for row in rows:
            referral = _referral(
                row,
                offers.get(row.id, []),
                candidates.get(row.id, []),
                history.get(row.id, []),
            )
            self._stored[row.id] = (len(referral.history), len(referral.candidates))
            referrals.append(referral)
        return referrals


def _withdrawal_columns(withdrawal: ConsentWithdrawal | None) -> dict[str, Any]:
    return {
        "consent_withdrawn_at": withdrawal.at if withdrawal else None,
        "consent_withdrawn_party": withdrawal.party.value if withdrawal else None,
        "consent_withdrawn_by": withdrawal.subject if withdrawal else None,
        "consent_withdrawal_recorded_by": withdrawal.recorded_by if withdrawal else None,
        "consent_withdrawal_how": withdrawal.how.value if withdrawal and withdrawal.how else None,
    }


def _withdrawal(row: ReferralRow) -> ConsentWithdrawal | None:
    at, party, subject = (
        row.consent_withdrawn_at,
        row.consent_withdrawn_party,
        row.consent_withdrawn_by,
    )
    if at is None or party is None or subject is None:  # written together, or not at all
        return None
    return ConsentWithdrawal(
        at=at,
        party=Party(party),
        subject=subject,
        recorded_by=row.consent_withdrawal_recorded_by,
        how=ConsentMethod(row.consent_withdrawal_how) if row.consent_withdrawal_how else None,
    )


def _grouped(rows: Iterable[Any]) -> dict[UUID, list[Any]]:
    grouped: dict[UUID, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row.referral_id, []).append(row)
    return grouped


def _offer_row(referral_id: UUID, seq: int, offer: Offer) -> OfferRow:
    return OfferRow(
        id=offer.id,
        referral_id=referral_id,
        seq=seq,
        organization_id=offer.organization_id,
        service_id=offer.service_id,
        status=offer.status.value,
        offered_at=offer.offered_at,
        expires_at=offer.expires_at,
        answered_at=offer.answered_at,
        decline_reason=offer.decline_reason,
    )


def _referral(
    row: ReferralRow,
    offers: list[OfferRow],
    candidates: list[CandidateRow],
    history: list[TransitionRow],
) -> Referral:
    return Referral(
        id=row.id,
        submitted_by=row.submitted_by,
        citizen_ref=row.citizen_ref,
        age_band=row.age_band,
        district=row.district,
        interests=list(row.interests),
        languages=list(row.languages),
        needs=list(row.needs),
        consent=Consent(
            given_on=row.consent_given_on,
            recorded_by=row.consent_recorded_by,
            how=ConsentMethod(row.consent_how) if row.consent_how else None,
            share_contact_details=row.share_contact_details,
            follow_up_questions=row.consent_follow_up_questions,
            share_outcome_with_care_system=row.consent_share_outcome_with_care_system,
            withdrawal=_withdrawal(row),
        ),
        needs_accompaniment=row.needs_accompaniment,
        preferred_times=in_day_order(row.preferred_times),
        submitted_at=row.submitted_at,
        status=ReferralStatus(row.status),
        escalation_reason=EscalationReason(row.escalation_reason)
        if row.escalation_reason
        else None,
        escalated_at=row.escalated_at,
        contact_made_on=row.contact_made_on,
        first_meeting_on=row.first_meeting_on,
        accompanied_by=Accompaniment(row.accompanied_by) if row.accompanied_by else None,
        version=row.version,
        candidates=[
            Candidate(c.service_id, c.organization_id, c.score, list(c.reasons)) for c in candidates
        ],
        offers=[
            Offer(
                id=o.id,
                organization_id=o.organization_id,
                service_id=o.service_id,
                offered_at=o.offered_at,
                expires_at=o.expires_at,
                status=OfferStatus(o.status),
                answered_at=o.answered_at,
                decline_reason=DeclineReason(o.decline_reason) if o.decline_reason else None,
            )
            for o in offers
        ],
        history=[
            Transition(
                at=t.at,
                action=t.action,
                party=Party(t.party),
                from_status=ReferralStatus(t.from_status) if t.from_status else None,
                to_status=ReferralStatus(t.to_status),
                reason=t.reason,
                text=t.text,
            )
            for t in history
        ],
    )


class SqlCitizenRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def find(self, blind_index: str) -> StoredCitizen | None:
        row = self.session.exec(
            select(CitizenRow).where(CitizenRow.blind_index == blind_index).with_for_update()
        ).first()
        return _citizen(row) if row else None

    def get(self, citizen_id: UUID) -> StoredCitizen | None:
        row = self.session.get(CitizenRow, citizen_id)
        return _citizen(row) if row else None

    def add(self, citizen: StoredCitizen, *, now: datetime) -> None:
        self.session.add(
            CitizenRow(
                id=citizen.id,
                blind_index=citizen.blind_index,
                identity_ciphertext=citizen.identity,
                created_at=now,
                updated_at=now,
            )
        )
        self.session.flush()  # a second citizen of the same blind index fails here

    def update_identity(self, citizen_id: UUID, identity: bytes, *, now: datetime) -> None:
        self.session.execute(
            update(CitizenRow)
            .where(col(CitizenRow.id) == citizen_id)
            .values(identity_ciphertext=identity, updated_at=now)
            .execution_options(synchronize_session=False)
        )

    def remove(self, citizen_id: UUID) -> None:
        self.session.execute(
            delete(CitizenRow)
            .where(col(CitizenRow.id) == citizen_id)
            .execution_options(synchronize_session=False)
        )


def _citizen(row: CitizenRow) -> StoredCitizen:
    return StoredCitizen(row.id, row.blind_index, row.identity_ciphertext)


class SqlServiceBook:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get_many(self, service_ids: set[UUID]) -> dict[UUID, KnownService]:
        if not service_ids:
            return {}
        rows = self.session.exec(
            select(KnownServiceRow).where(col(KnownServiceRow.service_id).in_(service_ids))
        ).all()
        return {
            r.service_id: KnownService(r.service_id, r.organization_id, r.active, r.free_places)
            for r in rows
        }

    def put(self, service: KnownService, *, changed_at: datetime) -> None:
        row = self.session.get(KnownServiceRow, service.service_id)
        if row is not None and row.changed_at > changed_at:
            return  # an older change arriving late must not undo a newer one
        self.session.merge(
            KnownServiceRow(
                service_id=service.service_id,
                organization_id=service.organization_id,
                active=service.active,
                free_places=service.free_places,
                changed_at=changed_at,
            )
        )


class SqlTimerRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def claim_due(self, now: datetime) -> DueTimer | None:
        # The referral's row is locked with the timer's: a timer whose referral a partner is
        # changing is left for the next round. Waiting for that referral while holding the
        # timer would deadlock with the partner's save, which deletes the timer.
        row = self.session.exec(
            select(TimerRow)
            .join(ReferralRow, col(ReferralRow.id) == TimerRow.referral_id)
            .where(col(TimerRow.due_at) <= now)
            .order_by(col(TimerRow.due_at))
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        return DueTimer(row.referral_id, row.kind, row.key) if row else None

    def remove(self, timer: DueTimer) -> bool:
        removed = self.session.execute(
            delete(TimerRow)
            .where(
                col(TimerRow.referral_id) == timer.referral_id,
                col(TimerRow.kind) == timer.kind,
                col(TimerRow.key) == timer.key,
            )
            .execution_options(synchronize_session=False)
        )
        return bool(removed.rowcount == 1)  # type: ignore[attr-defined]


class ReferralsUnitOfWork(UnitOfWork):
    def _open(self) -> None:
        self._referrals = SqlReferralRepository(self.session)
        self._citizens = SqlCitizenRepository(self.session)
        self._services = SqlServiceBook(self.session)
        self._timers = SqlTimerRepository(self.session)

    @property
    def referrals(self) -> ReferralRepository:
        return self._referrals

    @property
    def citizens(self) -> CitizenRepository:
        return self._citizens

    @property
    def services(self) -> ServiceBook:
        return self._services

    @property
    def timers(self) -> TimerRepository:
        return self._timers

    def audit(self, entry: AuditEntry) -> None:
        """Append `entry` to the audit log in this transaction: call it last before `commit`
        (on PostgreSQL it holds the log's lock until then)."""
        append(self.session, entry)

    def commit(self) -> None:
        """Collect the events the referrals recorded into the outbox, then commit."""
        for referral in self._referrals.seen():
            for event in referral.events:
                self.publish(event)
            referral.events.clear()
        super().commit()
