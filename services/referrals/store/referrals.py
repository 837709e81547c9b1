"""Referrals in the database: each with its candidates, offers, history, partners' views
and timers, saved with a version check."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Connection,
    Delete,
    Insert,
    Select,
    Table,
    Update,
    bindparam,
    delete,
    func,
    insert,
    update,
)
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from referrals.domain import (
    Accompaniment,
    Candidate,
    Consent,
    ConsentMethod,
    ConsentWithdrawal,
    Deadline,
    DeclineReason,
    ErasedReferral,
    EscalationReason,
    FollowUp,
    Offer,
    OfferStatus,
    Outcome,
    Participation,
    ParticipationStatus,
    Party,
    Referral,
    ReferralStatus,
    Scores,
    Transition,
    Ucla3,
    Who5,
    in_day_order,
)
from referrals.domain.outcomes import published
from referrals.store.ports import Change, ConcurrentUpdate, Sealed
from referrals.store.tables import (
    Base,
    CandidateRow,
    ChangeCounterRow,
    ChangeRow,
    ErasedReferralRow,
    FollowUpRow,
    OfferRow,
    PartnerViewRow,
    ReferralRow,
    TimerRow,
    TransitionRow,
)
from runtime.storage import idempotency_keys


class SqlReferralRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._seen: dict[UUID, Referral] = {}
        self._stored: dict[UUID, tuple[int, int]] = {}
        """Per referral: (history entries, candidates) already in the database."""
        self._stored_rows: dict[UUID, _Rows] = {}
        """Per referral: its offers', follow-ups' and partners' views' rows as stored."""
        self._without_timers: set[UUID] = set()
        """Referrals added here whose timers were not saved yet: none are stored."""

    def seen(self) -> Iterable[Referral]:
        return self._seen.values()

    def add(self, referral: Referral, *, citizen_id: UUID, note: bytes | None) -> None:
        consent = referral.consent
        # A Core insert of the columns, as its parts go in: written now, before them (they
        # refer to it), and no ORM object to build, flush and keep track of.
        self._core().execute(
            _WRITE.new[ReferralRow],
            {
                "id": referral.id,
                "submitted_by": referral.submitted_by,
                "citizen_ref": referral.citizen_ref,
                "citizen_id": citizen_id,
                "identity_ciphertext": b"",
                "note_ciphertext": note,
                "submitted_at": referral.submitted_at,
                "age_band": referral.age_band,
                "district": referral.district,
                "district_key": referral.district.casefold(),
                "interests": referral.interests,
                "languages": referral.languages,
                "needs": referral.needs,
                "share_contact_details": consent.share_contact_details,
                "consent_given_on": consent.given_on,
                "consent_recorded_by": consent.recorded_by,
                "consent_how": consent.how.value if consent.how else None,
                "consent_follow_up_questions": consent.follow_up_questions,
                "consent_share_outcome_with_care_system": consent.share_outcome_with_care_system,
                **_withdrawal_columns(consent.withdrawal),
                "needs_accompaniment": referral.needs_accompaniment,
                "preferred_times": list(referral.preferred_times),
                "care_record_reference": referral.care_record_reference,
                "baseline": _scores_json(referral.baseline),
                "status": referral.status.value,
                "updated_at": referral.submitted_at,
                "version": referral.version,
            },
        )
        self._seen[referral.id] = referral
        self._stored[referral.id] = (0, 0)
        self._stored_rows[referral.id] = {}
        self._without_timers.add(referral.id)
        self._save_parts(referral)

    def get(self, referral_id: UUID, *, for_update: bool = False) -> Referral | None:
        query = _READ.locked if for_update else _READ.one
        row = self._core().execute(query, {"id": referral_id}).first()
        if row is None:
            return None
        referral = self._load([row])[0]
        self._seen[referral.id] = referral
        return referral

    def save(self, referral: Referral) -> None:
        changed = self._core().execute(
            _WRITE.referral,
            {
                "_id": referral.id,
                "_version": referral.version,
                "status": referral.status.value,
                "escalation_reason": referral.escalation_reason,
                "escalated_at": referral.escalated_at,
                "contact_made_on": referral.contact_made_on,
                "first_meeting_on": referral.first_meeting_on,
                "accompanied_by": referral.accompanied_by,
                "volunteer_id": referral.volunteer_id,
                "outcome": referral.outcome,
                "completed_at": referral.completed_at,
                "updated_at": referral.history[-1].at if referral.history else None,
                **_withdrawal_columns(referral.consent.withdrawal),
                "version": referral.version + 1,
            },
        )
        if changed.rowcount != 1:
            raise ConcurrentUpdate(f"referral {referral.id} changed meanwhile")
        referral.version += 1
        self._save_parts(referral)

    def sealed(self, referral_id: UUID) -> Sealed:
        row = self.session.exec(
            select(ReferralRow.citizen_id, ReferralRow.note_ciphertext).where(
                ReferralRow.id == referral_id
            )
        ).first()
        if row is None:
            raise LookupError(f"no referral {referral_id}")
        return Sealed(citizen_id=row[0], note=row[1])

    def of_citizen(self, citizen_id: UUID) -> list[Referral]:
        rows = self.session.exec(
            select(ReferralRow)
            .where(ReferralRow.citizen_id == citizen_id)
            .order_by(col(ReferralRow.submitted_at), col(ReferralRow.id))
            .with_for_update()
        ).all()
        referrals = self._load(rows)
        self._seen.update((referral.id, referral) for referral in referrals)
        return referrals

    def erase(self, referral: Referral, tombstone: ErasedReferral) -> None:
        parts = (TimerRow, PartnerViewRow, TransitionRow, CandidateRow, OfferRow, FollowUpRow)
        for part in (*parts, ChangeRow):
            self.session.execute(
                delete(part)
                .where(col(part.referral_id) == referral.id)
                .execution_options(synchronize_session=False)
            )
        deleted = self.session.execute(
            delete(ReferralRow)
            .where(col(ReferralRow.id) == referral.id, col(ReferralRow.version) == referral.version)
            .execution_options(synchronize_session=False)
        )
        if deleted.rowcount != 1:  # type: ignore[attr-defined]
            raise ConcurrentUpdate(f"referral {referral.id} changed meanwhile")
        # Its key's fingerprint is a MAC of the request, which held the identity.
        self.session.execute(
            delete(idempotency_keys).where(idempotency_keys.c.resource_id == str(referral.id))
        )
        self.session.add(
            ErasedReferralRow(
                id=tombstone.id,
                submitted_by=tombstone.submitted_by,
                organization_ids=[str(o) for o in tombstone.organization_ids],
                erased_at=tombstone.erased_at,
            )
        )
        # Its care system learns from the feed that it is gone, and nothing else of it.
        self.session.add(
            ChangeRow(
                seq=self._next_change_numbers(1),
                referral_id=referral.id,
                care_system=referral.submitted_by,
                at=tombstone.erased_at,
                action="erased",
            )
        )
        self.session.flush()

    def erased(self, referral_id: UUID) -> ErasedReferral | None:
        row = self.session.get(ErasedReferralRow, referral_id)
        if row is None:
            return None
        organizations = tuple(UUID(o) for o in row.organization_ids)
        return ErasedReferral(row.id, row.submitted_by, organizations, row.erased_at)

    def legacy(self, *, after: UUID | None, limit: int) -> list[tuple[UUID, bytes]]:
        query = select(ReferralRow.id, ReferralRow.legacy_identity).where(
            col(ReferralRow.citizen_id).is_(None)
        )
        if after is not None:
            query = query.where(col(ReferralRow.id) > after)
        rows = self.session.exec(query.order_by(col(ReferralRow.id)).limit(limit)).all()
        return [(referral_id, ciphertext) for referral_id, ciphertext in rows]

    def count_legacy(self) -> int:
        query = (
            select(func.count())
            .select_from(ReferralRow)
            .where(col(ReferralRow.citizen_id).is_(None))
        )
        return int(self.session.exec(query).one())

    def attach_citizen(self, referral_id: UUID, citizen_id: UUID) -> None:
        self.session.execute(
            update(ReferralRow)
            .where(col(ReferralRow.id) == referral_id)
            .values(citizen_id=citizen_id, legacy_identity=b"")
            .execution_options(synchronize_session=False)
        )

    def offered_to(
        self, organization_id: UUID, status: str | None, offset: int, limit: int
    ) -> tuple[list[Referral], int]:
        query = select(PartnerViewRow).where(PartnerViewRow.organization_id == organization_id)
        if status is not None:
            query = query.where(PartnerViewRow.status == status)
        total = self.session.exec(select(func.count()).select_from(query.subquery())).one()
        views = self.session.exec(
            query.order_by(col(PartnerViewRow.offered_at).desc(), col(PartnerViewRow.referral_id))
            .offset(offset)
            .limit(limit)
        ).all()
        return self._by_ids([v.referral_id for v in views]), total

    def escalated(
        self, district: str | None, offset: int, limit: int
    ) -> tuple[list[Referral], int]:
        query = select(ReferralRow).where(ReferralRow.status == ReferralStatus.ESCALATED.value)
        if district is not None:
            query = query.where(ReferralRow.district_key == district.casefold())
        total = self.session.exec(select(func.count()).select_from(query.subquery())).one()
        rows = self.session.exec(
            query.order_by(col(ReferralRow.escalated_at), col(ReferralRow.id))
            .offset(offset)
            .limit(limit)
        ).all()
        return self._load(rows), total

    def updated_after(self, care_system: str | None, after: datetime, limit: int) -> list[Referral]:
        query = select(ReferralRow).where(col(ReferralRow.updated_at) > after)
        if care_system is not None:
            query = query.where(ReferralRow.submitted_by == care_system)
        rows = self.session.exec(
            query.order_by(col(ReferralRow.updated_at), col(ReferralRow.id)).limit(limit)
        ).all()
        return self._load(rows)

    def changes(self, care_system: str | None, after: int, limit: int) -> list[Change]:
        query = select(ChangeRow).where(col(ChangeRow.seq) > after)
        if care_system is not None:
            query = query.where(ChangeRow.care_system == care_system)
        rows = self.session.exec(query.order_by(col(ChangeRow.seq)).limit(limit)).all()
        return [
            Change(
                seq=row.seq,
                referral_id=row.referral_id,
                care_record_reference=row.care_record_reference,
                at=row.at,
                action=row.action,
                status=row.status,
                previous_status=row.previous_status,
                reason=row.reason,
                follow_up=row.follow_up,
                outcome=row.outcome,
                score_changes=row.score_changes,
            )
            for row in rows
        ]

    # --- writing the parts --------------------------------------------------------------

    def _save_parts(self, referral: Referral) -> None:
        stored_history, stored_candidates = self._stored[referral.id]
        # The new parts go in as bulk inserts: no ORM object and bookkeeping per row. The
        # referral's own row goes first, since they refer to it.
        self.session.flush()
        self._insert(
            CandidateRow,
            [
                {
                    "referral_id": referral.id,
                    "rank": rank,
                    "service_id": c.service_id,
                    "organization_id": c.organization_id,
                    "score": c.score,
                    "reasons": c.reasons,
                }
                for rank, c in enumerate(referral.candidates)
                if rank >= stored_candidates
            ],
        )
        self._insert(
            TransitionRow,
            [
                {
                    "referral_id": referral.id,
                    "seq": seq,
                    "at": t.at,
                    "action": t.action,
                    "party": t.party.value,
                    "from_status": t.from_status.value if t.from_status else None,
                    "to_status": t.to_status.value,
                    "reason": t.reason,
                    "text": t.text,
                    "follow_up": t.follow_up,
                }
                for seq, t in enumerate(referral.history)
                if seq >= stored_history
            ],
        )
        self._add_changes(referral, referral.history[stored_history:])
        self._write_rows(referral)
        self._save_timers(referral.id, referral.deadlines())
        self._stored[referral.id] = (len(referral.history), len(referral.candidates))
        self.session.flush()

    def _write_rows(self, referral: Referral) -> None:
        """Insert the offers, follow-ups and partners' views that are new, and update
        those that changed, as Core statements: loading and merging ORM objects for each
        cost more than the rest of a save."""
        stored = self._stored_rows[referral.id]
        wanted = _rows_of(referral)
        for table, rows in wanted.items():
            before = stored.get(table, {})
            self._insert(table, [row for key, row in rows.items() if key not in before])
            changed = [
                row | {f"_{column}": row[column] for column in _KEYS[table]}
                for key, row in rows.items()
                if key in before and before[key] != row
            ]
            if changed:
                self._core().execute(_WRITE.changed[table], changed)
        self._stored_rows[referral.id] = wanted

    def _add_changes(self, referral: Referral, steps: list[Transition]) -> None:
        """The care system's feed gets one change per new step, numbered last before the
        commit (see `ChangeCounterRow`)."""
        if not steps:
            return
        last = self._next_change_numbers(len(steps))
        outcome, ucla3, who5 = referral.shared_outcome()
        scores = {
            name: shown.model_dump()
            for name, change in (("ucla3", ucla3), ("who5", who5))
            if (shown := published(change)) is not None
        }
        changes = []
        for seq, step in enumerate(steps, start=last - len(steps) + 1):
            completed = (
                step.to_status is ReferralStatus.COMPLETED
                and step.from_status is not ReferralStatus.COMPLETED
            )
            changes.append(
                {
                    "seq": seq,
                    "referral_id": referral.id,
                    "care_system": referral.submitted_by,
                    "care_record_reference": referral.care_record_reference,
                    "at": step.at,
                    "action": step.action,
                    "status": step.to_status.value,
                    "previous_status": step.from_status.value if step.from_status else None,
                    "reason": step.reason,
                    "follow_up": step.follow_up,
                    "outcome": outcome.value if completed and outcome else None,
                    "score_changes": scores if completed and scores else None,
                }
            )
        self._insert(ChangeRow, changes)

    def _insert(self, table: type[Base], rows: list[dict[str, Any]]) -> None:
        if rows:
            self._core().execute(_WRITE.new[table], rows)

    def _core(self) -> Connection:
        """The session's connection, for Core statements built once (see `_READ` and
        `_WRITE`): no ORM entities to build and keep track of, no statements to build anew
        (their cache keys cost more than running them)."""
        return self.session.connection()

    def _next_change_numbers(self, count: int) -> int:
        """Take `count` numbers for changes; returns the last. The counter's row stays
        locked until the commit: transactions that add changes commit one after another
        from here on, so the numbers follow the order of commits."""
        last = self._core().execute(_WRITE.change_numbers, {"count": count}).scalar_one()
        return int(last)

    def _save_timers(self, referral_id: UUID, deadlines: list[Deadline]) -> None:
        """Make the timers exactly the referral's deadlines."""
        wanted = {(d.kind, d.key): d for d in deadlines}
        existing: Sequence[Any] = []
        if referral_id in self._without_timers:
            self._without_timers.discard(referral_id)
        else:
            existing = self._core().execute(_READ.timers, {"id": referral_id}).all()
        gone = [
            {"_referral_id": referral_id, "_kind": kind, "_key": key}
            for kind, key in existing
            if wanted.pop((kind, key), None) is None
        ]
        if gone:
            self._core().execute(_WRITE.timer_gone, gone)
        self._insert(
            TimerRow,
            [
                {"referral_id": referral_id, "kind": d.kind, "key": d.key, "due_at": d.due_at}
                for d in wanted.values()
            ],
        )

    # --- reading ------------------------------------------------------------------------

    def _by_ids(self, ids: list[UUID]) -> list[Referral]:
        if not ids:
            return []
        rows = self.session.exec(select(ReferralRow).where(col(ReferralRow.id).in_(ids))).all()
        by_id = {r.id: r for r in self._load(rows)}
        return [by_id[i] for i in ids]

    def _load(self, rows: Iterable[Any]) -> list[Referral]:
        """The referrals of `rows` (of `ReferralRow`'s columns), each with its parts, in
        four queries for all of them, read as Core rows."""
        rows = list(rows)
        ids = {"ids": [row.id for row in rows]}
        offers, candidates, history, follow_ups = (
            _grouped(self._core().execute(query, ids)) for query in _READ.parts
        )
        referrals = []
        for row in rows:
            referral = _referral(
                row,
                offers.get(row.id, []),
                candidates.get(row.id, []),
                history.get(row.id, []),
            )
            referral.follow_ups = [_follow_up(f) for f in follow_ups.get(row.id, [])]
            self._stored[row.id] = (len(referral.history), len(referral.candidates))
            self._stored_rows[row.id] = _rows_of(referral)
            referrals.append(referral)
        return referrals


def _withdrawal_columns(withdrawal: ConsentWithdrawal | None) -> dict[str, Any]:
    return {
        "consent_withdrawn_at": withdrawal.at if withdrawal else None,
        "consent_withdrawn_party": withdrawal.party.value if withdrawal else None,
        "consent_withdrawn_by": withdrawal.subject if withdrawal else None,
        "consent_withdrawal_recorded_by": withdrawal.recorded_by if withdrawal else None,
        "consent_withdrawal_how": withdrawal.how.value if withdrawal and withdrawal.how else None,
    }


def _withdrawal(row: Any) -> ConsentWithdrawal | None:
    at, party, subject = (
        row.consent_withdrawn_at,
        row.consent_withdrawn_party,
        row.consent_withdrawn_by,
    )
    if at is None or party is None or subject is None:  # written together, or not at all
        return None
    return ConsentWithdrawal(
        at=at,
        party=Party(party),
        subject=subject,
        recorded_by=row.consent_withdrawal_recorded_by,
        how=ConsentMethod(row.consent_withdrawal_how) if row.consent_withdrawal_how else None,
    )


def _grouped(rows: Iterable[Any]) -> dict[UUID, list[Any]]:
    grouped: dict[UUID, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row.referral_id, []).append(row)
    return grouped


_Rows = dict[type[Base], dict[tuple[Any, ...], dict[str, Any]]]
"""Rows of some tables by their primary keys, each as its columns' values."""

_KEYS: dict[type[Base], tuple[str, ...]] = {
    OfferRow: ("id",),
    FollowUpRow: ("referral_id", "number"),
    PartnerViewRow: ("referral_id", "organization_id"),
}


def _rows_of(referral: Referral) -> _Rows:
    """The rows of `referral`'s offers, follow-ups and partners' views, as `_KEYS` keys them."""
    rows: _Rows = {
        OfferRow: {
            (offer.id,): _offer_row(referral.id, seq, offer)
            for seq, offer in enumerate(referral.offers)
        },
        FollowUpRow: {
            (referral.id, follow_up.number): _follow_up_row(referral.id, follow_up)
            for follow_up in referral.follow_ups
        },
        PartnerViewRow: {},
    }
    for organization_id in {offer.organization_id for offer in referral.offers}:
        latest = referral.latest_offer_to(organization_id)
        status = referral.status_for(organization_id)
        assert latest is not None and status is not None  # it has an offer
        rows[PartnerViewRow][(referral.id, organization_id)] = {
            "referral_id": referral.id,
            "organization_id": organization_id,
            "status": status,
            "offered_at": latest.offered_at,
        }
    return rows


def _offer_row(referral_id: UUID, seq: int, offer: Offer) -> dict[str, Any]:
    return {
        "id": offer.id,
        "referral_id": referral_id,
        "seq": seq,
        "organization_id": offer.organization_id,
        "service_id": offer.service_id,
        "status": offer.status.value,
        "offered_at": offer.offered_at,
        "expires_at": offer.expires_at,
        "answered_at": offer.answered_at,
        "decline_reason": offer.decline_reason,
    }


def _referral(row: Any, offers: list[Any], candidates: list[Any], history: list[Any]) -> Referral:
    return Referral(
        id=row.id,
        submitted_by=row.submitted_by,
        citizen_ref=row.citizen_ref,
        age_band=row.age_band,
        district=row.district,
        interests=list(row.interests),
        languages=list(row.languages),
        needs=list(row.needs),
        consent=Consent(
            given_on=row.consent_given_on,
            recorded_by=row.consent_recorded_by,
            how=ConsentMethod(row.consent_how) if row.consent_how else None,
            share_contact_details=row.share_contact_details,
            follow_up_questions=row.consent_follow_up_questions,
            share_outcome_with_care_system=row.consent_share_outcome_with_care_system,
            withdrawal=_withdrawal(row),
        ),
        needs_accompaniment=row.needs_accompaniment,
        preferred_times=in_day_order(row.preferred_times),
        care_record_reference=row.care_record_reference,
        volunteer_id=row.volunteer_id,
        baseline=scores_of(row.baseline),
        outcome=Outcome(row.outcome) if row.outcome else None,
        submitted_at=row.submitted_at,
        status=ReferralStatus(row.status),
        escalation_reason=EscalationReason(row.escalation_reason)
        if row.escalation_reason
        else None,
        escalated_at=row.escalated_at,
        contact_made_on=row.contact_made_on,
        first_meeting_on=row.first_meeting_on,
        accompanied_by=Accompaniment(row.accompanied_by) if row.accompanied_by else None,
        version=row.version,
        candidates=[
            Candidate(c.service_id, c.organization_id, c.score, list(c.reasons)) for c in candidates
        ],
        offers=[
            Offer(
                id=o.id,
                organization_id=o.organization_id,
                service_id=o.service_id,
                offered_at=o.offered_at,
                expires_at=o.expires_at,
                status=OfferStatus(o.status),
                answered_at=o.answered_at,
                decline_reason=DeclineReason(o.decline_reason) if o.decline_reason else None,
            )
            for o in offers
        ],
        history=[
            Transition(
                at=t.at,
                action=t.action,
                party=Party(t.party),
                from_status=ReferralStatus(t.from_status) if t.from_status else None,
                to_status=ReferralStatus(t.to_status),
                reason=t.reason,
                text=t.text,
                follow_up=t.follow_up,
            )
            for t in history
        ],
    )


def _scores_json(scores: Scores | None) -> dict[str, dict[str, int]] | None:
    if scores is None:
        return None
    answered = {"ucla3": scores.ucla3, "who5": scores.who5}
    return {name: asdict(answers) for name, answers in answered.items() if answers is not None}


def scores_of(stored: dict[str, dict[str, int]] | None) -> Scores | None:
    if stored is None:
        return None
    ucla3, who5 = stored.get("ucla3"), stored.get("who5")
    return Scores(Ucla3(**ucla3) if ucla3 else None, Who5(**who5) if who5 else None)


def _follow_up_row(referral_id: UUID, follow_up: FollowUp) -> dict[str, Any]:
    participation = follow_up.participation
    return {
        "referral_id": referral_id,
        "number": follow_up.number,
        "id": follow_up.id,
        "due_at": follow_up.due_at,
        "remind_at": follow_up.remind_at,
        "escalate_at": follow_up.escalate_at,
        "fell_due_at": follow_up.fell_due_at,
        "participation": participation.status.value if participation else None,
        "times_last_month": participation.times_last_month if participation else None,
        "participation_note": participation.note if participation else None,
        "participation_recorded_at": follow_up.participation_recorded_at,
        "wellbeing": _scores_json(follow_up.wellbeing),
        "wellbeing_recorded_at": follow_up.wellbeing_recorded_at,
        "reminded_at": follow_up.reminded_at,
        "escalated_at": follow_up.escalated_at,
    }


def _follow_up(row: Any) -> FollowUp:
    participation = (
        Participation(
            ParticipationStatus(row.participation),
            row.times_last_month or 0,
            row.participation_note,
        )
        if row.participation
        else None
    )
    return FollowUp(
        id=row.id,
        number=row.number,
        due_at=row.due_at,
        remind_at=row.remind_at,
        escalate_at=row.escalate_at,
        fell_due_at=row.fell_due_at,
        participation=participation,
        participation_recorded_at=row.participation_recorded_at,
        wellbeing=scores_of(row.wellbeing),
        wellbeing_recorded_at=row.wellbeing_recorded_at,
        reminded_at=row.reminded_at,
        escalated_at=row.escalated_at,
    )


def _table(model: type[Base]) -> Table:
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


@dataclass(frozen=True)
class _Reading:
    """The statements that read referrals, built once."""

    one: Select[Any]
    """The referral `id`'s row."""
    locked: Select[Any]
    """`one`, locked until the commit."""
    parts: tuple[Select[Any], ...]
    """Offers, candidates, history and follow-ups of the referrals `ids`, each in order."""
    timers: Select[Any]
    """Kind and key of the referral `id`'s timers."""


def _reading() -> _Reading:
    referral, timer = _table(ReferralRow), _table(TimerRow)
    one = sa_select(referral).where(referral.c.id == bindparam("id"))

    def of_ids(model: type[Base], order: str) -> Select[Any]:
        table = _table(model)
        among = table.c.referral_id.in_(bindparam("ids", expanding=True))
        return sa_select(table).where(among).order_by(table.c[order])

    return _Reading(
        one=one,
        locked=one.with_for_update(),
        parts=(
            of_ids(OfferRow, "seq"),
            of_ids(CandidateRow, "rank"),
            of_ids(TransitionRow, "seq"),
            of_ids(FollowUpRow, "number"),
        ),
        timers=sa_select(timer.c.kind, timer.c.key).where(timer.c.referral_id == bindparam("id")),
    )


@dataclass(frozen=True)
class _Writing:
    """The statements that write referrals, built once. An update's new values are its
    parameters named as the columns; its key's are named `_` and the column."""

    referral: Update
    """The referral `_id`'s row, if it is still at `_version`."""
    new: dict[type[Base], Insert]
    changed: dict[type[Base], Update]
    """The rows of `_KEYS`' tables, by their keys."""
    change_numbers: Update
    """Takes `count` numbers for changes, returning the last."""
    timer_gone: Delete


def _writing() -> _Writing:
    referral, counter, timer = _table(ReferralRow), _table(ChangeCounterRow), _table(TimerRow)

    def by_key(table: Table, columns: Iterable[str]) -> list[ColumnElement[bool]]:
        return [table.c[column] == bindparam(f"_{column}") for column in columns]

    tables: tuple[type[Base], ...] = (
        ReferralRow,
        CandidateRow,
        TransitionRow,
        ChangeRow,
        TimerRow,
        *_KEYS,
    )
    return _Writing(
        referral=update(referral).where(*by_key(referral, ("id", "version"))),
        new={model: insert(_table(model)) for model in tables},
        changed={
            model: update(_table(model)).where(*by_key(_table(model), columns))
            for model, columns in _KEYS.items()
        },
        change_numbers=update(counter)
        .where(counter.c.id == 1)
        .values(value=counter.c.value + bindparam("count"))
        .returning(counter.c.value),
        timer_gone=delete(timer).where(*by_key(timer, ("referral_id", "kind", "key"))),
    )


_READ = _reading()
_WRITE = _writing()
