"""What every use case of grants shares: the unit of work, the city's date, and loading
a pool or an application (or saying there is none), and publishing what happened to it."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import date
from typing import Protocol
from uuid import UUID
from zoneinfo import ZoneInfo

from contracts import IntegrationEvent
from grants import events
from grants.domain import GrantPool
from grants.domain.applications import Application
from grants.store import (
    ApplicationRepository,
    GrantPoolRepository,
    ReferralNeedRepository,
    ReviewRepository,
)
from runtime.clock import Clock
from runtime.idempotency import KeyStore

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


def load_pool(uow: UnitOfWork, pool_id: UUID, for_update: bool = False) -> GrantPool:
    pool = uow.pools.get(pool_id, for_update)
    if pool is None:
        raise PoolNotFound(f"no pool {pool_id}")
    return pool


def load_application(
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


def publish_changes(uow: UnitOfWork, application: Application, pool: GrantPool) -> None:
    """Queue the events of what happened to the application in this unit of work."""
    for change in application.changes:
        uow.publish(events.of_application_change(application, change, pool))
    application.changes.clear()
