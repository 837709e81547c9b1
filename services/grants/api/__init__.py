"""HTTP API of grants: pools (`pools`) and the applications partners make to them
(`applications`)."""

from grants.api import applications, pools

ROUTERS = (pools.router, applications.router)

__all__ = ["ROUTERS"]
