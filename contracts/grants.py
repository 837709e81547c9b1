"""Events owned by the grants service. Topic `grants.pool.v1`, keyed by pool id."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from pydantic import Field

from contracts.base import REVERSE_DOMAIN, IntegrationEvent

TOPIC = "grants.pool.v1"


class PoolOpened(IntegrationEvent):
    """A grant pool opened for applications."""

    event_type = f"{REVERSE_DOMAIN}.grants.pool.opened.v1"
    topic = TOPIC
    key_field = "pool_id"

    pool_id: UUID = Field(description="The pool's id, also the Kafka key.")
    name: str = Field(description="The pool's public name.")
    budget_dkk: int = Field(ge=0, description="Total budget in Danish kroner.")
    opens_on: date = Field(description="First day applications are accepted.")
    closes_on: date = Field(description="Last day applications are accepted.")
    criteria: str = Field(description="Published criteria, in plain language.")
