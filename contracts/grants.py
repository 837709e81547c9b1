"""Events owned by the grants service. Topic `grants.pool.v1`, keyed by pool id."""

from __future__ import annotations

from datetime import date
from typing import Literal
from uuid import UUID

from pydantic import Field

from contracts.base import REVERSE_DOMAIN, IntegrationEvent

TOPIC = "grants.pool.v1"


class PoolAnnounced(IntegrationEvent):
    """A grant pool was created: its terms are published; it takes applications from
    `opens_on` (`pool.opened` says when it does)."""

    event_type = f"{REVERSE_DOMAIN}.grants.pool.announced.v1"
    topic = TOPIC
    key_field = "pool_id"

    pool_id: UUID = Field(description="The pool's id, also the Kafka key.")
    name: str = Field(description="The pool's public name.")
    budget_dkk: int = Field(ge=0, description="Total budget in Danish kroner.")
    opens_on: date = Field(description="First day applications are accepted.")
    closes_on: date = Field(description="Last day applications are accepted.")
    criteria: str = Field(description="Published criteria, in plain language.")


class PoolOpened(IntegrationEvent):
    """A grant pool opened for applications: on its opening day (or when it was created, if
    that day had come)."""

    event_type = f"{REVERSE_DOMAIN}.grants.pool.opened.v1"
    topic = TOPIC
    key_field = "pool_id"

    pool_id: UUID = Field(description="The pool's id, also the Kafka key.")
    name: str = Field(description="The pool's public name.")
    budget_dkk: int = Field(ge=0, description="Total budget in Danish kroner.")
    opens_on: date = Field(description="First day applications are accepted.")
    closes_on: date = Field(description="Last day applications are accepted.")
    criteria: str = Field(description="Published criteria, in plain language.")


class PoolClosed(IntegrationEvent):
    """A grant pool closed to applications, for good."""

    event_type = f"{REVERSE_DOMAIN}.grants.pool.closed.v1"
    topic = TOPIC
    key_field = "pool_id"

    pool_id: UUID = Field(description="The pool's id, also the Kafka key.")
    closed_on: date = Field(description="The day it closed (the city's date).")
    reason: Literal["window_ended", "closed_early"] = Field(
        description="`window_ended`: its closing day passed; `closed_early`: an operator "
        "closed it before."
    )
