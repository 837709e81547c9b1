"""The application use cases on fakes: drafts, changes, submission with its eligibility
check, withdrawal, an operator's override; what each commits and publishes."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from contracts import ApplicationDecided, ApplicationSubmitted
from grants import services
from grants.domain import GrantPool, InvalidTransition
from grants.domain.applications import Applicant, ApplicationStatus, BudgetLine, Form, Outcome
from runtime.idempotency import IdempotencyConflict
from tests.fakes import FakeClock
from tests.grants.fakes import FakeUnitOfWork
from tests.grants.support import DURING, TERMS

ORGANIZATION = uuid4()
DECLARATION = Applicant(
    organization_id=ORGANIZATION,
    name="Ældre Sagen Nørrebro",
    cvr="29470405",
    legal_form="association",
    municipality_code=101,
    board_unpaid=True,
)
SHORT = Form(
    title="Gågruppe",
    description="En ugentlig gåtur.",
    amount_dkk=15_000,
    budget_lines=(BudgetLine("Kaffe", 15_000),),
    contact_name="Karen Ølgaard",
    contact_email="karen@example.dk",
)


def open_pool(uow: FakeUnitOfWork) -> GrantPool:
    pool, _ = services.open_pool(services.OpenPool(**TERMS), uow, FakeClock(DURING))
    return pool


def draft(uow: FakeUnitOfWork, pool: GrantPool, key: str | None = None, **declared: Any) -> UUID:
    command = services.DraftApplication(
        "partner-1", pool.id, replace(DECLARATION, **declared), SHORT, key
    )
    application, _ = services.draft_application(command, uow, FakeClock(DURING))
    return application.id


def test_a_draft_is_stored_for_its_organisation_and_publishes_nothing() -> None:
    uow = FakeUnitOfWork()
    pool = open_pool(uow)
    before = list(uow.committed_events)

    application_id = draft(uow, pool)

    stored = uow.applications.get(application_id)
    assert stored is not None
    assert stored.status is ApplicationStatus.DRAFT
    assert stored.applicant.organization_id == ORGANIZATION
    assert uow.committed_events == before


def test_a_retried_draft_answers_the_first_and_the_key_with_another_body_is_refused() -> None:
    uow = FakeUnitOfWork()
    pool = open_pool(uow)
    first = draft(uow, pool, key="k-1")

    assert draft(uow, pool, key="k-1") == first
    assert len(uow.applications.rows) == 1
    with pytest.raises(IdempotencyConflict):
        draft(uow, pool, key="k-1", name="Another name")


def test_a_draft_to_a_pool_that_does_not_exist_is_refused() -> None:
    with pytest.raises(services.PoolNotFound):
        draft(FakeUnitOfWork(), replace(open_pool(FakeUnitOfWork()), id=uuid4()))


def test_an_eligible_submission_is_screened_and_publishes_only_that_it_was_submitted() -> None:
    uow = FakeUnitOfWork()
    pool = open_pool(uow)
    application_id = draft(uow, pool)
    before = list(uow.committed_events)

    submitted = services.submit_application(application_id, ORGANIZATION, uow, FakeClock(DURING))

    assert submitted.status is ApplicationStatus.SCREENED
    assert uow.committed_events[len(before) :] == [
        ApplicationSubmitted(
            application_id=application_id,
            pool_id=pool.id,
            organization_id=ORGANIZATION,
            amount_dkk=15_000,
            short_form=True,
            eligible=True,
            failed_rules=[],
            submitted_at=DURING,
        )
    ]


def test_an_ineligible_submission_is_rejected_at_once_with_the_failed_rules_reasons() -> None:
    uow = FakeUnitOfWork()
    pool = open_pool(uow)
    application_id = draft(uow, pool, legal_form="company", municipality_code=147)
    before = len(uow.committed_events)

    rejected = services.submit_application(application_id, ORGANIZATION, uow, FakeClock(DURING))

    assert rejected.status is ApplicationStatus.DECIDED
    assert rejected.decision is not None and rejected.decision.outcome is Outcome.REJECTED
    submitted, decided = uow.committed_events[before:]
    assert isinstance(submitted, ApplicationSubmitted) and not submitted.eligible
    assert submitted.failed_rules == ["non_profit", "in_municipality"]
    assert decided == ApplicationDecided(
        application_id=application_id,
        pool_id=pool.id,
        organization_id=ORGANIZATION,
        outcome="rejected",
        amount_dkk=0,
        reasons=rejected.decision.reasons,
        decided_at=DURING,
        pool_name=pool.name,
    )
    assert "non-profit" in decided.reasons and "Copenhagen" in decided.reasons


def test_a_submission_after_the_window_is_refused_and_nothing_is_written() -> None:
    uow = FakeUnitOfWork()
    pool = open_pool(uow)
    application_id = draft(uow, pool)
    commits, events = uow.commits, len(uow.committed_events)
    after_window = FakeClock(DURING + timedelta(days=60))

    with pytest.raises(InvalidTransition):
        services.submit_application(application_id, ORGANIZATION, uow, after_window)

    assert (uow.commits, len(uow.committed_events)) == (commits, events)
    assert uow.applications.rows[application_id].status is ApplicationStatus.DRAFT


def test_another_organisation_can_neither_read_change_submit_nor_withdraw_it() -> None:
    uow = FakeUnitOfWork()
    application_id = draft(uow, open_pool(uow))
    other = uuid4()

    with pytest.raises(services.ApplicationNotFound):
        services.get_application(application_id, other, uow)
    with pytest.raises(services.ApplicationNotFound):
        services.change_application(application_id, other, {"title": "Mine"}, {}, uow)
    with pytest.raises(services.ApplicationNotFound):
        services.submit_application(application_id, other, uow, FakeClock(DURING))
    with pytest.raises(services.ApplicationNotFound):
        services.withdraw_application(application_id, other, uow, FakeClock(DURING))
    assert services.list_applications(other, uow) == ([], 0)
    assert services.get_application(application_id, None, uow).id == application_id


def test_a_draft_changes_until_it_is_submitted() -> None:
    uow = FakeUnitOfWork()
    application_id = draft(uow, open_pool(uow))

    changed = services.change_application(
        application_id, ORGANIZATION, {"title": "Kaffeklub"}, {"name": "Ældre Sagen"}, uow
    )
    assert (changed.form.title, changed.applicant.name) == ("Kaffeklub", "Ældre Sagen")
    assert uow.applications.rows[application_id].form.title == "Kaffeklub"

    services.submit_application(application_id, ORGANIZATION, uow, FakeClock(DURING))
    with pytest.raises(InvalidTransition):
        services.change_application(application_id, ORGANIZATION, {"title": "Late"}, {}, uow)


def test_an_operator_overrides_a_rejection_by_the_check_with_a_recorded_note() -> None:
    uow = FakeUnitOfWork()
    application_id = draft(uow, open_pool(uow), board_unpaid=False)
    services.submit_application(application_id, ORGANIZATION, uow, FakeClock(DURING))

    screened = services.override_eligibility(
        application_id, "Board fees are symbolic.", uow, FakeClock(DURING)
    )

    stored = uow.applications.rows[application_id]
    assert screened.status is stored.status is ApplicationStatus.SCREENED
    assert stored.override_note == "Board fees are symbolic."
    assert stored.decision is None


def test_an_application_is_withdrawn_before_its_decision_but_not_after() -> None:
    uow = FakeUnitOfWork()
    pool = open_pool(uow)
    kept = draft(uow, pool)
    rejected = draft(uow, pool, cvr="12345678")
    services.submit_application(rejected, ORGANIZATION, uow, FakeClock(DURING))

    withdrawn = services.withdraw_application(kept, ORGANIZATION, uow, FakeClock(DURING))

    assert withdrawn.status is ApplicationStatus.WITHDRAWN
    with pytest.raises(InvalidTransition):
        services.withdraw_application(rejected, ORGANIZATION, uow, FakeClock(DURING))


def test_operators_list_every_application_filtered_by_pool_and_status_newest_first() -> None:
    uow = FakeUnitOfWork()
    pool, other_pool = open_pool(uow), open_pool(uow)
    first = draft(uow, pool)
    second = services.draft_application(
        services.DraftApplication(
            "partner-2", pool.id, replace(DECLARATION, organization_id=uuid4()), SHORT
        ),
        uow,
        FakeClock(DURING + timedelta(minutes=1)),
    )[0].id
    draft(uow, other_pool)
    services.submit_application(first, ORGANIZATION, uow, FakeClock(DURING))

    found, total = services.list_applications(None, uow, 0, 1, pool_id=pool.id)
    assert ([a.id for a in found], total) == ([second], 2)
    screened, _ = services.list_applications(None, uow, status=ApplicationStatus.SCREENED)
    assert [a.id for a in screened] == [first]
