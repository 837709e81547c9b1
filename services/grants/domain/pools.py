"""Grant pools: their terms, their window and their budget. Rules only, no I/O.

A pool is announced when it is created, opens for applications on its opening day and
closes after its closing day, or earlier when an operator closes it. Each of these is a
change the pool records, for the service layer to publish.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID, uuid4

from grants.domain.need import TARGET_GROUPS


class PoolStatus(StrEnum):
    ANNOUNCED = "announced"
    """Published: its terms can be read; it takes applications from its opening day."""
    OPEN = "open"
    """Taking applications: its window has begun and it has not closed."""
    CLOSED = "closed"
    """No more applications: its window ended, or an operator closed it early."""


class PoolChange(StrEnum):
    """What happened to a pool, for the events that tell of it."""

    ANNOUNCED = "announced"
    OPENED = "opened"
    CLOSED_EARLY = "closed_early"
    WINDOW_ENDED = "window_ended"


class InvalidPool(ValueError):
    """The pool's terms break a rule; the message says which and why."""


class InvalidTransition(Exception):
    """The pool is not in a state where this can happen."""


@dataclass(frozen=True)
class Criterion:
    """One criterion of a pool's scoring rubric: each reviewer scores it 0-5."""

    name: str
    weight: int
    """Its weight in the weighted total, more than 0."""


DEFAULT_RUBRIC = (Criterion("fit", 1),)
"""The rubric of a pool that names none: one criterion, how well it fits the purpose."""
MAX_CRITERIA, MAX_WEIGHT = 10, 10


@dataclass
class GrantPool:
    id: UUID
    name: str
    description: str
    budget_dkk: int
    opens_on: date
    closes_on: date
    criteria: str
    """The published criteria, in plain language: every applicant reads the same."""
    small_grant_limit_dkk: int | None
    """Applications for up to this amount use the short form; None: no short form."""
    created_by: str
    created_at: datetime
    status: PoolStatus = PoolStatus.ANNOUNCED
    target_groups: list[str] = field(default_factory=list)
    """Whom the pool is for (`need.TargetGroup` codes), sorted; empty: everyone."""
    max_per_application_dkk: int | None = None
    """The most one application may ask; None: up to the budget."""
    rubric: tuple[Criterion, ...] = ()
    """The weighted criteria reviewers score, published with the pool."""
    report_due_on: date | None = None
    """When its grants' reports are due; None: `default_report_due_on`."""
    changes: list[PoolChange] = field(default_factory=list, compare=False, repr=False)
    """What happened to it in this unit of work, oldest first, not yet published."""

    @classmethod
    def announce(
        cls,
        *,
        name: str,
        description: str,
        budget_dkk: int,
        opens_on: date,
        closes_on: date,
        criteria: str,
        small_grant_limit_dkk: int | None,
        created_by: str,
        now: datetime,
        today: date,
        target_groups: Iterable[str] = (),
        report_due_on: date | None = None,
        rubric: Iterable[Criterion] | None = None,
        max_per_application_dkk: int | None = None,
    ) -> GrantPool:
        """A new pool, announced, and open at once when its window has begun (`today`, the
        city's date); refuses terms that break the rules and a window already over. A pool
        that names no rubric is scored on `DEFAULT_RUBRIC`."""
        if not name.strip():
            raise InvalidPool("name: a pool needs a name")
        if not criteria.strip():
            raise InvalidPool("criteria: a pool must publish its criteria")
        if budget_dkk <= 0:
            raise InvalidPool("budget_dkk: the budget must be more than 0 kroner")
        if closes_on < opens_on:
            raise InvalidPool(f"closes_on: the pool cannot close before it opens on {opens_on}")
        if closes_on < today:
            raise InvalidPool(f"closes_on: the window would have ended already, before {today}")
        if report_due_on is not None and report_due_on <= closes_on:
            raise InvalidPool("report_due_on: reports fall due after the pool has closed")
        groups = set(target_groups)
        if not groups <= TARGET_GROUPS:
            raise InvalidPool(
                f"target_groups: the target groups are {', '.join(sorted(TARGET_GROUPS))}"
            )
        if small_grant_limit_dkk is not None and not 0 < small_grant_limit_dkk <= budget_dkk:
            raise InvalidPool(
                "small_grant_limit_dkk: the short-form limit must be more than 0 kroner "
                "and no more than the budget"
            )
        pool = cls(
            id=uuid4(),
            name=name.strip(),
            description=description.strip(),
            budget_dkk=budget_dkk,
            opens_on=opens_on,
            closes_on=closes_on,
            criteria=criteria.strip(),
            small_grant_limit_dkk=small_grant_limit_dkk,
            created_by=created_by,
            created_at=now,
            target_groups=sorted(str(group) for group in groups),
            report_due_on=report_due_on,
        )
        pool._set_review_terms(rubric, max_per_application_dkk)
        pool.changes.append(PoolChange.ANNOUNCED)
        pool.advance(today)
        return pool

    def _set_review_terms(
        self, rubric: Iterable[Criterion] | None, max_per_application_dkk: int | None
    ) -> None:
        criteria = DEFAULT_RUBRIC if rubric is None else tuple(rubric)
        if not 1 <= len(criteria) <= MAX_CRITERIA:
            raise InvalidPool(f"rubric: from 1 to {MAX_CRITERIA} criteria")
        names = [c.name.strip() for c in criteria]
        if not all(names) or len(set(names)) != len(names):
            raise InvalidPool("rubric: each criterion has a name of its own")
        if any(not 1 <= c.weight <= MAX_WEIGHT for c in criteria):
            raise InvalidPool(f"rubric: each weight is from 1 to {MAX_WEIGHT}")
        maximum = max_per_application_dkk
        if maximum is not None and not 0 < maximum <= self.budget_dkk:
            raise InvalidPool(
                "max_per_application_dkk: more than 0 kroner and no more than the budget"
            )
        self.rubric = tuple(
            Criterion(name, c.weight) for name, c in zip(names, criteria, strict=True)
        )
        self.max_per_application_dkk = maximum

    def advance(self, today: date) -> None:
        """Follow the window to `today`: open on the opening day, close after the closing
        day. A pool whose whole window passed while nobody looked closes without opening."""
        if self.status is PoolStatus.ANNOUNCED and today > self.closes_on:
            self._close(PoolChange.WINDOW_ENDED)
        elif self.status is PoolStatus.ANNOUNCED and today >= self.opens_on:
            self.status = PoolStatus.OPEN
            self.changes.append(PoolChange.OPENED)
        if self.status is PoolStatus.OPEN and today > self.closes_on:
            self._close(PoolChange.WINDOW_ENDED)

    def close(self) -> None:
        """An operator closes it early, for good."""
        if self.status is PoolStatus.CLOSED:
            raise InvalidTransition("the pool is already closed")
        self._close(PoolChange.CLOSED_EARLY)

    def _close(self, why: PoolChange) -> None:
        self.status = PoolStatus.CLOSED
        self.changes.append(why)

    @property
    def reports_due_on(self) -> date:
        """The day its grants' reports are due."""
        return self.report_due_on or default_report_due_on(self.closes_on)

    def accepting_applications(self, today: date) -> bool:
        """Whether the pool takes applications on `today`: open, and within its window
        (both ends included): the window counts even before the pool has been advanced."""
        return self.status is PoolStatus.OPEN and self.opens_on <= today <= self.closes_on


def default_report_due_on(closes_on: date) -> date:
    """When a pool names no day for its grants' reports: 1 June of the year after it closes."""
    return date(closes_on.year + 1, 6, 1)
