"""The grant pool: rules only, no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID, uuid4

from grants.need import TARGET_GROUPS


class PoolStatus(StrEnum):
    OPEN = "open"
    """Published and not closed early; `GrantPool.accepting_applications` adds the window."""
    CLOSED = "closed"
    """No more applications, whatever the window says."""


class InvalidPool(ValueError):
    """The pool's terms break a rule; the message says which and why."""


class InvalidTransition(Exception):
    """The pool is not in a state where this can happen."""


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
    status: PoolStatus = PoolStatus.OPEN
    target_groups: list[str] = field(default_factory=list)
    """Whom the pool is for (`grants.need.TargetGroup` codes), sorted; empty: everyone."""

    @classmethod
    def open(
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
        target_groups: Iterable[str] = (),
    ) -> GrantPool:
        """A new pool, open at once; refuses terms that break the rules."""
        if not name.strip():
            raise InvalidPool("name: a pool needs a name")
        if not criteria.strip():
            raise InvalidPool("criteria: a pool must publish its criteria")
        if budget_dkk <= 0:
            raise InvalidPool("budget_dkk: the budget must be more than 0 kroner")
        if closes_on < opens_on:
            raise InvalidPool(f"closes_on: the pool cannot close before it opens on {opens_on}")
        if small_grant_limit_dkk is not None and not 0 < small_grant_limit_dkk <= budget_dkk:
            raise InvalidPool(
                "small_grant_limit_dkk: the short-form limit must be more than 0 kroner "
                "and no more than the budget"
            )
        groups = set(target_groups)
        if not groups <= TARGET_GROUPS:
            raise InvalidPool(
                f"target_groups: the target groups are {', '.join(sorted(TARGET_GROUPS))}"
            )
        return cls(
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
        )

    def close(self) -> None:
        if self.status is PoolStatus.CLOSED:
            raise InvalidTransition("the pool is already closed")
        self.status = PoolStatus.CLOSED

    def accepting_applications(self, today: date) -> bool:
        """Whether the pool takes applications on `today`: open, and within its window
        (both ends included). An open pool whose window lies ahead takes none yet."""
        return self.status is PoolStatus.OPEN and self.opens_on <= today <= self.closes_on
