"""Storage of referrals: SQLModel tables and the repository the service layer uses."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from sqlalchemy import JSON, Column, LargeBinary
from sqlalchemy.orm import registry
from sqlmodel import Field, Session, SQLModel, col, select

from referrals.domain import Offer, OfferStatus, Referral, ReferralStatus
from runtime.storage import UnitOfWork, UTCDateTime


class Base(SQLModel, registry=registry()):
    """This service's tables only; the outbox and inbox come from `runtime.storage`."""


class ReferralRow(Base, table=True):
    __tablename__ = "referral"
    id: UUID = Field(primary_key=True)
    submitted_by: str = Field(index=True, max_length=200)
    citizen_ref: str = Field(index=True, max_length=64)
    identity_ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    age_band: str = Field(max_length=8)
    district: str = Field(max_length=100)
    interests: list[str] = Field(sa_column=Column(JSON, nullable=False))
    languages: list[str] = Field(sa_column=Column(JSON, nullable=False))
    needs: list[str] = Field(sa_column=Column(JSON, nullable=False))
    share_contact_details: bool
    status: str = Field(index=True, max_length=20)
    submitted_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class OfferRow(Base, table=True):
    __tablename__ = "offer"

    id: UUID = Field(primary_key=True)
    referral_id: UUID = Field(foreign_key="referral.id", index=True)
    organization_id: UUID = Field(index=True)
    service_id: UUID
    status: str = Field(max_length=20)
    offered_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class ReferralRepository(Protocol):
    def add(self, referral: Referral, *, identity_ciphertext: bytes) -> None: ...

    def get(self, referral_id: UUID) -> Referral | None: ...

    def save(self, referral: Referral) -> None: ...


class SqlReferralRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, referral: Referral, *, identity_ciphertext: bytes) -> None:
        self.session.add(
            ReferralRow(
                id=referral.id,
                submitted_by=referral.submitted_by,
                citizen_ref=referral.citizen_ref,
                identity_ciphertext=identity_ciphertext,
                age_band=referral.age_band,
                district=referral.district,
                interests=referral.interests,
                languages=referral.languages,
                needs=referral.needs,
                share_contact_details=referral.share_contact_details,
                status=referral.status.value,
                submitted_at=referral.submitted_at,
            )
        )
        self._save_offers(referral)

    def get(self, referral_id: UUID) -> Referral | None:
        row = self.session.get(ReferralRow, referral_id)
        return self._to_domain(row) if row else None

    def save(self, referral: Referral) -> None:
        row = self.session.get(ReferralRow, referral.id)
        if row is None:
            raise LookupError(f"referral {referral.id} was never added")
        row.status = referral.status.value
        self.session.add(row)
        self._save_offers(referral)

    def _save_offers(self, referral: Referral) -> None:
        for offer in referral.offers:
            row = self.session.get(OfferRow, offer.id) or OfferRow(
                id=offer.id,
                referral_id=referral.id,
                organization_id=offer.organization_id,
                service_id=offer.service_id,
                offered_at=offer.offered_at,
                expires_at=offer.expires_at,
                status=offer.status.value,
            )
            row.status = offer.status.value
            self.session.add(row)

    def _to_domain(self, row: ReferralRow) -> Referral:
        offers = self.session.exec(
            select(OfferRow)
            .where(OfferRow.referral_id == row.id)
            .order_by(col(OfferRow.offered_at))
        ).all()
        return Referral(
            id=row.id,
            submitted_by=row.submitted_by,
            citizen_ref=row.citizen_ref,
            age_band=row.age_band,
            district=row.district,
            interests=list(row.interests),
            languages=list(row.languages),
            needs=list(row.needs),
            share_contact_details=row.share_contact_details,
            submitted_at=row.submitted_at,
            status=ReferralStatus(row.status),
            offers=[
                Offer(
                    id=o.id,
                    organization_id=o.organization_id,
                    service_id=o.service_id,
                    offered_at=o.offered_at,
                    expires_at=o.expires_at,
                    status=OfferStatus(o.status),
                )
                for o in offers
            ],
        )


class ReferralsUnitOfWork(UnitOfWork):
    def _open(self) -> None:
        self._referrals = SqlReferralRepository(self.session)

    @property
    def referrals(self) -> ReferralRepository:
        return self._referrals
