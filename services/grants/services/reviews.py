"""Use cases of reviews: operators assign reviewers, who declare conflicts of interest and
score."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from grants.domain.applications import Application, ApplicationStatus
from grants.domain.pools import InvalidTransition
from grants.domain.reviews import Reviewer, Reviews, Score, Summary
from grants.services.common import (
    UnitOfWork,
    UnitOfWorkFactory,
    load_application,
    load_pool,
)
from runtime.clock import Clock, utcnow


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
        application = load_application(uow, application_id, None, for_update=True)
        application.start_review(now)
        reviews = uow.reviews.of(application_id)
        for subject in subjects:
            reviews.assign(subject, now)
        uow.applications.save(application)
        uow.reviews.save(reviews)
        found = reviewed(uow, application, reviews)
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
        application = load_application(uow, application_id, None, for_update=True)
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
        application = load_application(uow, application_id, None, for_update=True)
        reviews = uow.reviews.of(application_id)
        reviewer = _seeing(reviews, subject)
        _in_review(application)
        pool = load_pool(uow, application.pool_id)
        reviewer.score(pool.rubric, tuple(scores), clock())
        uow.reviews.save(reviews)
        uow.commit()
    return reviewer


def get_reviewed_application(
    application_id: UUID, start_uow: UnitOfWorkFactory
) -> ReviewedApplication:
    """For an operator: the application with its reviewers and the summary of scores."""
    with start_uow() as uow:
        application = load_application(uow, application_id, None)
        return reviewed(uow, application, uow.reviews.of(application_id))


def get_application_to_review(
    application_id: UUID, subject: str, start_uow: UnitOfWorkFactory
) -> Application:
    """For a reviewer assigned to it who declared no conflict of interest; `NotAssigned`,
    `NotDeclared` or `Conflicted` otherwise."""
    with start_uow() as uow:
        application = load_application(uow, application_id, None)
        _seeing(uow.reviews.of(application_id), subject)
        return application


def reviewed(uow: UnitOfWork, application: Application, reviews: Reviews) -> ReviewedApplication:
    pool = load_pool(uow, application.pool_id)
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
