"""Events owned by the directory service. Topic `directory.match.v1`, keyed by referral id,
so that the match events of one referral stay in order among themselves."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, Field

from contracts.base import REVERSE_DOMAIN, IntegrationEvent

TOPIC = "directory.match.v1"


class Match(BaseModel):
    """One fitting activity (a directory service at a location), with why it fits."""

    service_id: UUID = Field(description="The directory service (activity) that fits.")
    organization_id: UUID = Field(description="The organisation that runs it.")
    service_name: str = Field(description="The activity's name, for people reading the event.")
    score: float = Field(ge=0, description="Higher fits better; only comparable within one list.")
    reasons: list[str] = Field(description="Why it matched, e.g. 'interest:walking'.")


class MatchesFound(IntegrationEvent):
    """Directory ranked the activities that fit a submitted referral, best first."""

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
