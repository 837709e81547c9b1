"""HTTP API of grants: pools (`pools`), the applications partners make to them
(`applications`), the money of a grant, from decision to repayment (`funding`), and the
grants awarded, published for anyone (`awards`)."""

from grants.api import applications, awards, funding, pools

ROUTERS = (pools.router, applications.router, funding.router, awards.router)

__all__ = ["ROUTERS"]
