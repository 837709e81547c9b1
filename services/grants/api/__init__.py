"""HTTP API of grants: pools (`pools`), the applications partners make to them
(`applications`), and the grants awarded, published for anyone (`awards`)."""

from grants.api import applications, awards, pools

ROUTERS = (pools.router, applications.router, awards.router)

__all__ = ["ROUTERS"]
