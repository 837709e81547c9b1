"""The unmet-need report: which referrals found no community, counted by district, target
group and interest, for operators and the grant pools' criteria. Rules only, no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import get_args
from uuid import UUID
from zoneinfo import ZoneInfo

from contracts.referrals import EscalationReason

CITY_TIME = ZoneInfo("Europe/Copenhagen")
"""Periods are days of the city's calendar: a referral unmet at 00:30 on 1 March in
Copenhagen counts in March, though it is still February in UTC."""

NO_MATCH = "no_match"
"""Why a referral went unmet when directory itself found nothing that fits it; the same
code referrals escalates it with then."""

REASONS: tuple[str, ...] = get_args(EscalationReason)
"""Every reason a referral goes unmet, in the contract's order: the report counts each."""

NONE = "none"
"""The group of a referral with no target-group need (or no interest): it still counts."""

TARGET_GROUPS = frozenset(
    {
        "older_people",
        "minority_background",
        "physical_disability",
        "mental_disability",
        "hard_to_leave_home",
        "dementia",
    }
)
"""The directory's target groups, as services name them in `target_groups` and referrals
in `needs`. A referral's other needs (`wheelchair_access`, say) are about access, not
about whom a community is for, and are not reported."""


class InvalidPeriod(ValueError):
    """A report's period that holds no day."""


@dataclass(frozen=True)
class UnmetReferral:
    """A referral for which no community was found: counted once, as it first went unmet."""

    referral_id: UUID
    unmet_at: datetime
    reason: str
    district: str
    interests: frozenset[str]
    target_groups: frozenset[str]

    @property
    def unmet_on(self) -> date:
        return self.unmet_at.astimezone(CITY_TIME).date()


def unmet_referral(
    referral_id: UUID,
    district: str,
    interests: Iterable[str],
    needs: Iterable[str],
    reason: str,
    unmet_at: datetime,
) -> UnmetReferral:
    """What the report keeps of a referral that went unmet: coded categories only, compared
    in lower case as the matching does."""
    return UnmetReferral(
        referral_id=referral_id,
        unmet_at=unmet_at,
        reason=reason,
        district=district.strip(),
        interests=_codes(interests) or frozenset({NONE}),
        target_groups=(_codes(needs) & TARGET_GROUPS) or frozenset({NONE}),
    )


def _codes(values: Iterable[str]) -> frozenset[str]:
    return frozenset(value.strip().lower() for value in values)


@dataclass(frozen=True)
class Period:
    """From the first to the last day, both included, in the city's calendar."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise InvalidPeriod(f"the period ends ({self.last}) before it begins ({self.first})")


@dataclass(frozen=True)
class UnmetNeed:
    """How many referrals of one district, target group and interest went unmet, and why."""

    district: str
    target_group: str
    interest: str
    referrals: int
    reasons: dict[str, int]
    """Every reason of `REASONS`, 0 where none."""
