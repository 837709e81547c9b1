"""Use cases of the public awards: every grant awarded, published as one 360Giving package."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from grants import threesixtygiving
from grants.domain import GrantPool
from grants.domain.applications import Application, Decision
from grants.domain.eligibility import valid_cvr
from grants.services.common import CITY, UnitOfWork, UnitOfWorkFactory, city_today, load_pool
from runtime.clock import Clock, utcnow

COPENHAGEN = threesixtygiving.Funder(
    name="Københavns Kommune", identifier=f"{threesixtygiving.CVR_LIST}-64942212"
)
"""The funder and publisher of every grant: Copenhagen Municipality, by its CVR number."""
LICENCE = "https://creativecommons.org/licenses/by/4.0/"
"""Creative Commons Attribution 4.0, the open licence 360Giving asks publishers to use."""
PAGE = 500


@dataclass(frozen=True)
class Award:
    """A grant as the public sees it: who got how much from which pool, and for what."""

    application: Application
    pool: GrantPool


def list_awards(
    start_uow: UnitOfWorkFactory, offset: int = 0, limit: int = 50
) -> tuple[list[Award], int]:
    """A page of the grants awarded, newest decision first, and how many there are."""
    with start_uow() as uow:
        awarded, total = uow.applications.awarded(offset, limit)
        return _with_pools(uow, awarded), total


def decided_on(award: Award) -> date:
    """The day the grant was awarded, in Copenhagen's calendar."""
    return _decision(award.application).decided_at.astimezone(CITY).date()


def every_award(start_uow: UnitOfWorkFactory) -> list[Award]:
    """Every grant awarded, newest decision first, read in pages in one transaction."""
    with start_uow() as uow:
        awarded: dict[UUID, Application] = {}
        offset, total = 0, 1
        while offset < total:
            page, total = uow.applications.awarded(offset, PAGE)
            # A grant decided meanwhile shifts the pages by one: seen twice, kept once.
            awarded.update((application.id, application) for application in page)
            offset += PAGE
        return _with_pools(uow, list(awarded.values()))


def _with_pools(uow: UnitOfWork, awarded: list[Application]) -> list[Award]:
    pools: dict[UUID, GrantPool] = {}
    for application in awarded:
        if application.pool_id not in pools:
            pools[application.pool_id] = load_pool(uow, application.pool_id)
    return [Award(application, pools[application.pool_id]) for application in awarded]


def awards_package(
    start_uow: UnitOfWorkFactory, base_url: str, clock: Clock = utcnow
) -> dict[str, Any]:
    """Every grant awarded as one 360Giving 1.4 package, issued today, its addresses under
    `base_url`; raises `threesixtygiving.NoAwards` while nothing has been awarded."""
    return threesixtygiving.package(
        [_published(award) for award in every_award(start_uow)],
        COPENHAGEN,
        published=city_today(clock),
        publisher=COPENHAGEN,
        licence=LICENCE,
        base_url=base_url,
    )


def _published(award: Award) -> threesixtygiving.Award:
    application, form = award.application, award.application.form
    cvr = application.applicant.cvr.replace(" ", "")
    decision = _decision(application)
    return threesixtygiving.Award(
        grant_id=application.id,
        pool_id=award.pool.id,
        pool_name=award.pool.name,
        title=form.title,
        description=form.description,
        amount_awarded=decision.amount_dkk,
        award_date=decided_on(award),
        # What the package publishes of a grant is fixed by its decision.
        modified_at=decision.decided_at,
        recipient=threesixtygiving.Recipient(
            id=application.applicant.organization_id,
            name=application.applicant.name,
            # An operator may have screened one whose number fails the check: then the
            # organisation is named by the publisher's prefix and its id instead.
            cvr=cvr if valid_cvr(cvr) else None,
        ),
        planned_start=form.starts_on,
        planned_end=form.ends_on,
    )


def _decision(application: Application) -> Decision:
    decision = application.decision
    assert decision is not None, "an awarded grant was decided"
    return decision
