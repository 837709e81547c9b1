"""What the outcome report reads: a few filtered queries, the statistics left to the domain."""

from __future__ import annotations

from itertools import groupby
from typing import Protocol

from sqlalchemy import ColumnElement, func
from sqlmodel import Session, col, select

from referrals.domain import Accompaniment, OfferStatus, Outcome, ParticipationStatus, Scores
from referrals.domain.reports import (
    CompletedReferral,
    FirstMeeting,
    ParticipationCount,
    ReportScope,
)
from referrals.store.referrals import scores_of
from referrals.store.tables import FollowUpRow, OfferRow, ReferralRow


class OutcomeReports(Protocol):
    """What the outcome report asks of storage; each answer only of the scope's referrals."""

    def completed(self, scope: ReportScope) -> list[CompletedReferral]:
        """The referrals completed in the period, each with its answers at intake and at
        its follow-ups."""
        ...

    def participation(self, scope: ReportScope) -> list[ParticipationCount]:
        """Per follow-up number and participation status, how many of the partners'
        reports were recorded in the period."""
        ...

    def first_meetings(self, scope: ReportScope) -> list[FirstMeeting]:
        """The first meetings held in the period."""
        ...


class SqlOutcomeReports:
    def __init__(self, session: Session) -> None:
        self.session = session

    def completed(self, scope: ReportScope) -> list[CompletedReferral]:
        period = scope.period
        completed = [
            col(ReferralRow.completed_at) >= period.starts_at,
            col(ReferralRow.completed_at) < period.ends_at,
            *_of_scope(scope),
        ]
        referrals = self.session.execute(
            select(
                ReferralRow.id,
                ReferralRow.outcome,
                ReferralRow.baseline,
                ReferralRow.consent_withdrawn_at,
            ).where(*completed)
        ).all()
        answers = self.session.execute(
            select(FollowUpRow.referral_id, FollowUpRow.wellbeing)
            .where(col(FollowUpRow.referral_id).in_(select(ReferralRow.id).where(*completed)))
            .order_by(col(FollowUpRow.referral_id), col(FollowUpRow.number))
        ).all()
        answered = {
            referral_id: tuple(scores for _, stored in rows if (scores := _answered(stored)))
            for referral_id, rows in groupby(answers, key=lambda row: row[0])
        }
        # A citizen who withdrew consent is counted, but their answers are not used.
        return [
            CompletedReferral(
                outcome=Outcome(outcome) if outcome else None,
                baseline=None if withdrawn_at else _answered(baseline),
                answers=() if withdrawn_at else answered.get(referral_id, ()),
            )
            for referral_id, outcome, baseline, withdrawn_at in referrals
        ]

    def participation(self, scope: ReportScope) -> list[ParticipationCount]:
        period = scope.period
        number, status = col(FollowUpRow.number), col(FollowUpRow.participation)
        rows = self.session.execute(
            select(number, status, func.count())
            .join(ReferralRow, col(ReferralRow.id) == col(FollowUpRow.referral_id))
            .where(
                col(FollowUpRow.participation_recorded_at) >= period.starts_at,
                col(FollowUpRow.participation_recorded_at) < period.ends_at,
                status.is_not(None),
                *_of_scope(scope),
            )
            .group_by(number, status)
        ).all()
        return [
            ParticipationCount(number, ParticipationStatus(participation), count)
            for number, participation, count in rows
        ]

    def first_meetings(self, scope: ReportScope) -> list[FirstMeeting]:
        period = scope.period
        rows = self.session.execute(
            select(
                col(ReferralRow.submitted_at),
                col(ReferralRow.first_meeting_on),
                col(ReferralRow.accompanied_by),
            ).where(
                col(ReferralRow.first_meeting_on) >= period.first,
                col(ReferralRow.first_meeting_on) <= period.last,
                *_of_scope(scope),
            )
        ).all()
        return [
            FirstMeeting(
                submitted_at=submitted_at,
                met_on=met_on,
                accompanied_by=Accompaniment(accompanied_by) if accompanied_by else None,
            )
            for submitted_at, met_on, accompanied_by in rows
        ]


def _of_scope(scope: ReportScope) -> list[ColumnElement[bool]]:
    """The conditions on `referral` of the scope's district, organisation and service: the
    latter two those of the offer accepted."""
    conditions: list[ColumnElement[bool]] = []
    if scope.district_key is not None:
        conditions.append(col(ReferralRow.district_key) == scope.district_key)
    if scope.organization_id is not None or scope.service_id is not None:
        accepted = select(OfferRow.id).where(
            col(OfferRow.referral_id) == col(ReferralRow.id),
            col(OfferRow.status) == OfferStatus.ACCEPTED.value,
        )
        if scope.organization_id is not None:
            accepted = accepted.where(col(OfferRow.organization_id) == scope.organization_id)
        if scope.service_id is not None:
            accepted = accepted.where(col(OfferRow.service_id) == scope.service_id)
        conditions.append(accepted.exists())
    return conditions


def _answered(stored: dict[str, dict[str, int]] | None) -> Scores | None:
    """The answers as stored (JSON), or None where nothing was answered (`{}`, null)."""
    return scores_of(stored) if stored else None
