"""Durable timers: claimed by one scheduler at a time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlmodel import Session, col, select

from referrals.store.ports import DueTimer
from referrals.store.tables import ReferralRow, TimerRow


class SqlTimerRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def claim_due(self, now: datetime) -> DueTimer | None:
        # The referral's row is locked with the timer's: a timer whose referral a partner is
        # changing is left for the next round. Waiting for that referral while holding the
        # timer would deadlock with the partner's save, which deletes the timer.
        row = self.session.exec(
            select(TimerRow)
            .join(ReferralRow, col(ReferralRow.id) == TimerRow.referral_id)
            .where(col(TimerRow.due_at) <= now)
            .order_by(col(TimerRow.due_at))
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        return DueTimer(row.referral_id, row.kind, row.key) if row else None

    def remove(self, timer: DueTimer) -> bool:
        removed = self.session.execute(
            delete(TimerRow)
            .where(
                col(TimerRow.referral_id) == timer.referral_id,
                col(TimerRow.kind) == timer.kind,
                col(TimerRow.key) == timer.key,
            )
            .execution_options(synchronize_session=False)
        )
        return bool(removed.rowcount == 1)  # type: ignore[attr-defined]
