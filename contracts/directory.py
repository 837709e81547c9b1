"""Events owned by the directory service.

Topic `directory.match.v1`, keyed by referral id, so that the match events of one referral
stay in order among themselves; topic `directory.service.v1`, keyed by service id, so that
each service's changes arrive in the order they were made.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from contracts.base import REVERSE_DOMAIN, IntegrationEvent

TOPIC = "directory.match.v1"
SERVICE_TOPIC = "directory.service.v1"


class Match(BaseModel):
    """One fitting activity (a directory service at a location), with why it fits."""

    service_id: UUID = Field(description="The directory service (activity) that fits.")
    organization_id: UUID = Field(description="The organisation that runs it.")
    service_name: str = Field(description="The activity's name, for people reading the event.")
    score: float = Field(ge=0, description="Higher fits better; only comparable within one list.")
    reasons: list[str] = Field(
        description="Why it matched, e.g. 'interest:walking'; 'full' when it has no free place."
    )


class MatchesFound(IntegrationEvent):
    """Directory ranked the activities that fit a submitted referral, best first: the
    candidates referrals offers the referral to, one after another."""

    event_type = f"{REVERSE_DOMAIN}.directory.match.found.v1"
    topic = TOPIC
    key_field = "referral_id"

    referral_id: UUID = Field(description="The referral the matches are for.")
    matches: list[Match] = Field(min_length=1, description="Fitting activities, best first.")


class NoMatchFound(IntegrationEvent):
    """Nothing in the directory fits the referral; an operator has to help."""

    event_type = f"{REVERSE_DOMAIN}.directory.match.missed.v1"
    topic = TOPIC
    key_field = "referral_id"

    referral_id: UUID = Field(description="The referral nothing fits.")
    reason: str = Field(description="Why nothing matched, for the operator.")


class ServiceChanged(IntegrationEvent):
    """A service was created or changed: its organisation, whether it runs and how many
    places it has free. Published for every change, so that the latest event tells the
    service's state."""

    event_type = f"{REVERSE_DOMAIN}.directory.service.changed.v1"
    topic = SERVICE_TOPIC
    key_field = "service_id"

    service_id: UUID = Field(description="The service's id, also the Kafka key.")
    organization_id: UUID = Field(description="The organisation that runs it.")
    name: str = Field(description="The activity's name, for people reading the event.")
    status: Literal["active", "inactive"] = Field(
        description="`inactive`: closed, nothing more may be referred to it."
    )
    capacity: int = Field(ge=1, description="How many participants it takes in all.")
    free_places: int = Field(ge=0, description="How many of them are free now.")
    changed_at: datetime = Field(description="When it changed.")
