"""In-memory stand-ins for the grants store, for service-layer unit tests."""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import replace
from datetime import UTC, date
from uuid import UUID

from grants.domain import GrantPool, PoolStatus
from grants.domain.applications import Application, ApplicationStatus
from grants.domain.need import DistrictNeed, ReferralNeed
from grants.domain.reviews import Reviews
from tests import fakes


def _copy(pool: GrantPool) -> GrantPool:
    """A copy, as a row holds it: no changes waiting to be published (they are not stored)."""
    return replace(pool, changes=[])


class FakeGrantPoolRepository:
    """Hands out copies, so that only `save` changes what is stored."""

    def __init__(self) -> None:
        self.rows: dict[UUID, GrantPool] = {}

    def add(self, pool: GrantPool) -> None:
        self.rows[pool.id] = _copy(pool)

    def get(self, pool_id: UUID, for_update: bool = False) -> GrantPool | None:
        found = self.rows.get(pool_id)
        return _copy(found) if found else None

    def all(self, status: PoolStatus | None = None) -> list[GrantPool]:
        pools = [_copy(pool) for pool in self.rows.values()]
        return [p for p in pools if status is None or p.status is status]

    def save(self, pool: GrantPool) -> None:
        self.rows[pool.id] = _copy(pool)

    def due_to_advance(self, today: date, limit: int) -> list[GrantPool]:
        due = [
            pool
            for pool in self.rows.values()
            if (pool.status is PoolStatus.ANNOUNCED and pool.opens_on <= today)
            or (pool.status is PoolStatus.OPEN and pool.closes_on < today)
        ]
        due.sort(key=lambda pool: (pool.opens_on, pool.id))
        return [_copy(pool) for pool in due[:limit]]


class FakeReferralNeedRepository:
    def __init__(self) -> None:
        self.rows: dict[UUID, ReferralNeed] = {}

    def get(self, referral_id: UUID) -> ReferralNeed | None:
        found = self.rows.get(referral_id)
        return replace(found) if found else None

    def save(self, referral: ReferralNeed) -> None:
        self.rows[referral.referral_id] = replace(referral)

    def forget(self, referral_id: UUID) -> None:
        self.rows.pop(referral_id, None)

    def unmet_by_district(
        self, since: date, until: date, target_groups: frozenset[str]
    ) -> list[DistrictNeed]:
        counts = Counter(
            referral.district
            for referral in self.rows.values()
            if referral.unmet_at is not None
            and since <= referral.unmet_at.astimezone(UTC).date() <= until
            and (not target_groups or referral.target_groups & target_groups)
        )
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0] or ""))
        return [DistrictNeed(str(district), referrals) for district, referrals in ranked]


def _stored(application: Application) -> Application:
    """A copy, as a row holds it: no changes waiting to be published (they are not stored)."""
    stored = copy.deepcopy(application)
    stored.changes.clear()
    return stored


class FakeApplicationRepository:
    """Hands out copies, so that only `save` changes what is stored."""

    def __init__(self) -> None:
        self.rows: dict[UUID, Application] = {}

    def add(self, application: Application) -> None:
        self.rows[application.id] = _stored(application)

    def get(self, application_id: UUID, for_update: bool = False) -> Application | None:
        found = self.rows.get(application_id)
        return copy.deepcopy(found) if found else None

    def page(
        self,
        offset: int,
        limit: int,
        *,
        organization_id: UUID | None = None,
        pool_id: UUID | None = None,
        status: ApplicationStatus | None = None,
    ) -> tuple[list[Application], int]:
        found = [
            a
            for a in self.rows.values()
            if (organization_id is None or a.applicant.organization_id == organization_id)
            and (pool_id is None or a.pool_id == pool_id)
            and (status is None or a.status is status)
        ]
        found.sort(key=lambda a: (a.created_at, a.id), reverse=True)
        return [copy.deepcopy(a) for a in found[offset : offset + limit]], len(found)

    def of_pool(self, pool_id: UUID) -> list[Application]:
        found = sorted(
            (a for a in self.rows.values() if a.pool_id == pool_id),
            key=lambda a: (a.created_at, a.id),
        )
        return [copy.deepcopy(a) for a in found]

    def save(self, application: Application) -> None:
        self.rows[application.id] = _stored(application)

    def overdue_reports(self, organization_id: UUID, today: date) -> int:
        return sum(
            1
            for a in self.rows.values()
            if a.applicant.organization_id == organization_id and a.report_overdue(today)
        )

    def due_for_reminder(self, today: date, limit: int) -> list[Application]:
        due = sorted(
            (a for a in self.rows.values() if a.report_overdue(today) and a.reminded_at is None),
            key=lambda a: (a.report_due_on, a.id),
        )
        return [copy.deepcopy(a) for a in due[:limit]]

    def awarded(self, offset: int, limit: int) -> tuple[list[Application], int]:
        found = [a for a in self.rows.values() if a.granted_dkk > 0]
        found.sort(key=lambda a: (a.decision.decided_at if a.decision else a.created_at, a.id))
        found.reverse()
        return [copy.deepcopy(a) for a in found[offset : offset + limit]], len(found)


class FakeReviewRepository:
    def __init__(self) -> None:
        self.rows: dict[UUID, Reviews] = {}

    def of(self, application_id: UUID) -> Reviews:
        return copy.deepcopy(self.rows.get(application_id, Reviews(application_id)))

    def save(self, reviews: Reviews) -> None:
        self.rows[reviews.application_id] = copy.deepcopy(reviews)


class FakeUnitOfWork(fakes.FakeUnitOfWork):
    """The grant pools in memory, with the shared unit of work's transactions."""

    def __init__(self) -> None:
        super().__init__()
        self.pools = FakeGrantPoolRepository()
        self.referral_needs = FakeReferralNeedRepository()
        self.applications = FakeApplicationRepository()
        self.reviews = FakeReviewRepository()

    def _tables(self) -> list[object]:
        return [self.pools, self.referral_needs, self.applications, self.reviews]
