"""referrals' tables (SQLModel); the outbox, inbox and audit log come from the runtime."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from sqlalchemy import JSON, BigInteger, Column, Date, Index, LargeBinary, Text
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from runtime.storage import UTCDateTime


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
    first_meeting_on: date | None = Field(default=None, sa_column=Column(Date(), index=True))
    accompanied_by: str | None = Field(default=None, max_length=20)
    care_record_reference: str | None = Field(default=None, max_length=200)
    volunteer_id: UUID | None = None
    baseline: dict[str, dict[str, int]] | None = Field(default=None, sa_column=Column(JSON))
    """The citizen's answers at intake: `{"ucla3": {item: answer}, "who5": {...}}`."""
    outcome: str | None = Field(default=None, max_length=20)
    completed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), index=True))
    updated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), index=True))
    """When its last step was taken; null only for referrals never changed since revision
    0007 filled it in."""
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
    follow_up: int | None = None


class FollowUpRow(Base, table=True):
    """A follow-up of a referral after its first meeting, and the answers to it."""

    __tablename__ = "follow_up"

    referral_id: UUID = Field(foreign_key="referral.id", primary_key=True)
    number: int = Field(primary_key=True)
    id: UUID = Field(unique=True)
    due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    remind_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    escalate_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    fell_due_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    participation: str | None = Field(default=None, max_length=20)
    times_last_month: int | None = None
    participation_note: str | None = Field(default=None, sa_column=Column(Text))
    participation_recorded_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), index=True)
    )
    wellbeing: dict[str, dict[str, int]] | None = Field(default=None, sa_column=Column(JSON))
    """As `referral.baseline`; `{}` when the citizen was asked and did not answer."""
    wellbeing_recorded_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    reminded_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    escalated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class ChangeRow(Base, table=True):
    """The care systems' feed: every step of every referral, numbered in the order the
    steps were committed (see `ChangeCounterRow`), as its care system may see it: no free
    text, how it ended only with the citizen's consent."""

    __tablename__ = "change"
    __table_args__ = (Index("ix_change_care_system", "care_system", "seq"),)

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    referral_id: UUID = Field(index=True)
    care_system: str = Field(max_length=200)
    care_record_reference: str | None = Field(default=None, max_length=200)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    action: str = Field(max_length=30)
    status: str | None = Field(default=None, max_length=20)
    """Null for an erased referral."""
    previous_status: str | None = Field(default=None, max_length=20)
    reason: str | None = Field(default=None, max_length=30)
    follow_up: int | None = None
    outcome: str | None = Field(default=None, max_length=20)
    score_changes: dict[str, dict[str, int]] | None = Field(default=None, sa_column=Column(JSON))
    """`{"ucla3": {"baseline", "last", "change"}, "who5": {...}}`, as far as answered."""


class ChangeCounterRow(Base, table=True):
    """One row: the last number given to a change. A transaction takes the next numbers by
    updating it, which locks it until that transaction commits, so numbers are given in
    commit order and a reader that has seen number n will never see a smaller one appear."""

    __tablename__ = "change_counter"

    id: int = Field(primary_key=True)
    value: int = Field(sa_column=Column(BigInteger, nullable=False))


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
