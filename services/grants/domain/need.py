"""Where the need is: the referrals that went unmet, for a pool's target groups, by
district. Rules only, no I/O.

Grants keeps of each referral only what places it (district, target groups, when), never
who it is about, and forgets it when the referral is erased."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from uuid import UUID


class TargetGroup(StrEnum):
    """Whom a pool is for, in the vocabulary of a referral's needs: a need with one of these
    codes puts the referral in that target group. Copied from directory's target-groups
    taxonomy (services/directory/hsds/vocabulary.py, `_TARGET_GROUPS`), which services and
    referrals share; grants imports no other service, so keep the two in step."""

    OLDER_PEOPLE = "older_people"
    MINORITY_BACKGROUND = "minority_background"
    PHYSICAL_DISABILITY = "physical_disability"
    MENTAL_DISABILITY = "mental_disability"
    HARD_TO_LEAVE_HOME = "hard_to_leave_home"
    DEMENTIA = "dementia"
    WHEELCHAIR_ACCESS = "wheelchair_access"
    HEARING_IMPAIRMENT = "hearing_impairment"
    VISUAL_IMPAIRMENT = "visual_impairment"


TARGET_GROUPS = frozenset(group.value for group in TargetGroup)


def target_groups_of(needs: Iterable[str]) -> frozenset[str]:
    """The target groups among a referral's needs, compared in lower case as directory's
    matching does; other needs are dropped."""
    return frozenset(need.strip().lower() for need in needs) & TARGET_GROUPS


@dataclass
class ReferralNeed:
    """What grants keeps of one referral so that it can count it once if it goes unmet.

    The events arrive on two topics in no fixed order: a no-match may come before the
    submission it is about, so each is kept until the other turns up."""

    referral_id: UUID
    district: str | None = None
    """None until the submission or an escalation tells it."""
    target_groups: frozenset[str] = frozenset()
    submitted_at: datetime | None = None
    no_match: bool = False
    """Directory found nothing that fits it."""
    escalated_at: datetime | None = None

    def submitted(self, district: str, needs: Iterable[str], at: datetime) -> None:
        self.district, self.target_groups = district.strip(), target_groups_of(needs)
        self.submitted_at = at

    def found_no_match(self) -> None:
        self.no_match = True

    def escalated(self, district: str, needs: Iterable[str], at: datetime) -> None:
        if self.district is None:  # the submission's, where it came first
            self.district, self.target_groups = district.strip(), target_groups_of(needs)
        self.escalated_at = at if self.escalated_at is None else min(self.escalated_at, at)

    @property
    def unmet_at(self) -> datetime | None:
        """When it first went unmet: a referral nothing fits at its submission (as
        directory counts it), else at its escalation; None while it has not (or while its
        no-match waits for its submission)."""
        times = [self.escalated_at] if self.escalated_at else []
        if self.no_match and self.submitted_at:
            times.append(self.submitted_at)
        return min(times, default=None)


@dataclass(frozen=True)
class DistrictNeed:
    district: str
    referrals: int


@dataclass(frozen=True)
class UnmetNeed:
    """The referrals that went unmet from `since` to `until` (days in UTC, both included)
    by district, most first."""

    since: date
    until: date
    by_district: list[DistrictNeed] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(need.referrals for need in self.by_district)


def last_twelve_months(today: date) -> tuple[date, date]:
    """The 12 months that end with `today`: from the day after the same day a year
    before (29 February: after 28 February) to `today`, both included."""
    try:
        a_year_before = today.replace(year=today.year - 1)
    except ValueError:
        a_year_before = today.replace(year=today.year - 1, day=28)
    return a_year_before + timedelta(days=1), today
