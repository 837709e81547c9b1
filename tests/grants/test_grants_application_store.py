"""Applications in the grants store on SQLite and PostgreSQL: every field comes back as
written, pages and filters, locks, and revision 0004 matches the tables."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta
from uuid import UUID, uuid4

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from grants.domain import GrantPool
from grants.domain.applications import Application, ApplicationStatus, BudgetLine, Form
from grants.domain.eligibility import check
from grants.store import ApplicationRow, GrantsUnitOfWork
from tests.grants.support import DURING, TERMS
from tests.grants.test_grants_application_services import DECLARATION, SHORT

UowFactory = Callable[[], GrantsUnitOfWork]

FULL = Form(
    title="Gågruppe på Nørrebro",
    description="En ugentlig gåtur\nmed kaffe bagefter.",
    amount_dkk=5_000_000_000,  # beyond a 32-bit integer
    budget_lines=(BudgetLine("Kaffe", 4_999_990_000), BudgetLine("Materialer", 10_000)),
    target_groups=("older_people",),
    districts=("Nørrebro", "Vesterbro"),
    expected_participants=25,
    co_financing_dkk=1_000,
    starts_on=date(2026, 5, 1),
    ends_on=date(2026, 12, 31),
    contact_name="Karen Ølgaard",
    contact_email="karen@example.dk",
)


def pool_in(start_uow: UowFactory) -> GrantPool:
    pool = GrantPool.announce(**(TERMS | {"now": DURING, "today": DURING.date()}))
    with start_uow() as uow:
        uow.pools.add(pool)
        uow.commit()
    return pool


def stored(start_uow: UowFactory, application: Application) -> Application:
    with start_uow() as uow:
        uow.applications.add(application)
        uow.commit()
    with start_uow() as uow:
        found = uow.applications.get(application.id)
    assert found is not None
    return found


def test_revision_0004_makes_the_application_table_as_the_model_has_it(engine: Engine) -> None:
    with engine.connect() as connection:
        differences = compare_metadata(
            MigrationContext.configure(connection), ApplicationRow.metadata
        )
    # Only the application table: the other tables are other revisions' business.
    assert [d for d in differences if "grant_application" in repr(d)] == []


def test_a_draft_comes_back_with_every_field_of_its_form_and_declaration(
    start_uow: UowFactory,
) -> None:
    draft = Application.draft(pool_in(start_uow), DECLARATION, FULL, DURING)

    assert stored(start_uow, draft) == draft


def test_a_rejected_application_keeps_its_eligibility_decision_and_history(
    start_uow: UowFactory,
) -> None:
    pool = pool_in(start_uow)
    applicant = replace(DECLARATION, legal_form="company")
    application = Application.draft(pool, applicant, SHORT, DURING)
    application.submit(
        pool, check(pool, applicant, SHORT, overdue_reports=0), DURING.date(), DURING
    )
    assert application.status is ApplicationStatus.DECIDED

    assert stored(start_uow, application) == application


def test_a_saved_change_is_what_the_next_unit_of_work_reads(start_uow: UowFactory) -> None:
    pool = pool_in(start_uow)
    application = stored(start_uow, Application.draft(pool, DECLARATION, SHORT, DURING))

    with start_uow() as uow:
        locked = uow.applications.get(application.id, for_update=True)
        assert locked is not None
        locked.change(FULL)
        locked.override_note = "kept"
        uow.applications.save(locked)
        uow.commit()

    with start_uow() as uow:
        assert uow.applications.get(application.id) == locked


def ids(page: tuple[list[Application], int]) -> tuple[list[UUID], int]:
    return [a.id for a in page[0]], page[1]


def test_pages_are_newest_first_filtered_by_organisation_pool_and_status(
    start_uow: UowFactory,
) -> None:
    pool, other_pool = pool_in(start_uow), pool_in(start_uow)
    other_org = replace(DECLARATION, organization_id=uuid4())
    made = [
        Application.draft(pool, DECLARATION, SHORT, DURING),
        Application.draft(pool, other_org, SHORT, DURING + timedelta(minutes=1)),
        Application.draft(other_pool, DECLARATION, SHORT, DURING + timedelta(minutes=2)),
    ]
    made[0].withdraw(DURING)
    with start_uow() as uow:
        for application in made:
            uow.applications.add(application)
        uow.commit()

    with start_uow() as uow:
        assert ids(uow.applications.page(0, 10)) == ([a.id for a in reversed(made)], 3)
        assert ids(uow.applications.page(1, 1)) == ([made[1].id], 3)
        own = uow.applications.page(0, 10, organization_id=DECLARATION.organization_id)
        assert ids(own) == ([made[2].id, made[0].id], 2)
        assert ids(uow.applications.page(0, 10, pool_id=pool.id)) == (
            [made[1].id, made[0].id],
            2,
        )
        withdrawn = uow.applications.page(0, 10, status=ApplicationStatus.WITHDRAWN)
        assert ids(withdrawn) == ([made[0].id], 1)
        assert [a.id for a in uow.applications.of_pool(pool.id)] == [made[0].id, made[1].id]
        assert uow.applications.overdue_reports(DECLARATION.organization_id, DURING.date()) == 0
