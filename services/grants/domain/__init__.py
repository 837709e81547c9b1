"""The grants domain: rules only, no I/O. Pools (`pools`), applications and their forms
(`applications`), the automatic eligibility check (`eligibility`), reviews (`reviews`)."""

from grants.domain.pools import (
    GrantPool,
    InvalidPool,
    InvalidTransition,
    PoolChange,
    PoolStatus,
)

__all__ = ["GrantPool", "InvalidPool", "InvalidTransition", "PoolChange", "PoolStatus"]
