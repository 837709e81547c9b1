"""Storage of referrals: the tables, and the repositories and unit of work the service
layer uses. Split by role: `tables`, `ports` (what the service layer asks of storage),
`referrals`, `citizens`, `known_services`, `timers`, `unit_of_work`."""

from referrals.store.citizens import (
    SqlCitizenRepository,
)
from referrals.store.known_services import (
    SqlServiceBook,
)
from referrals.store.ports import (
    CitizenRepository,
    ConcurrentUpdate,
    DueTimer,
    ReferralRepository,
    Sealed,
    ServiceBook,
    StoredCitizen,
    TimerRepository,
)
from referrals.store.referrals import (
    SqlReferralRepository,
)
from referrals.store.tables import (
    Base,
    CandidateRow,
    CitizenRow,
    ErasedReferralRow,
    KnownServiceRow,
    OfferRow,
    PartnerViewRow,
    ReferralRow,
    TimerRow,
    TransitionRow,
)
from referrals.store.timers import (
    SqlTimerRepository,
)
from referrals.store.unit_of_work import (
    ReferralsUnitOfWork,
)

__all__ = [
    "Base",
    "CandidateRow",
    "CitizenRepository",
    "CitizenRow",
    "ConcurrentUpdate",
    "DueTimer",
    "ErasedReferralRow",
    "KnownServiceRow",
    "OfferRow",
    "PartnerViewRow",
    "ReferralRepository",
    "ReferralRow",
    "ReferralsUnitOfWork",
    "Sealed",
    "ServiceBook",
    "SqlCitizenRepository",
    "SqlReferralRepository",
    "SqlServiceBook",
    "SqlTimerRepository",
    "StoredCitizen",
    "TimerRepository",
    "TimerRow",
    "TransitionRow",
]
