"""HTTP API of referrals, one router per kind of user."""

from referrals.api import care, feed, fhir, operator, partner, reports
from runtime.audit import audit_router

routers = (
    feed.router,  # before care's `/referrals/{referral_id}`
    care.router,
    partner.router,
    operator.router,
    reports.router,
    fhir.router,
    audit_router(),
)

__all__ = ["routers"]
