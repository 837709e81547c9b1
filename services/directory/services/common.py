"""What every use case of directory shares: its unit of work, the clock, who edits, and
the failures the API turns into answers."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from contracts import IntegrationEvent, ReferralCancelled, ReferralCompleted, ReferralFailed
from directory.hsds.records import Rejection
from directory.store import (
    PlaceHoldRepository,
    RecordStore,
    ServiceRepository,
    UnmetReferralRepository,
)


class UnitOfWork(Protocol):
    records: RecordStore
    services: ServiceRepository
    place_holds: PlaceHoldRepository
    unmet_referrals: UnmetReferralRepository

    def publish(self, event: IntegrationEvent) -> None: ...

    def commit(self) -> None: ...


UnitOfWorkFactory = Callable[[], AbstractContextManager[UnitOfWork]]

Clock = Callable[[], datetime]
"""The time now, timezone-aware UTC: a dependency, so that tests can set and move it."""

ReferralEnded = ReferralCompleted | ReferralFailed | ReferralCancelled
"""The events after which a referral no longer needs the place it may have taken."""


@dataclass(frozen=True)
class Editor:
    """Who changes the directory, as the change log names them."""

    name: str
    """`updated_by` in the change log: the token's subject, or the importing command."""
    organization_id: UUID | None = None
    """A partner's own organisation, the only one it may change; None: an operator (or an
    import), who may change anything."""


class NotFound(Exception):
    """No record of this kind with this id."""


class Forbidden(Exception):
    """The editor may not change this record (another organisation's, or the directory's
    own taxonomies)."""


class Rejected(Exception):
    """Records that cannot be taken, each with why."""

    def __init__(self, rejections: list[Rejection]) -> None:
        super().__init__("; ".join(map(str, rejections)))
        self.rejections = rejections
