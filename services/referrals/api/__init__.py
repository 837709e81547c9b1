"""HTTP API of referrals, one router per kind of user."""

from referrals.api import care, operator, partner
from runtime.audit import audit_router

routers = (care.router, partner.router, operator.router, audit_router())

__all__ = ["routers"]
