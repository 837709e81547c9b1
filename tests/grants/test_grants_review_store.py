"""Reviews and a pool's review terms in the grants store on SQLite and PostgreSQL: every
field comes back as written, and revision 0005 matches the tables."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, insert

from grants.domain import GrantPool
from grants.domain.applications import Application
from grants.domain.pools import DEFAULT_RUBRIC, Criterion
from grants.domain.reviews import Reviews, Score
from grants.store import GrantPoolRow, ReviewerRow
from tests.grants.support import DURING, TERMS
from tests.grants.test_grants_application_services import DECLARATION, SHORT
from tests.grants.test_grants_application_store import UowFactory, pool_in, stored

RUBRIC = (Criterion("reach", 3), Criterion("feasibility", 1))
LATER = DURING + timedelta(hours=1)


def test_revision_0005_makes_the_reviewer_table_and_pool_columns_as_the_model_has_them(
    engine: Engine,
) -> None:
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), ReviewerRow.metadata)
    mine = ("grant_reviewer", "rubric", "max_per_application_dkk")
    assert [d for d in differences if any(name in repr(d) for name in mine)] == []


def test_a_pool_keeps_its_rubric_and_maximum_per_application(start_uow: UowFactory) -> None:
    terms = {"now": DURING, "today": DURING.date(), "rubric": RUBRIC}
    pool = GrantPool.announce(**(TERMS | terms | {"max_per_application_dkk": 60_000}))
    pool.changes.clear()
    with start_uow() as uow:
        uow.pools.add(pool)
        uow.commit()

    with start_uow() as uow:
        found = uow.pools.get(pool.id)
    assert found is not None
    assert (found.rubric, found.max_per_application_dkk) == (RUBRIC, 60_000)


def test_a_pool_stored_before_rubrics_reads_with_the_default_one(
    start_uow: UowFactory, engine: Engine
) -> None:
    # A row written without the rubric, as revision 0005 finds the pools before it.
    pool_id = uuid4()
    with engine.begin() as connection:
        connection.execute(
            insert(GrantPoolRow).values(
                id=pool_id,
                created_by="operator-1",
                name="Old pool",
                description="",
                budget_dkk=100_000,
                opens_on=DURING.date(),
                closes_on=DURING.date(),
                criteria="Old criteria.",
                status="open",
                created_at=DURING,
            )
        )

    with start_uow() as uow:
        found = uow.pools.get(pool_id)
    assert found is not None
    assert (found.rubric, found.max_per_application_dkk) == (DEFAULT_RUBRIC, None)


def test_reviewers_come_back_with_their_declarations_and_scores(start_uow: UowFactory) -> None:
    application = stored(
        start_uow, Application.draft(pool_in(start_uow), DECLARATION, SHORT, DURING)
    )
    reviews = Reviews(application.id)
    reviews.assign("r-1", DURING)
    reviews.assign("r-2", DURING)
    with start_uow() as uow:
        assert uow.reviews.of(application.id) == Reviews(application.id)
        uow.reviews.save(reviews)
        uow.commit()

    with start_uow() as uow:
        first = uow.reviews.of(application.id)
        assert first == reviews
        first.of("r-1").declare(False, LATER)
        first.of("r-1").score(
            RUBRIC, (Score("feasibility", 2, "Usikker."), Score("reach", 5, "Når mange.")), LATER
        )
        first.of("r-2").declare(True, LATER)
        uow.reviews.save(first)
        uow.commit()

    with start_uow() as uow:
        again = uow.reviews.of(application.id)
    assert again == first
    assert again.of("r-1").scores[0] == Score("reach", 5, "Når mange.")
    assert list(again.reviewers) == ["r-1", "r-2"]
    assert (again.of("r-2").conflict, again.of("r-2").declared_at) == (True, LATER)
