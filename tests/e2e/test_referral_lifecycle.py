"""A referral's whole life across the four services, on the real Kafka broker and
PostgreSQL: partners answer, offers move on or lapse, operators step in, places are counted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from directory import demo
from runtime.auth import Role
from tests.cloudevents import validated_cloudevent
from tests.e2e.kafka_reader import produce, records_on, wait_until_consumed
from tests.e2e.referrals import (
    IDENTITY,
    events_about,
    inbox,
    submit,
    wait_offered,
    wait_status,
)
from tests.e2e.system import System
from tests.kit import wait_for

pytestmark = pytest.mark.infra

WALKING_ORG = demo.NORREBRO_WALKING_GROUP_ORG_ID
WALKING_SERVICE = demo.NORREBRO_WALKING_GROUP_SERVICE_ID
CHESS_ORG = demo.OSTERBRO_CHESS_ORG_ID
VISITING_ORG = demo.RED_CROSS_VISITING_FRIEND_ORG_ID
STRANGER_ORG = demo.VALBY_VOLUNTEER_CAFE_ORG_ID
"""Never offered a walking referral from Nørrebro: its interests and district do not fit."""

OFFER_TTL_SECONDS = 6.0
"""Long enough to answer an offer at once, short enough to watch one lapse."""
REFERRALS = "referrals.referral.v1"
TYPE = "dk.brobygger.referrals.referral.{}.v1"


@pytest.fixture
def short_offers(system: System) -> Iterator[float]:
    """referrals restarted with offers that lapse after seconds, and restored afterwards."""
    system.restart(
        "referrals",
        REFERRALS_OFFER_TTL_HOURS=str(OFFER_TTL_SECONDS / 3600),
        REFERRALS_TIMER_POLL_SECONDS="0.1",
    )
    try:
        yield OFFER_TTL_SECONDS
    finally:
        system.restart("referrals")


def partner_post(
    system: System, organization_id: UUID, path: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    with system.client("referrals", Role.PARTNER, organization_id=organization_id) as partner:
        response = partner.post(f"/partner/referrals/{path}", json=body)
    assert response.status_code == 200, response.text
    answered: dict[str, Any] = response.json()
    return answered


def messages_about(
    system: System, referral_id: str, kind: str, role: Role, organization_id: UUID | None = None
) -> list[dict[str, Any]]:
    """The inbox messages of one kind (e.g. `offer_expired`) about one referral."""
    return [
        m
        for m in inbox(system, role, organization_id)
        if m["referral_id"] == referral_id and m["kind"] == kind
    ]


def today() -> str:
    return datetime.now(ZoneInfo("Europe/Copenhagen")).date().isoformat()


async def test_offers_move_on_when_declined_or_lapsed_then_escalate_and_an_assigned_one_completes(
    system: System, short_offers: float
) -> None:
    # Walking and chess, in English: three candidates, best first - the Nørrebro walking
    # group, the Østerbro chess club (more free places than the next), the Red Cross.
    created = submit(system, interests=["walking", "chess"], languages=["en"])
    referral_id = created["id"]
    first = wait_offered(system, referral_id)
    assert first["offered_organization_id"] == str(WALKING_ORG)

    # The first candidate declines: the second is offered it at once.
    declined = partner_post(
        system, WALKING_ORG, f"{referral_id}/decline", {"reason": "no_capacity"}
    )
    assert declined["status"] == "declined"
    second = wait_status(system, referral_id, "offered", offered_organization_id=str(CHESS_ORG))
    assert [o["status"] for o in second["offers"]] == ["declined", "pending"]

    # The second lets its offer lapse: the third is offered it, and its organisation told.
    third = wait_status(
        system,
        referral_id,
        "offered",
        timeout=short_offers + 30,
        offered_organization_id=str(VISITING_ORG),
    )
    assert [o["status"] for o in third["offers"]] == ["declined", "expired", "pending"]
    wait_for(
        lambda: messages_about(system, referral_id, "offer_expired", Role.PARTNER, CHESS_ORG),
        "the lapsed offer's message to its organisation",
    )

    # The third lets it lapse too: nothing is left, and the operators are told.
    escalated = wait_status(system, referral_id, "escalated", timeout=short_offers + 30)
    assert escalated["escalation"]["reason"] == "declined_or_expired"
    assert [o["status"] for o in escalated["offers"]] == ["declined", "expired", "expired"]
    escalation_message = wait_for(
        lambda: messages_about(system, referral_id, "referral_escalated", Role.OPERATOR),
        "the escalation in the operators' inbox",
    )
    assert "Nørrebro" in escalation_message[0]["text"]
    with system.client("referrals", Role.OPERATOR) as operator:
        waiting = operator.get("/escalations", params={"district": "nørrebro", "limit": 200})
    assert referral_id in [r["id"] for r in waiting.json()["data"]]

    # An operator assigns it; the partner accepts and a place is taken.
    places_before = system.free_places(WALKING_SERVICE)
    with system.client("referrals", Role.OPERATOR) as operator:
        assigned = operator.post(
            f"/referrals/{referral_id}/assign",
            json={"service_id": str(WALKING_SERVICE), "reason": "Kender gruppen godt."},
        )
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["status"] == "offered"
    accepted = partner_post(system, WALKING_ORG, f"{referral_id}/accept")
    assert accepted["status"] == "accepted"
    wait_for(
        lambda: system.free_places(WALKING_SERVICE) == places_before - 1,
        "directory to count the place taken",
    )
    with system.client("referrals", Role.PARTNER, organization_id=WALKING_ORG) as partner:
        contact = partner.get(f"/partner/referrals/{referral_id}/contact")
    assert contact.status_code == 200, contact.text
    assert contact.json()["name"] == "Inger Jensen"
    with system.client("referrals", Role.PARTNER, organization_id=VISITING_ORG) as partner:
        assert partner.get(f"/partner/referrals/{referral_id}/contact").status_code == 403

    # The partner reports how it goes; completing gives the place back.
    partner_post(system, WALKING_ORG, f"{referral_id}/contact-made", {"contacted_on": today()})
    met = partner_post(
        system,
        WALKING_ORG,
        f"{referral_id}/first-meeting",
        {"met_on": today(), "accompanied_by": "volunteer"},
    )
    assert met["status"] == "in_progress"
    completed = partner_post(system, WALKING_ORG, f"{referral_id}/complete", {})
    assert completed["status"] == "completed"
    wait_for(
        lambda: system.free_places(WALKING_SERVICE) == places_before,
        "directory to give the place back",
    )
    final = wait_status(system, referral_id, "completed")
    assert [step["action"] for step in final["history"]] == [
        "submit", "offer", "decline", "offer", "expire", "offer", "expire", "escalate",
        "assign", "accept", "contact_made", "first_meeting", "complete",
    ]  # fmt: skip

    # Every step is an event on Kafka, in order, with no personal data.
    records = await events_about(system, REFERRALS, referral_id)
    assert [r.type for r in records] == [
        TYPE.format(verb)
        for verb in (
            "submitted", "offered", "offer_declined", "offered", "offer_expired", "offered",
            "offer_expired", "escalated", "assigned", "offered", "accepted", "contact_made",
            "first_meeting_held", "completed",
        )
    ]  # fmt: skip
    for record in records:
        validated_cloudevent(record.headers, record.value)
        seen = record.value.decode() + json.dumps(record.headers, ensure_ascii=False)
        assert not [part for part in IDENTITY if part in seen]

    # Delivered again, the acceptance and the completion change no count.
    for verb in ("accepted", "completed"):
        again = next(r for r in records if r.type == TYPE.format(verb))
        partition, offset = await produce(system.kafka, REFERRALS, again)
        await wait_until_consumed(system.kafka, "brobygger-directory", REFERRALS, partition, offset)
    assert system.free_places(WALKING_SERVICE) == places_before


async def test_a_care_system_cancelling_a_pending_offer_withdraws_it_and_the_partner_is_told(
    system: System,
) -> None:
    created = submit(system)
    referral_id = created["id"]
    wait_offered(system, referral_id)
    with system.client("referrals", Role.CARE_SYSTEM, subject="care-e2e") as care:
        response = care.post(
            f"/referrals/{referral_id}/cancel", json={"reason": "consent_withdrawn"}
        )
    assert response.status_code == 200, response.text
    cancelled = response.json()
    assert cancelled["status"] == "cancelled"
    assert [o["status"] for o in cancelled["offers"]] == ["withdrawn"]
    wait_for(
        lambda: messages_about(system, referral_id, "offer_withdrawn", Role.PARTNER, WALKING_ORG),
        "the withdrawn offer's message to the partner",
    )
    with system.client("referrals", Role.PARTNER, organization_id=WALKING_ORG) as partner:
        seen = partner.get(f"/partner/referrals/{referral_id}").json()
    assert seen["status"] == "withdrawn"
    records = await events_about(system, REFERRALS, referral_id)
    assert [r.type for r in records][-2:] == [
        TYPE.format("offer_withdrawn"),
        TYPE.format("cancelled"),
    ]


def test_a_partner_of_another_organisation_finds_no_trace_of_a_referral_offered_elsewhere(
    system: System,
) -> None:
    referral_id = submit(system)["id"]
    wait_offered(system, referral_id)
    reads = ["", "/contact"]
    steps = {
        "/accept": None,
        "/decline": {"reason": "not_suitable"},
        "/contact-made": {"contacted_on": today()},
        "/first-meeting": {"met_on": today(), "accompanied_by": "nobody"},
        "/hold": {"reason": "citizen_ill"},
        "/resume": None,
        "/complete": {},
        "/fail": {"reason": "not_suitable"},
    }
    with system.client("referrals", Role.PARTNER, organization_id=STRANGER_ORG) as stranger:
        answers = [stranger.get(f"/partner/referrals/{referral_id}{path}") for path in reads]
        answers += [
            stranger.post(f"/partner/referrals/{referral_id}{path}", json=body)
            for path, body in steps.items()
        ]
        listed = stranger.get("/partner/referrals", params={"limit": 200}).json()["data"]
    assert [a.status_code for a in answers] == [404] * len(answers)
    assert all(a.headers["content-type"] == "application/problem+json" for a in answers)
    assert referral_id not in [r["id"] for r in listed]
    assert wait_offered(system, referral_id)["offers"][0]["status"] == "pending"


def test_directory_ranks_a_full_service_last_and_says_so(system: System) -> None:
    # The card club has no free place; the volunteer café in Valby has.
    referral_id = submit(system, interests=["cards"])["id"]
    offered = wait_offered(system, referral_id)
    assert offered["offered_organization_id"] == str(demo.VALBY_VOLUNTEER_CAFE_ORG_ID)


async def test_matches_carry_every_candidate_and_why_it_fits(system: System) -> None:
    referral_id = submit(system, interests=["cards"])["id"]
    wait_offered(system, referral_id)
    matched = [
        r for r in await records_on(system.kafka, "directory.match.v1") if r.subject == referral_id
    ]
    candidates = matched[0].data()["matches"]
    assert [c["service_id"] for c in candidates][-1] == str(demo.NORREBRO_CARD_CLUB_SERVICE_ID)
    assert "full" in candidates[-1]["reasons"]
