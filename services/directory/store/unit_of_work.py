"""One transaction of directory with all its repositories."""

from __future__ import annotations

from directory.store.matching import ServiceRepository, SqlServiceRepository
from directory.store.places import PlaceHoldRepository, SqlPlaceHoldRepository
from directory.store.records import RecordStore, SqlRecordStore
from directory.store.unmet import SqlUnmetReferralRepository, UnmetReferralRepository
from runtime.storage import UnitOfWork


class DirectoryUnitOfWork(UnitOfWork):
    records: RecordStore
    services: ServiceRepository
    place_holds: PlaceHoldRepository
    unmet_referrals: UnmetReferralRepository

    def _open(self) -> None:
        self.records = SqlRecordStore(self.session)
        self.services = SqlServiceRepository(self.session)
        self.place_holds = SqlPlaceHoldRepository(self.session)
        self.unmet_referrals = SqlUnmetReferralRepository(self.session)
