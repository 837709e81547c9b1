"""HTTP API of referrals, one router per kind of user."""

from referrals.api import care, operator, partner

routers = (care.router, partner.router, operator.router)

__all__ = ["routers"]
