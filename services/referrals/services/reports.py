"""Did it help? The outcome report, for operators and partners."""

from __future__ import annotations

from referrals.domain import Actor
from referrals.domain.reports import OutcomeReport, ReportScope
from referrals.services.common import UnitOfWorkFactory


def outcome_report(scope: ReportScope, actor: Actor, start_uow: UnitOfWorkFactory) -> OutcomeReport:
    """The outcome report of `scope` as `actor` may see it: an operator's of every referral,
    a partner's of those its organisation accepted (`Forbidden` for another organisation's,
    and for anyone else). Reads only."""
    seen = scope.seen_by(actor)
    with start_uow() as uow:
        return OutcomeReport.of(
            seen,
            uow.reports.completed(seen),
            uow.reports.participation(seen),
            uow.reports.first_meetings(seen),
        )
