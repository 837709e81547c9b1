"""HTTP API of grants: pools (`pools`), the applications partners make to them
(`applications`), and the money of a grant, from decision to repayment (`funding`)."""

from grants.api import applications, funding, pools

ROUTERS = (pools.router, applications.router, funding.router)

__all__ = ["ROUTERS"]
