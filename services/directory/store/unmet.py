"""What directory keeps of referrals that went unmet, for the unmet-need report."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from sqlalchemy import and_, case, delete, func
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from directory.reports import REASONS, Period, UnmetNeed, UnmetReferral
from directory.store.tables import UnmetReferralRow, UnmetReferralTermRow

INTEREST, TARGET_GROUP = "interest", "target_group"


class UnmetReferralRepository(Protocol):
    def add(self, unmet: UnmetReferral) -> bool:
        """Keep a referral that went unmet, unless it is kept already; whether it was new."""
        ...

    def forget(self, referral_id: UUID) -> None:
        """Drop everything kept of the referral."""
        ...

    def report(self, period: Period, offset: int, limit: int) -> tuple[list[UnmetNeed], int]:
        """One page of the unmet referrals of the period counted by district, target group
        and interest, most first, then by those keys; and how many such groups in all."""
        ...


class SqlUnmetReferralRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, unmet: UnmetReferral) -> bool:
        if self.session.get(UnmetReferralRow, unmet.referral_id) is not None:
            return False
        self.session.add(
            UnmetReferralRow(
                referral_id=unmet.referral_id,
                unmet_at=unmet.unmet_at,
                unmet_on=unmet.unmet_on,
                reason=unmet.reason,
                district=unmet.district,
            )
        )
        self.session.flush()  # before its terms, as for organisations
        self.session.add_all(
            UnmetReferralTermRow(referral_id=unmet.referral_id, kind=kind, term=term)
            for kind, terms in ((INTEREST, unmet.interests), (TARGET_GROUP, unmet.target_groups))
            for term in terms
        )
        self.session.flush()
        return True

    def forget(self, referral_id: UUID) -> None:
        for table in (UnmetReferralTermRow, UnmetReferralRow):
            self.session.execute(
                delete(table)
                .where(col(table.referral_id) == referral_id)
                .execution_options(synchronize_session=False)
            )

    def report(self, period: Period, offset: int, limit: int) -> tuple[list[UnmetNeed], int]:
        unmet = UnmetReferralRow
        group = aliased(UnmetReferralTermRow, name="target_group")
        interest = aliased(UnmetReferralTermRow, name="interest")
        keys = (col(unmet.district), col(group.term), col(interest.term))
        # Each referral has one row per target group and interest: a group's row count is
        # its number of referrals.
        referrals = func.count()
        grouped = (
            select(
                *keys,
                referrals,
                *(func.sum(case((col(unmet.reason) == reason, 1), else_=0)) for reason in REASONS),
            )
            .join(
                group,
                and_(
                    col(group.referral_id) == col(unmet.referral_id),
                    col(group.kind) == TARGET_GROUP,
                ),
            )
            .join(
                interest,
                and_(
                    col(interest.referral_id) == col(unmet.referral_id),
                    col(interest.kind) == INTEREST,
                ),
            )
            .where(col(unmet.unmet_on).between(period.first, period.last))
            .group_by(*keys)
        )
        total = self.session.execute(select(func.count()).select_from(grouped.subquery()))
        page = self.session.execute(
            grouped.order_by(referrals.desc(), *keys).offset(offset).limit(limit)
        ).all()
        return [
            UnmetNeed(
                district=district,
                target_group=target_group,
                interest=interest_term,
                referrals=count,
                reasons=dict(zip(REASONS, map(int, by_reason), strict=True)),
            )
            for district, target_group, interest_term, count, *by_reason in page
        ], total.scalar_one()
