"""Events owned by the referrals service. Topic `referrals.referral.v1`, keyed by referral id.

None of them carries the citizen's identity: only the pseudonymous reference.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from contracts.base import REVERSE_DOMAIN, IntegrationEvent

TOPIC = "referrals.referral.v1"

AgeBand = Literal["65-69", "70-74", "75-79", "80-84", "85-89", "90+"]


class ReferralSubmitted(IntegrationEvent):
    """A care system referred a citizen; directory should look for fitting activities."""

    event_type = f"{REVERSE_DOMAIN}.referrals.referral.submitted.v1"
    topic = TOPIC
    key_field = "referral_id"

    referral_id: UUID = Field(description="The referral's id, also the Kafka key.")
    citizen_ref: str = Field(
        description="Pseudonymous reference to the citizen; never the personal identity number."
    )
    age_band: AgeBand = Field(description="Five-year age band of the citizen.")
    district: str = Field(description="City district the citizen lives in, e.g. 'Nørrebro'.")
    interests: list[str] = Field(description="Interests in lower case, e.g. 'walking', 'chess'.")
    languages: list[str] = Field(description="Languages the citizen speaks, ISO 639-1 codes.")
    needs: list[str] = Field(
        default_factory=list,
        description="Support needs, e.g. 'wheelchair_access', 'hard_to_leave_home'.",
    )
    submitted_at: datetime = Field(description="When the care system submitted it.")


class ReferralOffered(IntegrationEvent):
    """The referral was offered to one partner organisation, which may accept or decline."""

    event_type = f"{REVERSE_DOMAIN}.referrals.referral.offered.v1"
    topic = TOPIC
    key_field = "referral_id"

    referral_id: UUID = Field(description="The referral's id, also the Kafka key.")
    offer_id: UUID = Field(description="This offer's id; a referral may be offered several times.")
    organization_id: UUID = Field(description="The partner organisation offered the referral.")
    service_id: UUID = Field(description="The directory service (activity) offered.")
    citizen_ref: str = Field(description="Pseudonymous reference to the citizen.")
    age_band: AgeBand = Field(description="Five-year age band of the citizen.")
    district: str = Field(description="City district the citizen lives in.")
    interests: list[str] = Field(description="The citizen's interests.")
    languages: list[str] = Field(description="Languages the citizen speaks, ISO 639-1 codes.")
    needs: list[str] = Field(description="Support needs the partner should know of.")
    expires_at: datetime = Field(description="The offer lapses unanswered at this time.")
