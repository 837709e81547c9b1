"""Events owned by the grants service: a pool's on `grants.pool.v1`, keyed by pool id; an
application's on `grants.application.v1`, keyed by application id. No personal data: an
application's contact person stays in grants."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from contracts.base import REVERSE_DOMAIN, IntegrationEvent

TOPIC = "grants.pool.v1"
APPLICATION_TOPIC = "grants.application.v1"


class _PoolTerms(IntegrationEvent):
    """A pool's published terms, as the events announcing and opening it carry them."""

    topic = TOPIC
    key_field = "pool_id"

    pool_id: UUID = Field(description="The pool's id, also the Kafka key.")
    name: str = Field(description="The pool's public name.")
    budget_dkk: int = Field(ge=0, description="Total budget in Danish kroner.")
    opens_on: date = Field(description="First day applications are accepted.")
    closes_on: date = Field(description="Last day applications are accepted.")
    criteria: str = Field(description="Published criteria, in plain language.")


class PoolAnnounced(_PoolTerms):
    """A grant pool was created: its terms are published; it takes applications from
    `opens_on` (`pool.opened` says when it does)."""

    event_type = f"{REVERSE_DOMAIN}.grants.pool.announced.v1"


class PoolOpened(_PoolTerms):
    """A grant pool opened for applications: on its opening day (or when it was created, if
    that day had come)."""

    event_type = f"{REVERSE_DOMAIN}.grants.pool.opened.v1"


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


EligibilityRule = Literal[
    "non_profit",
    "cvr_number",
    "in_municipality",
    "unpaid_board",
    "no_overdue_report",
    "within_maximum",
    "budget_adds_up",
]


class ApplicationSubmitted(IntegrationEvent):
    """An organisation submitted an application inside the pool's window; the automatic
    eligibility check ran at once (`grants.application.decided` follows when it failed)."""

    event_type = f"{REVERSE_DOMAIN}.grants.application.submitted.v1"
    topic = APPLICATION_TOPIC
    key_field = "application_id"

    application_id: UUID = Field(description="The application's id, also the Kafka key.")
    pool_id: UUID
    organization_id: UUID = Field(description="The applying organisation.")
    amount_dkk: int = Field(ge=0, description="The amount asked, in Danish kroner.")
    short_form: bool = Field(
        description="Within the pool's short-form limit: fewer fields, one reviewer."
    )
    eligible: bool = Field(description="Whether every eligibility rule held.")
    failed_rules: list[EligibilityRule] = Field(
        description="The eligibility rules that failed; empty when eligible."
    )
    submitted_at: datetime


class ApplicationDecided(IntegrationEvent):
    """An application was decided: rejected by the eligibility check at submission, or
    decided by an operator."""

    event_type = f"{REVERSE_DOMAIN}.grants.application.decided.v1"
    topic = APPLICATION_TOPIC
    key_field = "application_id"

    application_id: UUID = Field(description="The application's id, also the Kafka key.")
    pool_id: UUID
    organization_id: UUID = Field(description="The applying organisation.")
    outcome: Literal["approved", "partly_approved", "rejected"]
    amount_dkk: int = Field(ge=0, description="What was granted: 0 when rejected.")
    reasons: str = Field(description="Why, in words the applicant reads.")
    decided_at: datetime
    pool_name: str = Field(default="", description="The pool's public name.")
    language: Literal["da", "sv", "en"] = Field(
        default="da",
        description="The language the application was written in: its letters are too.",
    )


class ReportOverdue(IntegrationEvent):
    """A grant's report was not received by its due day: the organisation is reminded, and
    the report blocks its next application until it arrives."""

    event_type = f"{REVERSE_DOMAIN}.grants.application.report_overdue.v1"
    topic = APPLICATION_TOPIC
    key_field = "application_id"

    application_id: UUID = Field(description="The application's id, also the Kafka key.")
    pool_id: UUID
    organization_id: UUID = Field(description="The organisation that owes the report.")
    report_due_on: date = Field(description="The day the report was due (the city's date).")
    pool_name: str = Field(default="", description="The pool's public name.")
    language: Literal["da", "sv", "en"] = Field(
        default="da",
        description="The language the application was written in: its letters are too.",
    )
