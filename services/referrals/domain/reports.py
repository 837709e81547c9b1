"""The outcome report: did the referrals help? Figures over a period of the city's calendar,
each counting what happened in it, for operators and (their own) partners; a group smaller
than five is not shown, so that no citizen can be recognised. Rules and statistics only, no
I/O."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

from referrals.domain.follow_ups import CITY_TIME
from referrals.domain.offers import Accompaniment
from referrals.domain.outcomes import (
    Outcome,
    ParticipationStatus,
    Scores,
    score_changes,
)
from referrals.domain.rules import Actor, Forbidden, Party

MIN_GROUP = 5
"""The smallest group a figure or a count is shown for: of fewer, one could be recognised."""

MAX_YEARS = 5
"""The longest period a report covers."""

UNKNOWN = "unknown"
"""The outcome of a referral completed without any participation reported."""

STILL_PARTICIPATING = frozenset({ParticipationStatus.TAKING_PART, ParticipationStatus.PAUSED})
"""A citizen on a break is still part of the community."""

T_975: dict[float, float] = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    6: 2.447,
    7: 2.365,
    8: 2.306,
    9: 2.262,
    10: 2.228,
    11: 2.201,
    12: 2.179,
    13: 2.160,
    14: 2.145,
    15: 2.131,
    16: 2.120,
    17: 2.110,
    18: 2.101,
    19: 2.093,
    20: 2.086,
    21: 2.080,
    22: 2.074,
    23: 2.069,
    24: 2.064,
    25: 2.060,
    26: 2.056,
    27: 2.052,
    28: 2.048,
    29: 2.045,
    30: 2.042,
    40: 2.021,
    60: 2.000,
    120: 1.980,
    math.inf: 1.960,
}
"""Student's t, 0.975 quantile, by degrees of freedom: the half-width of a 95% interval in
standard errors."""


def t_975(df: int) -> float:
    """Student's t 0.975 quantile for `df` degrees of freedom: from the table, and between
    its rows interpolated linearly in 1/df (in which t is close to linear)."""
    if df < 1:
        raise ValueError(f"degrees of freedom are at least 1, not {df}")
    if df in T_975:
        return T_975[df]
    rows = sorted(T_975.items())
    below, above = max(r for r in rows if r[0] < df), min(r for r in rows if r[0] > df)
    x, x_below, x_above = 1 / df, 1 / below[0], 1 / above[0]
    return below[1] + (above[1] - below[1]) * (x_below - x) / (x_below - x_above)


def _rounded(value: float, places: int) -> float:
    return round(value, places) + 0.0  # + 0.0: no "-0.0" in a report


class InvalidPeriod(ValueError):
    """A report's period that holds no day, or too many. The message names no input value:
    it is answered as it is."""


@dataclass(frozen=True)
class Period:
    """From the first to the last day, both included, in the city's calendar: a referral
    completed at 00:30 on 1 March in Copenhagen counts in March, though it is still February
    in UTC."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise InvalidPeriod("the period ends before it begins")
        limit = _years_after(self.first, MAX_YEARS)
        if limit is not None and self.last >= limit:
            raise InvalidPeriod(f"the period is longer than {MAX_YEARS} years")

    @property
    def starts_at(self) -> datetime:
        """The first instant of the period, in UTC."""
        return _midnight_before(self.first)

    @property
    def ends_at(self) -> datetime:
        """The first instant after the period, in UTC."""
        if self.last == date.max:
            return datetime.max.replace(tzinfo=UTC)
        return _midnight_before(self.last + timedelta(days=1))


def _years_after(day: date, years: int) -> date | None:
    """The same day `years` later (29 February: 1 March); None past the calendar's end."""
    year = day.year + years
    if year > date.max.year:
        return None
    try:
        return day.replace(year=year)
    except ValueError:
        return date(year, 3, 1)


def _midnight_before(day: date) -> datetime:
    """The start of `day` in Copenhagen, in UTC; the calendar's first day starts at UTC's
    earliest instant (Copenhagen is ahead of UTC)."""
    try:
        return datetime.combine(day, time(), CITY_TIME).astimezone(UTC)
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ReportScope:
    """Which referrals a report covers: the period and, optionally, a district (any letter
    case) and the organisation and service that accepted them."""

    period: Period
    district: str | None = None
    organization_id: UUID | None = None
    service_id: UUID | None = None

    @property
    def district_key(self) -> str | None:
        """The district as the store compares it, in any letter case."""
        return self.district.casefold() if self.district is not None else None

    def seen_by(self, actor: Actor) -> ReportScope:
        """The scope as `actor` may see it: operators everything, a partner only the
        referrals its own organisation accepted; anyone else nothing."""
        if actor.party is Party.OPERATOR:
            return self
        if actor.party is Party.PARTNER and actor.organization_id is not None:
            if self.organization_id not in (None, actor.organization_id):
                raise Forbidden(
                    "a partner sees the outcomes of its own organisation's referrals only"
                )
            return replace(self, organization_id=actor.organization_id)
        raise Forbidden(f"a {actor.party} may not read the outcome report")


# --- what the report reads --------------------------------------------------------------


@dataclass(frozen=True)
class CompletedReferral:
    """A referral completed in the period: how it ended, and the citizen's answers at intake
    and at its follow-ups (in their order; those not answered left out)."""

    outcome: Outcome | None
    baseline: Scores | None
    answers: tuple[Scores, ...] = ()


@dataclass(frozen=True)
class ParticipationCount:
    """How many of one follow-up's participation reports recorded in the period said
    `status`."""

    number: int
    status: ParticipationStatus
    count: int


@dataclass(frozen=True)
class FirstMeeting:
    """A first meeting held in the period."""

    submitted_at: datetime
    met_on: date
    accompanied_by: Accompaniment | None

    @property
    def days_waited(self) -> int:
        """Days from the day of the referral (in Copenhagen) to the first meeting."""
        return (self.met_on - self.submitted_at.astimezone(CITY_TIME).date()).days

    @property
    def accompanied(self) -> bool:
        return self.accompanied_by not in (None, Accompaniment.NOBODY)


# --- the figures ------------------------------------------------------------------------


@dataclass(frozen=True)
class Completions:
    """Referrals completed, and how many ended each way (every `Outcome` and `unknown`)."""

    n: int | None
    outcomes: dict[str, int | None]

    @property
    def suppressed(self) -> bool:
        return self.n is None

    @classmethod
    def of(cls, outcomes: Sequence[Outcome | None]) -> Completions:
        counts = Counter(o.value if o else UNKNOWN for o in outcomes)
        every = {name: counts[name] for name in (*(o.value for o in Outcome), UNKNOWN)}
        if len(outcomes) < MIN_GROUP:
            return cls(None, dict.fromkeys(every))
        return cls(len(outcomes), _shown(every))


def _shown(counts: dict[str, int]) -> dict[str, int | None]:
    """The counts under `MIN_GROUP` hidden (0 too: a hidden 0 is no tell). If only one is,
    the smallest other is hidden with it, or subtracting the rest from the total shown would
    give it away."""
    hidden = {name for name, count in counts.items() if count < MIN_GROUP}
    if len(hidden) == 1:
        hidden.add(min((n for n in counts if n not in hidden), key=lambda n: counts[n]))
    return {name: None if name in hidden else count for name, count in counts.items()}


@dataclass(frozen=True)
class FollowUpShare:
    """Of one follow-up's participation reports recorded in the period, the share still
    taking part (or on a break)."""

    number: int
    n: int | None
    still_participating: float | None

    @property
    def suppressed(self) -> bool:
        return self.n is None

    @classmethod
    def of(cls, number: int, counts: Iterable[ParticipationCount]) -> FollowUpShare:
        counts = list(counts)
        n = sum(c.count for c in counts)
        still = sum(c.count for c in counts if c.status in STILL_PARTICIPATING)
        if n < MIN_GROUP:
            return cls(number, None, None)
        return cls(number, n, _rounded(still / n, 3))


@dataclass(frozen=True)
class MeanChange:
    """The mean change of a score, with its 95% confidence interval (Student's t)."""

    n: int | None
    mean: float | None
    low: float | None
    high: float | None

    @property
    def suppressed(self) -> bool:
        return self.n is None

    @classmethod
    def of(cls, changes: Sequence[int]) -> MeanChange:
        n = len(changes)
        if n < MIN_GROUP:
            return cls(None, None, None, None)
        mean = statistics.fmean(changes)
        half_width = t_975(n - 1) * statistics.stdev(changes) / math.sqrt(n)
        return cls(
            n,
            _rounded(mean, 2),
            _rounded(mean - half_width, 2),
            _rounded(mean + half_width, 2),
        )


@dataclass(frozen=True)
class Share:
    """The share of a group of which something holds."""

    n: int | None
    share: float | None

    @property
    def suppressed(self) -> bool:
        return self.n is None

    @classmethod
    def of(cls, holds: Sequence[bool]) -> Share:
        if len(holds) < MIN_GROUP:
            return cls(None, None)
        return cls(len(holds), _rounded(sum(holds) / len(holds), 3))


@dataclass(frozen=True)
class Median:
    n: int | None
    median: float | None

    @property
    def suppressed(self) -> bool:
        return self.n is None

    @classmethod
    def of(cls, values: Sequence[int]) -> Median:
        if len(values) < MIN_GROUP:
            return cls(None, None)
        return cls(len(values), float(statistics.median(values)))


@dataclass(frozen=True)
class OutcomeReport:
    """Each figure counts what happened in the scope's period; each has its own n."""

    scope: ReportScope
    completed: Completions
    """Referrals completed in the period."""
    follow_ups: list[FollowUpShare]
    """Per follow-up (1, 2, ...): participation reports recorded in the period."""
    ucla3_change: MeanChange
    """Referrals completed in the period with a UCLA-3 total at intake and at a follow-up."""
    who5_change: MeanChange
    """As `ucla3_change`, for the WHO-5 index."""
    accompanied_at_first_meeting: Share
    """First meetings held in the period: the share the citizen was accompanied to."""
    days_to_first_meeting: Median
    """First meetings held in the period: the median of days from the referral."""

    @classmethod
    def of(
        cls,
        scope: ReportScope,
        completed: Sequence[CompletedReferral],
        participation: Sequence[ParticipationCount],
        first_meetings: Sequence[FirstMeeting],
    ) -> OutcomeReport:
        changes = [score_changes(r.baseline, r.answers) for r in completed]
        numbers = sorted({c.number for c in participation})
        return cls(
            scope=scope,
            completed=Completions.of([r.outcome for r in completed]),
            follow_ups=[
                FollowUpShare.of(number, (c for c in participation if c.number == number))
                for number in numbers
            ],
            ucla3_change=MeanChange.of([u.change for u, _ in changes if u is not None]),
            who5_change=MeanChange.of([w.change for _, w in changes if w is not None]),
            accompanied_at_first_meeting=Share.of([m.accompanied for m in first_meetings]),
            days_to_first_meeting=Median.of([m.days_waited for m in first_meetings]),
        )
