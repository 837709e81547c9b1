"""Storage of the directory: tables (`tables`), the HSDS records (`records`), the view
matching reads (`matching`), place holds (`places`), unmet referrals (`unmet`), and the unit
of work that holds them (`unit_of_work`)."""

from directory.store.matching import ServiceRepository
from directory.store.places import PlaceHoldRepository
from directory.store.records import Near, RecordStore, ServiceQuery
from directory.store.tables import Base
from directory.store.unit_of_work import DirectoryUnitOfWork
from directory.store.unmet import UnmetReferralRepository

__all__ = [
    "Base",
    "DirectoryUnitOfWork",
    "Near",
    "PlaceHoldRepository",
    "RecordStore",
    "ServiceQuery",
    "ServiceRepository",
    "UnmetReferralRepository",
]
