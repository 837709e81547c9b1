"""Storage of grant pools, their applications and the referrals that tell where the need
is: SQLModel tables and the repositories the service layer uses."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple, Protocol, TypeVar, cast
from uuid import UUID

from sqlalchemy import (
    JSON,
    BigInteger,
    BindParameter,
    Column,
    Connection,
    Delete,
    Insert,
    Select,
    Table,
    Text,
    Update,
    bindparam,
    delete,
    exists,
    func,
    insert,
    update,
)
from sqlalchemy import select as sa_select
from sqlalchemy.orm import registry
from sqlmodel import Field, Session, SQLModel, and_, col, or_, select

from grants.domain import GrantPool, PoolStatus
from grants.domain.applications import (
    Applicant,
    Application,
    ApplicationStatus,
    BudgetLine,
    Decision,
    Form,
    Outcome,
)
from grants.domain.eligibility import Eligibility, Rule, RuleResult
from grants.domain.funding import Payment, Repayment, Report, Transfer
from grants.domain.need import DistrictNeed, ReferralNeed
from grants.domain.pools import DEFAULT_RUBRIC, Criterion
from grants.domain.reviews import Reviewer, Reviews, Score
from runtime.storage import UnitOfWork, UTCDateTime


class Base(SQLModel, registry=registry()):
    """This service's tables only; the outbox and inbox come from `runtime.storage`."""


class GrantPoolRow(Base, table=True):
    __tablename__ = "grant_pool"
    id: UUID = Field(primary_key=True)
    created_by: str = Field(max_length=200)
    name: str = Field(max_length=200)
    description: str = Field(sa_column=Column(Text, nullable=False))
    # BIGINT: a city-wide pool may pass the 2.1 billion of a 32-bit integer.
    budget_dkk: int = Field(sa_column=Column(BigInteger, nullable=False))
    opens_on: date
    closes_on: date
    criteria: str = Field(sa_column=Column(Text, nullable=False))
    small_grant_limit_dkk: int | None = Field(default=None, sa_column=Column(BigInteger))
    status: str = Field(index=True, max_length=20)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    target_groups: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    # [[name, weight], ...]; pools from before rubrics have the default one.
    rubric: list[list[Any]] = Field(
        default_factory=lambda: _rubric_column(DEFAULT_RUBRIC),
        sa_column=Column(JSON, nullable=False, server_default='[["fit", 1]]'),
    )
    max_per_application_dkk: int | None = Field(default=None, sa_column=Column(BigInteger))
    report_due_on: date | None = None


def _rubric_column(rubric: tuple[Criterion, ...]) -> list[list[Any]]:
    return [[c.name, c.weight] for c in rubric]


class GrantPoolRepository(Protocol):
    def add(self, pool: GrantPool) -> None: ...

    def get(self, pool_id: UUID, for_update: bool = False) -> GrantPool | None:
        """The pool; `for_update`: locked until the unit of work ends, so that what is
        decided on it (closing it) cannot cross the scheduler's change of it."""
        ...

    def all(self, status: PoolStatus | None = None) -> list[GrantPool]:
        """Pools, newest first; only those in `status` when given."""
        ...

    def save(self, pool: GrantPool) -> None: ...

    def due_to_advance(self, today: date, limit: int) -> list[GrantPool]:
        """Announced pools whose opening day has come, open ones whose closing day has
        passed; the ones waiting longest first."""
        ...


class SqlGrantPoolRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, pool: GrantPool) -> None:
        self.session.add(
            GrantPoolRow(
                id=pool.id,
                created_by=pool.created_by,
                name=pool.name,
                description=pool.description,
                budget_dkk=pool.budget_dkk,
                opens_on=pool.opens_on,
                closes_on=pool.closes_on,
                criteria=pool.criteria,
                small_grant_limit_dkk=pool.small_grant_limit_dkk,
                status=pool.status.value,
                created_at=pool.created_at,
                target_groups=pool.target_groups,
                rubric=_rubric_column(pool.rubric),
                max_per_application_dkk=pool.max_per_application_dkk,
                report_due_on=pool.report_due_on,
            )
        )
        # Written now: the tables refer to one another by foreign key only, so the session
        # would not know to write a pool before the applications added to it after.
        self.session.flush()

    def get(self, pool_id: UUID, for_update: bool = False) -> GrantPool | None:
        row = self.session.get(GrantPoolRow, pool_id, with_for_update=for_update)
        return _to_domain(row) if row else None

    def all(self, status: PoolStatus | None = None) -> list[GrantPool]:
        query = select(GrantPoolRow).order_by(
            col(GrantPoolRow.created_at).desc(), col(GrantPoolRow.id)
        )
        if status is not None:
            query = query.where(GrantPoolRow.status == status.value)
        return [_to_domain(row) for row in self.session.exec(query)]

    def save(self, pool: GrantPool) -> None:
        row = self.session.get(GrantPoolRow, pool.id)
        if row is None:
            raise LookupError(f"pool {pool.id} was never added")
        row.status = pool.status.value
        self.session.add(row)

    def due_to_advance(self, today: date, limit: int) -> list[GrantPool]:
        announced = and_(
            GrantPoolRow.status == PoolStatus.ANNOUNCED.value,
            col(GrantPoolRow.opens_on) <= today,
        )
        open_past = and_(
            GrantPoolRow.status == PoolStatus.OPEN.value, col(GrantPoolRow.closes_on) < today
        )
        query = (
            select(GrantPoolRow)
            .where(or_(announced, open_past))
            .order_by(col(GrantPoolRow.opens_on), col(GrantPoolRow.id))
            .limit(limit)
            # Two replicas advance different pools rather than wait for each other.
            .with_for_update(skip_locked=True)
        )
        return [_to_domain(row) for row in self.session.exec(query)]


def _to_domain(row: GrantPoolRow) -> GrantPool:
    return GrantPool(
        id=row.id,
        name=row.name,
        description=row.description,
        budget_dkk=row.budget_dkk,
        opens_on=row.opens_on,
        closes_on=row.closes_on,
        criteria=row.criteria,
        small_grant_limit_dkk=row.small_grant_limit_dkk,
        created_by=row.created_by,
        created_at=row.created_at,
        status=PoolStatus(row.status),
        target_groups=list(row.target_groups),
        max_per_application_dkk=row.max_per_application_dkk,
        rubric=tuple(Criterion(name, weight) for name, weight in row.rubric),
        report_due_on=row.report_due_on,
    )


class ReferralNeedRow(Base, table=True):
    """What grants keeps of a referral to count it where the need is: no personal data,
    and gone when the referral is erased."""

    __tablename__ = "referral_need"
    referral_id: UUID = Field(primary_key=True)
    district: str | None = Field(default=None, sa_column=Column(Text))
    submitted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    no_match: bool
    escalated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # `ReferralNeed.unmet_at`, kept so that the last 12 months are a range on an index.
    unmet_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), index=True))


class ReferralNeedTargetGroupRow(Base, table=True):
    """A kept referral's target groups, one row each, to count it for a pool's in SQL."""

    __tablename__ = "referral_need_target_group"
    referral_id: UUID = Field(foreign_key="referral_need.referral_id", primary_key=True)
    target_group: str = Field(primary_key=True, max_length=40)


class ReferralNeedRepository(Protocol):
    def get(self, referral_id: UUID) -> ReferralNeed | None:
        """The kept referral, locked until the transaction ends (a no-match and the
        submission it is about may be handled at once)."""
        ...

    def save(self, referral: ReferralNeed) -> None: ...

    def forget(self, referral_id: UUID) -> None:
        """Drop everything kept of the referral."""
        ...

    def unmet_by_district(
        self, since: date, until: date, target_groups: frozenset[str]
    ) -> list[DistrictNeed]:
        """The referrals that went unmet from `since` to `until` (UTC days, both included)
        counted by district, most first; only those in one of `target_groups`, unless it is
        empty. Each referral counts once."""
        ...


class SqlReferralNeedRepository:
    """Reads and writes as Core statements, on the path of every submitted referral: ORM
    objects, their merging and flushes cost more than the statements."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._stored_groups: dict[UUID, frozenset[str] | None] = {}
        """The target groups in the database of each referral read here (None: it is not
        there)."""

    def get(self, referral_id: UUID) -> ReferralNeed | None:
        # One statement, its target groups joined: one row per group, or one without.
        rows = self._core().execute(_NEED.get, {"id": referral_id}).all()
        if not rows:
            self._stored_groups[referral_id] = None
            return None
        groups = frozenset(row.target_group for row in rows if row.target_group is not None)
        self._stored_groups[referral_id] = groups
        first = rows[0]
        return ReferralNeed(
            referral_id=referral_id,
            district=first.district,
            target_groups=groups,
            submitted_at=first.submitted_at,
            no_match=first.no_match,
            escalated_at=first.escalated_at,
        )

    def save(self, referral: ReferralNeed) -> None:
        """Write `referral`: only what changed since `get` read it, if it did."""
        referral_id = referral.referral_id
        values = {
            "district": referral.district,
            "no_match": referral.no_match,
            "submitted_at": referral.submitted_at,
            "escalated_at": referral.escalated_at,
            "unmet_at": referral.unmet_at,
        }
        if referral_id not in self._stored_groups:
            # Not read here: it may be there, with target groups of its own.
            self.forget(referral_id)
            self._stored_groups[referral_id] = None
        stored = self._stored_groups[referral_id]
        connection = self._core()
        if stored is None:
            connection.execute(_NEED.add, {"referral_id": referral_id, **values})
            stored = frozenset()
        else:
            connection.execute(_NEED.change, {"_referral_id": referral_id, **values})
        if gone := stored - referral.target_groups:
            connection.execute(_NEED.groups_gone, {"id": referral_id, "groups": sorted(gone)})
        if new := referral.target_groups - stored:
            connection.execute(
                _NEED.groups_new,
                [{"referral_id": referral_id, "target_group": group} for group in sorted(new)],
            )
        self._stored_groups[referral_id] = referral.target_groups

    def forget(self, referral_id: UUID) -> None:
        self._stored_groups.pop(referral_id, None)
        for statement in _NEED.forget:
            self._core().execute(statement, {"id": referral_id})

    def _core(self) -> Connection:
        """The session's connection, for `_NEED`'s statements."""
        return self.session.connection()

    def unmet_by_district(
        self, since: date, until: date, target_groups: frozenset[str]
    ) -> list[DistrictNeed]:
        referral = ReferralNeedRow
        referrals = func.count()
        first = datetime.combine(since, time(), UTC)
        after_last = datetime.combine(until + timedelta(days=1), time(), UTC)
        query = (
            select(col(referral.district), referrals)
            .where(col(referral.unmet_at) >= first, col(referral.unmet_at) < after_last)
            .group_by(col(referral.district))
            .order_by(referrals.desc(), col(referral.district))
        )
        if target_groups:
            # EXISTS, not a join: a referral in two of the groups still counts once.
            query = query.where(
                exists().where(
                    col(ReferralNeedTargetGroupRow.referral_id) == col(referral.referral_id),
                    col(ReferralNeedTargetGroupRow.target_group).in_(target_groups),
                )
            )
        return [
            # A referral is unmet only once its district is known (`ReferralNeed.unmet_at`).
            DistrictNeed(district=cast(str, district), referrals=count)
            for district, count in self.session.exec(query)
        ]


class ApplicationRow(Base, table=True):
    """An application: the form as JSON but for the amount (which budgets add up) and the
    contact person (personal data, in columns of their own so that nothing else carries it)."""

    __tablename__ = "grant_application"
    id: UUID = Field(primary_key=True)
    pool_id: UUID = Field(foreign_key="grant_pool.id", index=True)
    organization_id: UUID = Field(index=True)
    applicant: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    form: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    amount_dkk: int = Field(sa_column=Column(BigInteger, nullable=False))
    contact_name: str = Field(sa_column=Column(Text, nullable=False))
    contact_email: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(index=True, max_length=20)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    submitted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    withdrawn_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    eligibility: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    override_note: str | None = Field(default=None, sa_column=Column(Text))
    decision: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    # In columns of their own so that awards and overdue reports are found by a query.
    granted_dkk: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    decided_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    report_due_on: date | None = Field(default=None, index=True)
    agreement_accepted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # [[amount, day, reference, by, at], ...]
    payments: list[list[Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    report: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    repayments: list[list[Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    reminded_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    history: list[list[str]] = Field(sa_column=Column(JSON, nullable=False))


class ApplicationRepository(Protocol):
    def add(self, application: Application) -> None: ...

    def get(self, application_id: UUID, for_update: bool = False) -> Application | None:
        """The application; `for_update`: locked until the unit of work ends."""
        ...

    def page(
        self,
        offset: int,
        limit: int,
        *,
        organization_id: UUID | None = None,
        pool_id: UUID | None = None,
        status: ApplicationStatus | None = None,
    ) -> tuple[list[Application], int]:
        """One page of the applications that match every filter given, newest first, and
        how many match in all."""
        ...

    def of_pool(self, pool_id: UUID) -> list[Application]:
        """Every application to the pool, oldest first."""
        ...

    def save(self, application: Application) -> None: ...

    def overdue_reports(self, organization_id: UUID, today: date) -> int:
        """How many reports of the organisation's earlier grants are past their due date
        and not received."""
        ...

    def due_for_reminder(self, today: date, limit: int) -> list[Application]:
        """Paid grants whose report is overdue and not yet reminded of, locked; another
        replica takes others."""
        ...

    def awarded(self, offset: int, limit: int) -> tuple[list[Application], int]:
        """A page of the applications that were granted money, newest decision first, and
        how many there are."""
        ...


class SqlApplicationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, application: Application) -> None:
        row = ApplicationRow(
            id=application.id,
            pool_id=application.pool_id,
            organization_id=application.applicant.organization_id,
            created_at=application.created_at,
            **_application_columns(application),
        )
        self.session.add(row)

    def get(self, application_id: UUID, for_update: bool = False) -> Application | None:
        row = self.session.get(ApplicationRow, application_id, with_for_update=for_update)
        return _application(row) if row else None

    def page(
        self,
        offset: int,
        limit: int,
        *,
        organization_id: UUID | None = None,
        pool_id: UUID | None = None,
        status: ApplicationStatus | None = None,
    ) -> tuple[list[Application], int]:
        conditions = []
        if organization_id is not None:
            conditions.append(col(ApplicationRow.organization_id) == organization_id)
        if pool_id is not None:
            conditions.append(col(ApplicationRow.pool_id) == pool_id)
        if status is not None:
            conditions.append(col(ApplicationRow.status) == status.value)
        total = self.session.exec(
            select(func.count()).select_from(ApplicationRow).where(*conditions)
        ).one()
        rows = self.session.exec(
            select(ApplicationRow)
            .where(*conditions)
            .order_by(col(ApplicationRow.created_at).desc(), col(ApplicationRow.id))
            .offset(offset)
            .limit(limit)
        )
        return [_application(row) for row in rows], total

    def of_pool(self, pool_id: UUID) -> list[Application]:
        rows = self.session.exec(
            select(ApplicationRow)
            .where(ApplicationRow.pool_id == pool_id)
            .order_by(col(ApplicationRow.created_at), col(ApplicationRow.id))
        )
        return [_application(row) for row in rows]

    def save(self, application: Application) -> None:
        row = self.session.get(ApplicationRow, application.id)
        if row is None:
            raise LookupError(f"application {application.id} was never added")
        for name, value in _application_columns(application).items():
            setattr(row, name, value)
        self.session.add(row)

    def overdue_reports(self, organization_id: UUID, today: date) -> int:
        return self.session.exec(
            select(func.count())
            .select_from(ApplicationRow)
            .where(*_overdue(today), ApplicationRow.organization_id == organization_id)
        ).one()

    def due_for_reminder(self, today: date, limit: int) -> list[Application]:
        rows = self.session.exec(
            select(ApplicationRow)
            .where(*_overdue(today), col(ApplicationRow.reminded_at).is_(None))
            .order_by(col(ApplicationRow.report_due_on), col(ApplicationRow.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_application(row) for row in rows]

    def awarded(self, offset: int, limit: int) -> tuple[list[Application], int]:
        granted = col(ApplicationRow.granted_dkk) > 0
        total = self.session.exec(
            select(func.count()).select_from(ApplicationRow).where(granted)
        ).one()
        rows = self.session.exec(
            select(ApplicationRow)
            .where(granted)
            .order_by(col(ApplicationRow.decided_at).desc(), col(ApplicationRow.id))
            .offset(offset)
            .limit(limit)
        )
        return [_application(row) for row in rows], total


def _overdue(today: date) -> tuple[Any, ...]:
    return (
        ApplicationRow.status == ApplicationStatus.PAID.value,
        col(ApplicationRow.report_due_on) < today,
    )


def _application_columns(application: Application) -> dict[str, Any]:
    """What changes of an application over its life, as its row holds it."""
    form, eligibility, decision = application.form, application.eligibility, application.decision
    return {
        "applicant": {
            "name": application.applicant.name,
            "cvr": application.applicant.cvr,
            "legal_form": application.applicant.legal_form,
            "municipality_code": application.applicant.municipality_code,
            "board_unpaid": application.applicant.board_unpaid,
        },
        "form": {
            "title": form.title,
            "description": form.description,
            "budget_lines": [[line.label, line.amount_dkk] for line in form.budget_lines],
            "target_groups": list(form.target_groups),
            "districts": list(form.districts),
            "expected_participants": form.expected_participants,
            "co_financing_dkk": form.co_financing_dkk,
            "starts_on": _day(form.starts_on),
            "ends_on": _day(form.ends_on),
            "language": form.language,
        },
        "amount_dkk": form.amount_dkk,
        "contact_name": form.contact_name,
        "contact_email": form.contact_email,
        "status": application.status.value,
        "submitted_at": application.submitted_at,
        "withdrawn_at": application.withdrawn_at,
        "eligibility": None
        if eligibility is None
        else {
            "short_form": eligibility.short_form,
            "results": [[r.rule.value, r.passed, r.reason] for r in eligibility.results],
        },
        "override_note": application.override_note,
        "decision": None
        if decision is None
        else {
            "outcome": decision.outcome.value,
            "amount_dkk": decision.amount_dkk,
            "reasons": decision.reasons,
            "decided_by": decision.decided_by,
            "decided_at": decision.decided_at.isoformat(),
        },
        "granted_dkk": application.granted_dkk,
        "decided_at": decision.decided_at if decision else None,
        "report_due_on": application.report_due_on,
        "agreement_accepted_at": application.agreement_accepted_at,
        "payments": [_transfer_column(payment) for payment in application.payments],
        "report": None
        if application.report is None
        else {
            "participants": application.report.participants,
            "activities": application.report.activities,
            "spent_dkk": application.report.spent_dkk,
            "summary": application.report.summary,
            "received_at": application.report.received_at.isoformat(),
        },
        "repayments": [_transfer_column(repayment) for repayment in application.repayments],
        "reminded_at": application.reminded_at,
        "history": [[status.value, at.isoformat()] for status, at in application.history],
    }


_T = TypeVar("_T", bound=Transfer)


def _transfer_column(transfer: Transfer) -> list[Any]:
    """[amount, day, reference, by, at], as a JSON column holds it."""
    return [
        transfer.amount_dkk,
        transfer.day.isoformat(),
        transfer.reference,
        transfer.recorded_by,
        transfer.recorded_at.isoformat(),
    ]


def _transfer(kind: type[_T], column: list[Any]) -> _T:
    amount, day, reference, by, at = column
    return kind(amount, date.fromisoformat(day), reference, by, datetime.fromisoformat(at))


def _day(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _day_of(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _application(row: ApplicationRow) -> Application:
    form, eligibility, decision = row.form, row.eligibility, row.decision
    return Application(
        id=row.id,
        pool_id=row.pool_id,
        applicant=Applicant(organization_id=row.organization_id, **row.applicant),
        form=Form(
            title=form["title"],
            description=form["description"],
            amount_dkk=row.amount_dkk,
            budget_lines=tuple(BudgetLine(label, amount) for label, amount in form["budget_lines"]),
            target_groups=tuple(form["target_groups"]),
            districts=tuple(form["districts"]),
            expected_participants=form["expected_participants"],
            co_financing_dkk=form["co_financing_dkk"],
            starts_on=_day_of(form["starts_on"]),
            ends_on=_day_of(form["ends_on"]),
            contact_name=row.contact_name,
            contact_email=row.contact_email,
            language=form.get("language", "da"),
        ),
        created_at=row.created_at,
        status=ApplicationStatus(row.status),
        submitted_at=row.submitted_at,
        eligibility=None
        if eligibility is None
        else Eligibility(
            tuple(
                RuleResult(Rule(rule), passed, reason)
                for rule, passed, reason in eligibility["results"]
            ),
            eligibility["short_form"],
        ),
        override_note=row.override_note,
        decision=None
        if decision is None
        else Decision(
            outcome=Outcome(decision["outcome"]),
            amount_dkk=decision["amount_dkk"],
            reasons=decision["reasons"],
            decided_by=decision["decided_by"],
            decided_at=datetime.fromisoformat(decision["decided_at"]),
        ),
        withdrawn_at=row.withdrawn_at,
        report_due_on=row.report_due_on,
        agreement_accepted_at=row.agreement_accepted_at,
        payments=[_transfer(Payment, column) for column in row.payments],
        report=None
        if row.report is None
        else Report(
            participants=row.report["participants"],
            activities=row.report["activities"],
            spent_dkk=row.report["spent_dkk"],
            summary=row.report["summary"],
            received_at=datetime.fromisoformat(row.report["received_at"]),
        ),
        repayments=[_transfer(Repayment, column) for column in row.repayments],
        reminded_at=row.reminded_at,
        history=[
            (ApplicationStatus(status), datetime.fromisoformat(at)) for status, at in row.history
        ],
    )


class ReviewerRow(Base, table=True):
    """One reviewer's part in one application: the declaration, then the scores."""

    __tablename__ = "grant_reviewer"
    application_id: UUID = Field(foreign_key="grant_application.id", primary_key=True)
    subject: str = Field(primary_key=True, max_length=200)
    assigned_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    conflict: bool | None = None
    declared_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # [[criterion, score, comment], ...] in the rubric's order; empty until scored.
    scores: list[list[Any]] = Field(sa_column=Column(JSON, nullable=False))
    reviewed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class ReviewRepository(Protocol):
    def of(self, application_id: UUID) -> Reviews:
        """The application's reviewers, none when nobody is assigned yet."""
        ...

    def save(self, reviews: Reviews) -> None: ...


class SqlReviewRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def of(self, application_id: UUID) -> Reviews:
        rows = self.session.exec(
            select(ReviewerRow)
            .where(ReviewerRow.application_id == application_id)
            .order_by(col(ReviewerRow.assigned_at), col(ReviewerRow.subject))
        )
        return Reviews(
            application_id,
            {
                row.subject: Reviewer(
                    subject=row.subject,
                    assigned_at=row.assigned_at,
                    conflict=row.conflict,
                    declared_at=row.declared_at,
                    scores=tuple(Score(*score) for score in row.scores),
                    reviewed_at=row.reviewed_at,
                )
                for row in rows
            },
        )

    def save(self, reviews: Reviews) -> None:
        for reviewer in reviews.reviewers.values():
            key = (reviews.application_id, reviewer.subject)
            row = self.session.get(ReviewerRow, key) or ReviewerRow(
                application_id=reviews.application_id,
                subject=reviewer.subject,
                assigned_at=reviewer.assigned_at,
                scores=[],
            )
            row.conflict, row.declared_at = reviewer.conflict, reviewer.declared_at
            row.scores = [[s.criterion, s.score, s.comment] for s in reviewer.scores]
            row.reviewed_at = reviewer.reviewed_at
            self.session.add(row)


class GrantsUnitOfWork(UnitOfWork):
    def _open(self) -> None:
        self._pools = SqlGrantPoolRepository(self.session)
        self._referral_needs = SqlReferralNeedRepository(self.session)
        self._applications = SqlApplicationRepository(self.session)
        self._reviews = SqlReviewRepository(self.session)

    @property
    def pools(self) -> GrantPoolRepository:
        return self._pools

    @property
    def referral_needs(self) -> ReferralNeedRepository:
        return self._referral_needs

    @property
    def applications(self) -> ApplicationRepository:
        return self._applications

    @property
    def reviews(self) -> ReviewRepository:
        return self._reviews


class _NeedStatements(NamedTuple):
    """`SqlReferralNeedRepository`'s statements, built once: building them anew cost more
    than running them. An update's new values are its parameters named as the columns."""

    get: Select[Any]
    """The referral `id`'s row, locked, a row per target group (`target_group`)."""
    add: Insert
    change: Update
    """The referral `_referral_id`'s row."""
    groups_gone: Delete
    """The referral `id`'s target groups among `groups`."""
    groups_new: Insert
    forget: tuple[Delete, ...]
    """Everything of the referral `id`, its target groups first (they refer to its row)."""


def _need_statements() -> _NeedStatements:
    need: Table = ReferralNeedRow.__table__  # type: ignore[attr-defined]
    group: Table = ReferralNeedTargetGroupRow.__table__  # type: ignore[attr-defined]
    referral_id: BindParameter[UUID] = bindparam("id")
    return _NeedStatements(
        get=sa_select(
            need.c.district,
            need.c.submitted_at,
            need.c.no_match,
            need.c.escalated_at,
            group.c.target_group,
        )
        .select_from(need.outerjoin(group, group.c.referral_id == need.c.referral_id))
        .where(need.c.referral_id == referral_id)
        # Only the referral's row: PostgreSQL locks no nullable side of an outer join.
        .with_for_update(of=need),
        add=insert(need),
        change=update(need).where(need.c.referral_id == bindparam("_referral_id")),
        groups_gone=delete(group).where(
            group.c.referral_id == referral_id,
            group.c.target_group.in_(bindparam("groups", expanding=True)),
        ),
        groups_new=insert(group),
        forget=tuple(
            delete(table).where(table.c.referral_id == referral_id) for table in (group, need)
        ),
    )


_NEED = _need_statements()
