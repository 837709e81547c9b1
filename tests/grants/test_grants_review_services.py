"""The review use cases on fakes: operators assign reviewers and the application moves to
review; reviewers declare conflicts of interest once and score the pool's rubric once; the
operator reads the summary; a reviewer reads only what the declaration allows."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from grants import services
from grants.domain import InvalidPool, InvalidTransition
from grants.domain.applications import ApplicationStatus
from grants.domain.pools import DEFAULT_RUBRIC, Criterion
from grants.domain.reviews import InvalidReview, Score
from tests.fakes import FakeClock
from tests.grants.fakes import FakeUnitOfWork
from tests.grants.support import DURING, TERMS
from tests.grants.test_grants_application_services import DECLARATION, SHORT

RUBRIC = (Criterion("reach", 3), Criterion("feasibility", 1))
LATER = DURING + timedelta(hours=2)


def screened(uow: FakeUnitOfWork, rubric: tuple[Criterion, ...] | None = RUBRIC) -> UUID:
    clock = FakeClock(DURING)
    pool, _ = services.open_pool(services.OpenPool(**TERMS, rubric=rubric), uow, clock)
    command = services.DraftApplication("partner-1", pool.id, DECLARATION, SHORT)
    application, _ = services.draft_application(command, uow, clock)
    services.submit_application(application.id, DECLARATION.organization_id, uow, clock)
    return application.id


def assigned(uow: FakeUnitOfWork, *subjects: str) -> UUID:
    application_id = screened(uow)
    services.assign_reviewers(application_id, subjects, uow, FakeClock(DURING))
    return application_id


def scores(reach: int = 4, feasibility: int = 2) -> list[Score]:
    return [Score("reach", reach, "Når mange."), Score("feasibility", feasibility, "Usikker.")]


def test_assigning_reviewers_moves_a_screened_application_to_review_and_commits() -> None:
    uow = FakeUnitOfWork()
    application_id = screened(uow)
    commits = uow.commits

    found = services.assign_reviewers(application_id, ["r-1", "r-2"], uow, FakeClock(LATER))

    assert found.application.status is ApplicationStatus.IN_REVIEW
    assert [r.subject for r in found.reviewers] == ["r-1", "r-2"]
    assert uow.commits == commits + 1
    stored = uow.reviews.of(application_id)
    assert set(stored.reviewers) == {"r-1", "r-2"}
    assert stored.reviewers["r-1"].assigned_at == LATER
    assert uow.applications.rows[application_id].status is ApplicationStatus.IN_REVIEW


def test_assigning_again_adds_reviewers_and_keeps_those_assigned_as_they_were() -> None:
    uow = FakeUnitOfWork()
    application_id = assigned(uow, "r-1")
    services.declare_conflict(application_id, "r-1", False, uow, FakeClock(DURING))

    found = services.assign_reviewers(application_id, ["r-1", "r-2"], uow, FakeClock(LATER))

    reviewers = {r.subject: r for r in found.reviewers}
    assert reviewers["r-1"].conflict is False
    assert reviewers["r-1"].assigned_at == DURING
    assert reviewers["r-2"].conflict is None


def test_a_draft_cannot_be_given_reviewers() -> None:
    uow = FakeUnitOfWork()
    pool, _ = services.open_pool(services.OpenPool(**TERMS), uow, FakeClock(DURING))
    command = services.DraftApplication("partner-1", pool.id, DECLARATION, SHORT)
    application, _ = services.draft_application(command, uow, FakeClock(DURING))

    with pytest.raises(InvalidTransition):
        services.assign_reviewers(application.id, ["r-1"], uow, FakeClock(DURING))
    assert uow.reviews.of(application.id).reviewers == {}


def test_only_an_assigned_reviewer_declares_and_only_once() -> None:
    uow = FakeUnitOfWork()
    application_id = assigned(uow, "r-1")

    with pytest.raises(services.NotAssigned):
        services.declare_conflict(application_id, "r-9", False, uow, FakeClock(LATER))
    reviewer = services.declare_conflict(application_id, "r-1", True, uow, FakeClock(LATER))
    assert (reviewer.conflict, reviewer.declared_at) == (True, LATER)
    with pytest.raises(InvalidTransition):
        services.declare_conflict(application_id, "r-1", False, uow, FakeClock(LATER))
    assert uow.reviews.of(application_id).reviewers["r-1"].conflict is True


def test_a_reviewer_reads_the_application_only_after_declaring_no_conflict() -> None:
    uow = FakeUnitOfWork()
    application_id = assigned(uow, "r-1", "r-2")

    with pytest.raises(services.NotDeclared):
        services.get_application_to_review(application_id, "r-1", uow)
    with pytest.raises(services.NotAssigned):
        services.get_application_to_review(application_id, "r-9", uow)
    services.declare_conflict(application_id, "r-1", False, uow, FakeClock(LATER))
    services.declare_conflict(application_id, "r-2", True, uow, FakeClock(LATER))

    assert services.get_application_to_review(application_id, "r-1", uow).id == application_id
    with pytest.raises(services.Conflicted):
        services.get_application_to_review(application_id, "r-2", uow)


def test_a_review_scores_every_criterion_once_and_the_operator_sees_the_summary() -> None:
    uow = FakeUnitOfWork()
    application_id = assigned(uow, "r-1", "r-2")
    for subject in ("r-1", "r-2"):
        services.declare_conflict(application_id, subject, False, uow, FakeClock(DURING))

    reviewer = services.review_application(application_id, "r-1", scores(), uow, FakeClock(LATER))
    services.review_application(application_id, "r-2", scores(2, 2), uow, FakeClock(LATER))

    assert reviewer.reviewed_at == LATER
    found = services.get_reviewed_application(application_id, uow)
    # Weighted totals: (3*4 + 1*2) / 4 = 3.5 and (3*2 + 1*2) / 4 = 2.0.
    assert (found.summary.reviews, found.summary.needed) == (2, 1)
    assert (found.summary.mean, found.summary.spread) == (2.75, 1.5)
    with pytest.raises(InvalidTransition):
        services.review_application(application_id, "r-1", scores(), uow, FakeClock(LATER))


def test_a_review_that_leaves_a_criterion_out_or_a_comment_empty_is_refused() -> None:
    uow = FakeUnitOfWork()
    application_id = assigned(uow, "r-1")
    services.declare_conflict(application_id, "r-1", False, uow, FakeClock(DURING))

    with pytest.raises(InvalidReview, match="reach, feasibility"):
        services.review_application(application_id, "r-1", scores()[:1], uow)
    with pytest.raises(InvalidReview, match=r"scores\.feasibility: a comment"):
        services.review_application(
            application_id, "r-1", [scores()[0], Score("feasibility", 3, " ")], uow
        )
    assert uow.reviews.of(application_id).reviewers["r-1"].reviewed_at is None


def test_a_reviewer_who_has_not_declared_or_declared_a_conflict_cannot_score() -> None:
    uow = FakeUnitOfWork()
    application_id = assigned(uow, "r-1", "r-2")
    services.declare_conflict(application_id, "r-2", True, uow, FakeClock(DURING))

    with pytest.raises(services.NotDeclared):
        services.review_application(application_id, "r-1", scores(), uow)
    with pytest.raises(services.Conflicted):
        services.review_application(application_id, "r-2", scores(), uow)
    with pytest.raises(services.NotAssigned):
        services.review_application(application_id, "r-9", scores(), uow)
    assert services.get_reviewed_application(application_id, uow).summary.reviews == 0


def test_a_withdrawn_application_takes_no_more_declarations() -> None:
    uow = FakeUnitOfWork()
    application_id = assigned(uow, "r-1")
    services.withdraw_application(application_id, DECLARATION.organization_id, uow)

    with pytest.raises(InvalidTransition):
        services.declare_conflict(application_id, "r-1", False, uow)


def test_a_pool_without_a_rubric_gets_the_default_and_a_bad_rubric_is_refused() -> None:
    uow = FakeUnitOfWork()
    pool, _ = services.open_pool(services.OpenPool(**TERMS), uow, FakeClock(DURING))
    assert uow.pools.rows[pool.id].rubric == DEFAULT_RUBRIC == (Criterion("fit", 1),)

    for rubric, maximum in [
        ((Criterion("reach", 1), Criterion("reach", 2)), None),
        ((Criterion("reach", 0),), None),
        ((Criterion("reach", 11),), None),
        (tuple(Criterion(f"c{i}", 1) for i in range(11)), None),
        ((), None),
        (None, TERMS["budget_dkk"] + 1),
    ]:
        command = services.OpenPool(**TERMS, rubric=rubric, max_per_application_dkk=maximum)
        with pytest.raises(InvalidPool):
            services.open_pool(command, uow, FakeClock(DURING))
    assert list(uow.pools.rows) == [pool.id]


def test_an_unknown_application_is_not_found_for_reviews() -> None:
    with pytest.raises(services.ApplicationNotFound):
        services.assign_reviewers(uuid4(), ["r-1"], FakeUnitOfWork())
