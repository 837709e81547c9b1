"""Use cases of applications: a partner applies for its own organisation; operators see all."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from grants.domain import eligibility
from grants.domain.applications import Applicant, Application, ApplicationStatus, Form
from grants.services.common import (
    UnitOfWork,
    UnitOfWorkFactory,
    city_today,
    load_application,
    load_pool,
    publish_changes,
)
from runtime.clock import Clock, utcnow
from runtime.idempotency import IdempotentRequest, create_once


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
        pool = load_pool(uow, command.pool_id)
        application = Application.draft(pool, command.applicant, command.form, clock())
        uow.applications.add(application)
        return application, str(application.id)

    # A plain hash of the body is enough: it stays beside the application, which holds the
    # contact person anyway.
    return create_once(
        start_uow,
        IdempotentRequest.of(command.drafted_by, command.idempotency_key, command),
        create=create,
        load=lambda uow, application_id: load_application(uow, UUID(application_id), None),
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
        application = load_application(uow, application_id, organization_id, for_update=True)
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
        application = load_application(uow, application_id, organization_id, for_update=True)
        pool = load_pool(uow, application.pool_id)
        found = eligibility.check(
            pool,
            application.applicant,
            application.form,
            overdue_reports=uow.applications.overdue_reports(organization_id, today),
        )
        application.submit(pool, found, today, clock())
        uow.applications.save(application)
        publish_changes(uow, application, pool)
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
        application = load_application(uow, application_id, organization_id, for_update=True)
        application.withdraw(clock())
        uow.applications.save(application)
        uow.commit()
    return application


def override_eligibility(
    application_id: UUID, note: str, start_uow: UnitOfWorkFactory, clock: Clock = utcnow
) -> Application:
    """An operator screens an application the eligibility check rejected, saying why."""
    with start_uow() as uow:
        application = load_application(uow, application_id, None, for_update=True)
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
        return load_application(uow, application_id, organization_id)


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
