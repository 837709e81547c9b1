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
    Change,
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
from referrals.store.reports import (
    OutcomeReports,
    SqlOutcomeReports,
)
from referrals.store.tables import (
    Base,
    CandidateRow,
    ChangeCounterRow,
    ChangeRow,
    CitizenRow,
    ErasedReferralRow,
    FollowUpRow,
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
    "Change",
    "ChangeCounterRow",
    "ChangeRow",
    "CitizenRepository",
    "CitizenRow",
    "ConcurrentUpdate",
    "DueTimer",
    "ErasedReferralRow",
    "FollowUpRow",
    "KnownServiceRow",
    "OfferRow",
    "OutcomeReports",
    "PartnerViewRow",
    "ReferralRepository",
    "ReferralRow",
    "ReferralsUnitOfWork",
    "Sealed",
    "ServiceBook",
    "SqlCitizenRepository",
    "SqlOutcomeReports",
    "SqlReferralRepository",
    "SqlServiceBook",
    "SqlTimerRepository",
    "StoredCitizen",
    "TimerRepository",
    "TimerRow",
    "TransitionRow",
]
