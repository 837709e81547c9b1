"""The money of a grant after its decision: payments, the report and repayment of what was
not spent, and what a pool's budget carries. Rules only, no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from grants.domain.pools import GrantPool, InvalidTransition

if TYPE_CHECKING:
    from grants.domain.applications import Application


class OverBudget(InvalidTransition):
    """Granting these would take the pool past its budget."""


@dataclass(frozen=True)
class Transfer:
    """Money moved between the municipality and the organisation, as its books record it."""

    amount_dkk: int
    day: date
    reference: str
    """The reference in the municipality's books."""
    recorded_by: str
    recorded_at: datetime


class Payment(Transfer):
    """Money paid out to the organisation."""


class Repayment(Transfer):
    """Unspent money the organisation paid back."""


@dataclass(frozen=True)
class Report:
    """What the organisation did with the grant."""

    participants: int
    """How many people the activities reached."""
    activities: int
    """How many activities were held."""
    spent_dkk: int
    summary: str
    received_at: datetime


@dataclass(frozen=True)
class Budget:
    """A pool's money: what it holds, what decisions committed, what was paid out and
    paid back; repaid money can be granted again."""

    budget_dkk: int
    committed_dkk: int
    paid_dkk: int
    repaid_dkk: int

    @property
    def remaining_dkk(self) -> int:
        return self.budget_dkk - self.committed_dkk + self.repaid_dkk

    @classmethod
    def of(cls, pool: GrantPool, applications: Iterable[Application]) -> Budget:
        committed = paid = repaid = 0
        for application in applications:
            committed += application.granted_dkk
            paid += application.paid_dkk
            repaid += application.repaid_dkk
        return cls(pool.budget_dkk, committed, paid, repaid)

    def allows(self, granted_dkk: Iterable[int]) -> None:
        """Raise `OverBudget` unless decisions granting these amounts fit in what remains."""
        asked = sum(granted_dkk)
        if asked > self.remaining_dkk:
            raise OverBudget(
                f"these decisions would grant {asked} kroner; "
                f"{max(self.remaining_dkk, 0)} kroner of the budget remain"
            )
