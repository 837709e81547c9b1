"""Use cases of the grants service: one function each, the only place that commits."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Protocol
from uuid import UUID
from zoneinfo import ZoneInfo

from contracts import (
    IntegrationEvent,
    NoMatchFound,
    ReferralErased,
    ReferralEscalated,
    ReferralSubmitted,
)
from grants import events
from grants.domain import GrantPool, PoolStatus, eligibility, need
from grants.domain.applications import Applicant, Application, ApplicationStatus, Form
from grants.domain.need import ReferralNeed, UnmetNeed
from grants.domain.pools import Criterion, InvalidTransition, set_review_terms
from grants.domain.reviews import Reviewer, Reviews, Score, Summary
from grants.store import (
    ApplicationRepository,
    GrantPoolRepository,
    ReferralNeedRepository,
    ReviewRepository,
)
from runtime.clock import Clock, utcnow
from runtime.idempotency import IdempotentRequest, KeyStore, create_once

CITY = ZoneInfo("Europe/Copenhagen")


def city_today(clock: Clock) -> date:
    """The day in Copenhagen: a pool's window is in the city's dates."""
    return clock().astimezone(CITY).date()


class UnitOfWork(KeyStore, Protocol):
    @property
    def pools(self) -> GrantPoolRepository: ...

    @property
    def referral_needs(self) -> ReferralNeedRepository: ...

    @property
    def applications(self) -> ApplicationRepository: ...

    @property
    def reviews(self) -> ReviewRepository: ...

    def publish(self, event: IntegrationEvent) -> None: ...


UnitOfWorkFactory = Callable[[], AbstractContextManager[UnitOfWork]]


class PoolNotFound(Exception):
    pass


class ApplicationNotFound(Exception):
    """No such application, or (to a partner) another organisation's."""


@dataclass(frozen=True)
class OpenPool:
    created_by: str
    name: str
    description: str
    budget_dkk: int
    opens_on: date
    closes_on: date
    criteria: str
    small_grant_limit_dkk: int | None = None
    idempotency_key: str | None = None
    target_groups: tuple[str, ...] = ()
    rubric: tuple[Criterion, ...] | None = None
    """None: `pools.DEFAULT_RUBRIC`."""
    max_per_application_dkk: int | None = None


def open_pool(
    command: OpenPool, start_uow: UnitOfWorkFactory, clock: Clock = utcnow
) -> tuple[GrantPool, bool]:
    """Create the pool and queue `PoolAnnounced`, and `PoolOpened` too when its window has
    begun; a retry returns the first one.

    Returns the pool and whether it was created now. Invalid terms raise `InvalidPool`
    before anything is written.
    """
    now = clock()
    today = city_today(clock)
    pool = GrantPool.announce(
        name=command.name,
        description=command.description,
        budget_dkk=command.budget_dkk,
        opens_on=command.opens_on,
        closes_on=command.closes_on,
        criteria=command.criteria,
        small_grant_limit_dkk=command.small_grant_limit_dkk,
        created_by=command.created_by,
        now=now,
        today=today,
        target_groups=command.target_groups,
    )
    set_review_terms(pool, command.rubric, command.max_per_application_dkk)

    def create(uow: UnitOfWork) -> tuple[GrantPool, str]:
        uow.pools.add(pool)
        _publish_changes(uow, pool, today)
        return pool, str(pool.id)

    return create_once(
        start_uow,
        IdempotentRequest.of(command.created_by, command.idempotency_key, command),
        create=create,
        load=lambda uow, pool_id: _get(uow, UUID(pool_id)),
    )


def close_pool(pool_id: UUID, start_uow: UnitOfWorkFactory, clock: Clock = utcnow) -> GrantPool:
    """Stop taking applications, and publish `PoolClosed`; closing a closed pool raises
    `InvalidTransition`."""
    with start_uow() as uow:
        pool = _get(uow, pool_id, for_update=True)
        pool.close()
        uow.pools.save(pool)
        _publish_changes(uow, pool, city_today(clock))
        uow.commit()
    return pool


def advance_pools(start_uow: UnitOfWorkFactory, clock: Clock = utcnow, limit: int = 100) -> int:
    """Open the pools whose opening day has come and close those whose closing day has
    passed, each publishing what happened; returns how many changed."""
    today = city_today(clock)
    with start_uow() as uow:
        pools = uow.pools.due_to_advance(today, limit)
        for pool in pools:
            pool.advance(today)
            uow.pools.save(pool)
            _publish_changes(uow, pool, today)
        uow.commit()
    return len(pools)


def _publish_changes(uow: UnitOfWork, pool: GrantPool, today: date) -> None:
    for change in pool.changes:
        uow.publish(events.of_change(pool, change, today))
    pool.changes.clear()


def list_pools(start_uow: UnitOfWorkFactory, status: PoolStatus | None = None) -> list[GrantPool]:
    with start_uow() as uow:
        return uow.pools.all(status)


def get_pool(pool_id: UUID, start_uow: UnitOfWorkFactory) -> GrantPool:
    with start_uow() as uow:
        return _get(uow, pool_id)


# --- applications: a partner applies for its own organisation; operators see all ---------


@dataclass(frozen=True)
class DraftApplication:
    drafted_by: str
    pool_id: UUID
    applicant: Applicant
    form: Form
    idempotency_key: str | None = None


def draft_application(
    command: DraftApplication, start_uow: UnitOfWorkFactory, clock: Clock = utcnow
) -> tuple[Application, bool]:
    """A draft, for its organisation to complete and submit; a retry returns the first one.
    Raises `PoolNotFound`, and `InvalidApplication` for a form no draft may hold."""

    def create(uow: UnitOfWork) -> tuple[Application, str]:
        pool = _get(uow, command.pool_id)
        application = Application.draft(pool, command.applicant, command.form, clock())
        uow.applications.add(application)
        return application, str(application.id)

    # A plain hash of the body is enough: it stays beside the application, which holds the
    # contact person anyway.
    return create_once(
        start_uow,
        IdempotentRequest.of(command.drafted_by, command.idempotency_key, command),
        create=create,
        load=lambda uow, application_id: _application(uow, UUID(application_id), None),
    )


def change_application(
    application_id: UUID,
    organization_id: UUID,
    form_changes: Mapping[str, Any],
    applicant_changes: Mapping[str, Any],
    start_uow: UnitOfWorkFactory,
) -> Application:
    """Change the named fields of a draft's form and of its organisation's declaration;
    raises `InvalidTransition` once it is submitted."""
    with start_uow() as uow:
        application = _application(uow, application_id, organization_id, for_update=True)
        application.change(replace(application.form, **form_changes))
        # The form's rules stand whoever declares; the declaration is checked at submission.
        application.applicant = replace(application.applicant, **applicant_changes)
        uow.applications.save(application)
        uow.commit()
    return application


def submit_application(
    application_id: UUID,
    organization_id: UUID,
    start_uow: UnitOfWorkFactory,
    clock: Clock = utcnow,
) -> Application:
    """Submit inside the pool's window: every eligibility rule is checked and recorded, and
    an ineligible application is rejected at once with its reasons. Publishes
    `ApplicationSubmitted`, and `ApplicationDecided` for a rejection."""
    today = city_today(clock)
    with start_uow() as uow:
        application = _application(uow, application_id, organization_id, for_update=True)
        pool = _get(uow, application.pool_id)
        found = eligibility.check(
            pool,
            application.applicant,
            application.form,
            overdue_reports=uow.applications.overdue_reports(organization_id, today),
        )
        application.submit(pool, found, today, clock())
        uow.applications.save(application)
        uow.publish(events.submitted(application))
        if application.status is ApplicationStatus.DECIDED:
            uow.publish(events.decided(application))
        uow.commit()
    return application


def withdraw_application(
    application_id: UUID,
    organization_id: UUID,
    start_uow: UnitOfWorkFactory,
    clock: Clock = utcnow,
) -> Application:
    """The applicant takes it back, until it is decided (`InvalidTransition` after)."""
    with start_uow() as uow:
        application = _application(uow, application_id, organization_id, for_update=True)
        application.withdraw(clock())
        uow.applications.save(application)
        uow.commit()
    return application


def override_eligibility(
    application_id: UUID, note: str, start_uow: UnitOfWorkFactory, clock: Clock = utcnow
) -> Application:
    """An operator screens an application the eligibility check rejected, saying why."""
    with start_uow() as uow:
        application = _application(uow, application_id, None, for_update=True)
        application.override_eligibility(note, clock())
        uow.applications.save(application)
        uow.commit()
    return application


def get_application(
    application_id: UUID, organization_id: UUID | None, start_uow: UnitOfWorkFactory
) -> Application:
    """`organization_id`: the partner's organisation, whose applications only it may read;
    None for an operator."""
    with start_uow() as uow:
        return _application(uow, application_id, organization_id)


def list_applications(
    organization_id: UUID | None,
    start_uow: UnitOfWorkFactory,
    offset: int = 0,
    limit: int = 50,
    *,
    pool_id: UUID | None = None,
    status: ApplicationStatus | None = None,
) -> tuple[list[Application], int]:
    """A page of the applications, newest first, and how many there are: the organisation's
    own, or every organisation's when `organization_id` is None."""
    with start_uow() as uow:
        return uow.applications.page(
            offset, limit, organization_id=organization_id, pool_id=pool_id, status=status
        )


def _application(
    uow: UnitOfWork,
    application_id: UUID,
    organization_id: UUID | None,
    for_update: bool = False,
) -> Application:
    application = uow.applications.get(application_id, for_update)
    if application is None or (
        organization_id is not None and application.applicant.organization_id != organization_id
    ):
        raise ApplicationNotFound(application_id)
    return application


# --- reviews: operators assign reviewers, who declare conflicts of interest and score ------


class NotAssigned(Exception):
    """The reviewer is not assigned to the application (or it does not exist)."""


class NotDeclared(Exception):
    """The reviewer has not declared whether they have a conflict of interest yet."""


class Conflicted(Exception):
    """The reviewer declared a conflict of interest: they may neither see nor score it."""


@dataclass(frozen=True)
class ReviewedApplication:
    """What an operator reads: the application, its reviewers and their summary."""

    application: Application
    reviewers: list[Reviewer]
    summary: Summary


def assign_reviewers(
    application_id: UUID,
    subjects: Iterable[str],
    start_uow: UnitOfWorkFactory,
    clock: Clock = utcnow,
) -> ReviewedApplication:
    """Assign reviewers to a screened application (or one in review), moving it to review;
    a reviewer assigned already stays as they were. `InvalidTransition` otherwise."""
    now = clock()
    with start_uow() as uow:
        application = _application(uow, application_id, None, for_update=True)
        application.start_review(now)
        reviews = uow.reviews.of(application_id)
        for subject in subjects:
            reviews.assign(subject, now)
        uow.applications.save(application)
        uow.reviews.save(reviews)
        found = _reviewed(uow, application, reviews)
        uow.commit()
    return found


def declare_conflict(
    application_id: UUID,
    subject: str,
    conflict: bool,
    start_uow: UnitOfWorkFactory,
    clock: Clock = utcnow,
) -> Reviewer:
    """An assigned reviewer declares, once, whether they have a conflict of interest
    (`NotAssigned`; `InvalidTransition` the second time or once the review is over)."""
    with start_uow() as uow:
        application = _application(uow, application_id, None, for_update=True)
        reviews = uow.reviews.of(application_id)
        reviewer = _assigned(reviews, subject)
        _in_review(application)
        reviewer.declare(conflict, clock())
        uow.reviews.save(reviews)
        uow.commit()
    return reviewer


def review_application(
    application_id: UUID,
    subject: str,
    scores: Iterable[Score],
    start_uow: UnitOfWorkFactory,
    clock: Clock = utcnow,
) -> Reviewer:
    """A reviewer without a conflict scores every criterion of the pool's rubric, once
    (`InvalidReview` for scores that break the rubric; `InvalidTransition` a second time)."""
    with start_uow() as uow:
        application = _application(uow, application_id, None, for_update=True)
        reviews = uow.reviews.of(application_id)
        reviewer = _seeing(reviews, subject)
        _in_review(application)
        pool = _get(uow, application.pool_id)
        reviewer.score(pool.rubric, tuple(scores), clock())
        uow.reviews.save(reviews)
        uow.commit()
    return reviewer


def get_reviewed_application(
    application_id: UUID, start_uow: UnitOfWorkFactory
) -> ReviewedApplication:
    """For an operator: the application with its reviewers and the summary of scores."""
    with start_uow() as uow:
        application = _application(uow, application_id, None)
        return _reviewed(uow, application, uow.reviews.of(application_id))


def get_application_to_review(
    application_id: UUID, subject: str, start_uow: UnitOfWorkFactory
) -> Application:
    """For a reviewer assigned to it who declared no conflict of interest; `NotAssigned`,
    `NotDeclared` or `Conflicted` otherwise."""
    with start_uow() as uow:
        application = _application(uow, application_id, None)
        _seeing(uow.reviews.of(application_id), subject)
        return application


def _reviewed(uow: UnitOfWork, application: Application, reviews: Reviews) -> ReviewedApplication:
    pool = _get(uow, application.pool_id)
    return ReviewedApplication(
        application,
        list(reviews.reviewers.values()),
        reviews.summary(pool.rubric, application.short_form),
    )


def _assigned(reviews: Reviews, subject: str) -> Reviewer:
    if subject not in reviews.reviewers:
        raise NotAssigned(reviews.application_id)
    return reviews.of(subject)


def _seeing(reviews: Reviews, subject: str) -> Reviewer:
    reviewer = _assigned(reviews, subject)
    if reviewer.conflict is None:
        raise NotDeclared(reviews.application_id)
    if reviewer.conflict:
        raise Conflicted(reviews.application_id)
    return reviewer


def _in_review(application: Application) -> None:
    if application.status is not ApplicationStatus.IN_REVIEW:
        raise InvalidTransition(f"an application that is {application.status} is not in review")


# --- where the need is: one consumed event each, one commit each --------------------------


def keep_referral(event: ReferralSubmitted, uow: UnitOfWork) -> None:
    """Keep what places a submitted referral, in case nothing fits it; if its no-match
    came first, it counts from now."""
    _change(
        uow,
        event.referral_id,
        lambda referral: referral.submitted(event.district, event.needs, event.submitted_at),
    )


def count_no_match(event: NoMatchFound, uow: UnitOfWork) -> None:
    """Nothing fits the referral: it counts as unmet at its submission, once that is known."""
    _change(uow, event.referral_id, ReferralNeed.found_no_match)


def count_escalation(event: ReferralEscalated, uow: UnitOfWork) -> None:
    """An escalated referral counts as unmet, once: one nothing fits stays counted as of
    its submission."""
    _change(
        uow,
        event.referral_id,
        lambda referral: referral.escalated(event.district, event.needs, event.escalated_at),
    )


def forget_referral(event: ReferralErased, uow: UnitOfWork) -> None:
    """An erased referral leaves nothing here, and no longer counts."""
    uow.referral_needs.forget(event.referral_id)
    uow.commit()


def unmet_need(
    target_groups: Iterable[str], today: date, start_uow: UnitOfWorkFactory
) -> UnmetNeed:
    """The referrals that went unmet in the 12 months up to `today`, by district: those in
    one of `target_groups`, or all when there are none."""
    since, until = need.last_twelve_months(today)
    with start_uow() as uow:
        by_district = uow.referral_needs.unmet_by_district(since, until, frozenset(target_groups))
    return UnmetNeed(since, until, by_district)


def _change(uow: UnitOfWork, referral_id: UUID, change: Callable[[ReferralNeed], None]) -> None:
    referral = uow.referral_needs.get(referral_id) or ReferralNeed(referral_id)
    change(referral)
    uow.referral_needs.save(referral)
    uow.commit()


def _get(uow: UnitOfWork, pool_id: UUID, for_update: bool = False) -> GrantPool:
    pool = uow.pools.get(pool_id, for_update)
    if pool is None:
        raise PoolNotFound(f"no pool {pool_id}")
    return pool
