"""One transaction of referrals: the repositories, the events the referrals recorded,
and the audit entries."""

from __future__ import annotations

from referrals.store.citizens import SqlCitizenRepository
from referrals.store.known_services import SqlServiceBook
from referrals.store.ports import (
    CitizenRepository,
    ReferralRepository,
    ServiceBook,
    TimerRepository,
)
from referrals.store.referrals import SqlReferralRepository
from referrals.store.reports import OutcomeReports, SqlOutcomeReports
from referrals.store.timers import SqlTimerRepository
from runtime.audit import AuditEntry, append
from runtime.storage import UnitOfWork


class ReferralsUnitOfWork(UnitOfWork):
    def _open(self) -> None:
        self._referrals = SqlReferralRepository(self.session)
        self._citizens = SqlCitizenRepository(self.session)
        self._services = SqlServiceBook(self.session)
        self._timers = SqlTimerRepository(self.session)
        self._reports = SqlOutcomeReports(self.session)

    @property
    def referrals(self) -> ReferralRepository:
        return self._referrals

    @property
    def citizens(self) -> CitizenRepository:
        return self._citizens

    @property
    def services(self) -> ServiceBook:
        return self._services

    @property
    def timers(self) -> TimerRepository:
        return self._timers

    @property
    def reports(self) -> OutcomeReports:
        return self._reports

    def audit(self, entry: AuditEntry) -> None:
        """Append `entry` to the audit log in this transaction: call it last before `commit`
        (on PostgreSQL it holds the log's lock until then)."""
        append(self.session, entry)

    def commit(self) -> None:
        """Collect the events the referrals recorded into the outbox, then commit."""
        for referral in self._referrals.seen():
            for event in [*referral.events, *referral.care_events]:
                self.publish(event)
            referral.events.clear()
            referral.care_events.clear()
        super().commit()
