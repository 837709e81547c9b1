"""Follow-ups after the first meeting across the four services, on the real Kafka broker and
PostgreSQL, with referrals' clock running fast so that months pass in seconds: both
follow-ups fall due and are answered, the referral completes with its outcome and score
changes, and the care system learns every step from the changes feed and the status topic,
with nothing of who the citizen is; unanswered, a follow-up is reminded and escalated."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import pytest

from runtime.auth import Role
from tests.cloudevents import validated_cloudevent
from tests.e2e.kafka_reader import Record, wait_for_records
from tests.e2e.personal_data import ADDRESS, NAME, NOTE, PERSONAL_NUMBER, PHONE, found_in
from tests.e2e.referrals import (
    CARE_SYSTEM,
    copenhagen_day,
    fast_referrals,
    inbox,
    status_of,
    submit,
    wait_offered,
    wait_status,
)
from tests.e2e.system import System
from tests.kit import wait_for

pytestmark = pytest.mark.infra

REFERRALS = "referrals.referral.v1"
STATUS = "referrals.status.v1"
REFERRAL_EVENT = "dk.brobygger.referrals.referral.{}.v1"
CHANGED = "dk.brobygger.referrals.status.changed.v1"
FOLLOW_UP_DUE = "dk.brobygger.referrals.status.follow_up_due.v1"

SPEED = 1_000_000
"""Referrals' clock: a day passes in 86 ms. The first follow-up (28 days after the first
meeting) falls due some 2.4 s after it, the second (91 days) 5.4 s later: time enough to
answer the first before the second falls due."""

CITIZEN = {"personal_number": PERSONAL_NUMBER, "name": NAME, "phone": PHONE, "address": ADDRESS}
PARTICIPATION_NOTE = "Hørehæmmet, men synger med i koret hver tirsdag"
"""The partner's note at a follow-up: personal too (`found_in` knows it as the note)."""
CONSENT_TO_FOLLOW_UP = {
    "referral": True,
    "share_contact_details": True,
    "follow_up_questions": True,
    "share_outcome_with_care_system": True,
    "given_on": "2026-11-20",
    "recorded_by": "sosu-4711",
    "how": "verbal",
}
BASELINE = {
    "ucla3": {"lack_companionship": 3, "left_out": 3, "isolated": 3},  # total 9
    "who5": {"cheerful": 1, "calm": 1, "active": 2, "rested": 1, "interested": 1},  # index 24
}
WELLBEING = {
    1: {
        "ucla3": {"lack_companionship": 2, "left_out": 2, "isolated": 3},  # total 7
        "who5": {"cheerful": 2, "calm": 2, "active": 2, "rested": 2, "interested": 2},  # 40
    },
    2: {
        "ucla3": {"lack_companionship": 1, "left_out": 2, "isolated": 2},  # total 5
        "who5": {"cheerful": 3, "calm": 3, "active": 3, "rested": 2, "interested": 3},  # 56
    },
}
PARTICIPATION = {
    1: {"status": "taking_part", "times_last_month": 4, "note": PARTICIPATION_NOTE},
    2: {"status": "taking_part", "times_last_month": 6},
}
UCLA3_CHANGE = {"baseline": 9, "last": 5, "change": -4}
WHO5_CHANGE = {"baseline": 24, "last": 56, "change": 32}


@pytest.fixture(scope="module")
def restart_referrals(system: System) -> Iterator[Callable[..., None]]:
    """Restarts referrals with a test's own settings; with the defaults again after this
    module, for the other tests that share the system (and its real clock)."""
    try:
        yield lambda **env: system.restart("referrals", **env)
    finally:
        system.restart("referrals")


@pytest.fixture
def follow_ups_answered_in_time(restart_referrals: Callable[..., None]) -> None:
    """Months in seconds; a reminder only after some ten minutes: never in this test."""
    restart_referrals(**fast_referrals(SPEED))


@pytest.fixture
def follow_ups_left_unanswered(restart_referrals: Callable[..., None]) -> None:
    """One follow-up a day after the first meeting, reminded a day later, escalated a day
    after that: all within a second."""
    restart_referrals(
        **fast_referrals(SPEED)
        | {
            "REFERRALS_FOLLOW_UP_AFTER_DAYS": "[1]",
            "REFERRALS_FOLLOW_UP_REMIND_AFTER_DAYS": "1",
            "REFERRALS_FOLLOW_UP_ESCALATE_AFTER_DAYS": "1",
        }
    )


def as_partner(
    system: System, organization_id: str, path: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    with system.client("referrals", Role.PARTNER, organization_id=UUID(organization_id)) as org:
        response = org.post(f"/partner/referrals/{path}", json=body)
    assert response.status_code == 200, response.text
    answered: dict[str, Any] = response.json()
    return answered


def as_care_system(system: System, path: str, body: dict[str, Any]) -> dict[str, Any]:
    with system.client("referrals", Role.CARE_SYSTEM, subject=CARE_SYSTEM) as care:
        response = care.post(f"/referrals/{path}", json=body)
    assert response.status_code == 200, response.text
    answered: dict[str, Any] = response.json()
    return answered


@dataclass(frozen=True)
class Holder:
    """The organisation that accepted a referral, its service and that service's free
    places before it took one."""

    organization_id: str
    service_id: str
    free_places: int


def accepted_and_met(system: System, referral_id: str) -> Holder:
    """The organisation offered the referral accepts it (directory counts the place taken),
    makes contact and meets the citizen, on the day it accepted by referrals' (fast)
    calendar, not the test machine's."""
    offer = wait_offered(system, referral_id)["offers"][-1]
    organization_id, service_id = offer["organization_id"], offer["service_id"]
    free_places = system.free_places(service_id)
    accepted = as_partner(system, organization_id, f"{referral_id}/accept")
    wait_for(
        lambda: system.free_places(service_id) == free_places - 1,
        "directory to count the place taken",
    )
    day = copenhagen_day(accepted["offer"]["answered_at"])
    as_partner(system, organization_id, f"{referral_id}/contact-made", {"contacted_on": day})
    met = as_partner(
        system,
        organization_id,
        f"{referral_id}/first-meeting",
        {"met_on": day, "accompanied_by": "volunteer"},
    )
    assert met["status"] == "in_progress"
    return Holder(organization_id, service_id, free_places)


def place_given_back(system: System, holder: Holder) -> None:
    wait_for(
        lambda: system.free_places(holder.service_id) == holder.free_places,
        "directory to give the place back",
    )


def fallen_due(system: System, referral_id: str, number: int) -> dict[str, Any]:
    """The referral once follow-up `number` was announced as due (by referrals' timer)."""

    def announced() -> dict[str, Any]:
        found = status_of(system, referral_id)
        return found if found["follow_ups"][number - 1]["fell_due_at"] else {}

    due: dict[str, Any] = wait_for(announced, f"follow-up {number} of {referral_id} to fall due")
    return due


def messages(
    system: System, kind: str, referral_id: str, role: Role, organization_id: str | None = None
) -> list[dict[str, Any]]:
    return [
        m
        for m in inbox(system, role, UUID(organization_id) if organization_id else None)
        if m["kind"] == kind and m["referral_id"] == referral_id
    ]


def changes_after(system: System, after: str, limit: int) -> tuple[list[dict[str, Any]], str]:
    """The care system's changes feed read on from `after` page by page, as a care system
    polls it: every change, and the cursor to read on from next time."""
    found: list[dict[str, Any]] = []
    with system.client("referrals", Role.CARE_SYSTEM, subject=CARE_SYSTEM) as care:
        while True:
            response = care.get("/referrals/changes", params={"after": after, "limit": limit})
            assert response.status_code == 200, response.text
            page = response.json()
            assert len(page["data"]) <= limit
            if not page["data"]:
                assert page["next"] == after
                return found, after
            assert page["next"] == page["data"][-1]["cursor"]
            found += page["data"]
            after = page["next"]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def is_completed(referral_id: str) -> Callable[[list[Record]], bool]:
    def seen(records: list[Record]) -> bool:
        return any(
            r.key == referral_id and r.type == CHANGED and r.data()["status"] == "completed"
            for r in records
        )

    return seen


async def test_follow_ups_fall_due_are_answered_and_the_care_system_reads_every_step_exactly_once(
    system: System, follow_ups_answered_in_time: None
) -> None:
    _, start = changes_after(system, "0", 1000)  # the care system has read all so far
    reference = f"EOJ-E2E-{uuid4().hex[:8]}"
    created = submit(
        system,
        citizen=CITIZEN,
        note=NOTE,
        care_record_reference=reference,
        consent=CONSENT_TO_FOLLOW_UP,
        baseline=BASELINE,
    )
    referral_id = created["id"]
    assert created["baseline"]["ucla3"]["total"] == 9
    assert created["baseline"]["who5"]["index"] == 24
    holder = accepted_and_met(system, referral_id)
    organization_id = holder.organization_id

    # Each follow-up falls due on its own; the partner and the care system answer it.
    for number in (1, 2):
        due = fallen_due(system, referral_id, number)
        assert [f["fell_due_at"] is not None for f in due["follow_ups"]] == [True, number == 2]
        assert due["follow_ups"][number - 1]["waiting_for"] == ["participation", "wellbeing"]
        path = f"{referral_id}/follow-ups/{number}"
        reported = as_partner(system, organization_id, path, PARTICIPATION[number])
        assert reported["follow_ups"][number - 1]["participation"]["status"] == "taking_part"
        answered = as_care_system(system, path, WELLBEING[number])
    assert answered["status"] == "completed"

    final = status_of(system, referral_id)
    assert final["status"] == "completed"
    assert final["outcome"] == {
        "outcome": "participating",
        "ucla3_change": UCLA3_CHANGE,
        "who5_change": WHO5_CHANGE,
    }
    assert [(f["number"], f["waiting_for"]) for f in final["follow_ups"]] == [(1, []), (2, [])]
    assert [f["wellbeing"]["ucla3"]["total"] for f in final["follow_ups"]] == [7, 5]
    history = final["history"]
    assert [(step["action"], step["follow_up"]) for step in history] == [
        ("submit", None), ("offer", None), ("accept", None), ("contact_made", None),
        ("first_meeting", None),
        ("follow_up_due", 1), ("record_participation", 1), ("record_wellbeing", 1),
        ("follow_up_due", 2), ("record_participation", 2), ("record_wellbeing", 2),
        ("complete", None),
    ]  # fmt: skip
    assert history[-1]["reason"] is None  # how it ended is the outcome, shown with consent
    place_given_back(system, holder)

    # The feed, read on from where the care system was, page by page: every step once,
    # in order, as the history has it; the completion with how it ended.
    changes, _ = changes_after(system, start, limit=4)
    cursors = [int(c["cursor"]) for c in changes]
    assert cursors == sorted(set(cursors))
    mine = [c for c in changes if c["referral_id"] == referral_id]
    assert [
        (c["action"], c["previous_status"], c["status"], c["reason"], c["follow_up"], at(c["at"]))
        for c in mine
    ] == [
        (s["action"], s["from_status"], s["to_status"], s["reason"], s["follow_up"], at(s["at"]))
        for s in history
    ]
    assert {c["care_record_reference"] for c in mine} == {reference}
    assert [(c["outcome"], c["ucla3_change"], c["who5_change"]) for c in mine][-1] == (
        "participating",
        UCLA3_CHANGE,
        WHO5_CHANGE,
    )
    assert all(c["outcome"] is None for c in mine[:-1])

    # The status topic: one event per change of status and per follow-up due, in order,
    # keyed by the referral, with the care system's reference; the outcome at completion.
    on_status = await wait_for_records(
        system.kafka, STATUS, is_completed(referral_id), "the completion"
    )
    told = [r for r in on_status if r.data()["referral_id"] == referral_id]
    assert {r.key for r in told} == {referral_id}
    for record in told:
        validated_cloudevent(record.headers, record.value)
    data = [r.data() for r in told]
    assert {(d["care_system"], d["care_record_reference"]) for d in data} == {
        (CARE_SYSTEM, reference)
    }
    assert [
        (r.type, d.get("previous_status"), d.get("status"), d.get("follow_up"))
        for r, d in zip(told, data, strict=True)
    ] == [
        (CHANGED, None, "submitted", None),
        (CHANGED, "submitted", "offered", None),
        (CHANGED, "offered", "accepted", None),
        (CHANGED, "accepted", "in_progress", None),
        (FOLLOW_UP_DUE, None, None, 1),
        (FOLLOW_UP_DUE, None, None, 2),
        (CHANGED, "in_progress", "completed", None),
    ]
    changed_in_history = [at(s["at"]) for s in history if s["from_status"] != s["to_status"]]
    assert [at(d["changed_at"]) for d in data if "changed_at" in d] == changed_in_history
    assert [(at(d["due_at"]), d["wellbeing_expected"]) for d in data if "due_at" in d] == [
        (at(f["due_at"]), True) for f in final["follow_ups"]
    ]
    completion = data[-1]
    assert (completion["reason"], completion["outcome"]) == (None, "participating")
    assert (completion["ucla3_change"], completion["who5_change"]) == (UCLA3_CHANGE, WHO5_CHANGE)
    assert all(d.get("outcome") is None for d in data[:-1])

    # The integration events tell the partners and the other services the same steps.
    on_referrals = await wait_for_records(
        system.kafka,
        REFERRALS,
        lambda found: any(
            r.subject == referral_id and r.type == REFERRAL_EVENT.format("completed") for r in found
        ),
        "the completion",
    )
    assert [r.type for r in on_referrals if r.subject == referral_id] == [
        REFERRAL_EVENT.format(verb)
        for verb in (
            "submitted", "offered", "accepted", "contact_made", "first_meeting_held",
            "follow_up_due", "follow_up_recorded", "follow_up_recorded",
            "follow_up_due", "follow_up_recorded", "follow_up_recorded", "completed",
        )
    ]  # fmt: skip

    # The FHIR Task tells the same story: completed, owned by the organisation that
    # accepted, the follow-ups' scores as coded Observations, how it ended.
    with system.client("referrals", Role.CARE_SYSTEM, subject=CARE_SYSTEM) as care:
        task = care.get(f"/fhir/Task/{referral_id}").json()
    assert (task["resourceType"], task["status"]) == ("Task", "completed")
    assert task["focus"]["reference"] == f"ServiceRequest/{referral_id}"
    assert task["owner"]["identifier"]["value"] == str(organization_id)
    scores = {o["id"]: o["valueInteger"] for o in task["contained"]}
    assert scores == {
        "follow-up-1-ucla3-total": 7,
        "follow-up-1-who5-index": 40,
        "follow-up-2-ucla3-total": 5,
        "follow-up-2-who5-index": 56,
    }
    outcome = [o for o in task["output"] if "valueCodeableConcept" in o]
    assert [o["valueCodeableConcept"]["coding"][0]["code"] for o in outcome] == ["participating"]

    # The partner was told of each follow-up in its inbox, and never reminded.
    def both_told() -> list[dict[str, Any]]:
        told = messages(system, "follow_up_due", referral_id, Role.PARTNER, organization_id)
        return told if len(told) == 2 else []

    due_messages = wait_for(both_told, "both follow-ups in the partner's inbox")
    assert sorted(
        n for m in due_messages for n in (1, 2) if f"{referral_id}/follow-ups/{n}" in m["text"]
    ) == [1, 2]
    assert messages(system, "follow_up_overdue", referral_id, Role.PARTNER, organization_id) == []

    # Nothing on either topic, in the feed or in the inbox says who the citizen is or what
    # the care worker and the partner wrote.
    leaks = [
        f"{record.topic}: {what}"
        for record in [*on_status, *on_referrals]
        for what in found_in(
            " ".join([record.key or "", *record.headers.values(), record.value.decode()])
        )
    ]
    leaks += [f"feed: {what}" for what in found_in(json.dumps(changes, ensure_ascii=False))]
    leaks += [f"inbox: {what}" for what in found_in(json.dumps(due_messages, ensure_ascii=False))]
    assert leaks == []


def test_a_follow_up_left_unanswered_is_reminded_to_the_partner_then_escalated_to_operators(
    system: System, follow_ups_left_unanswered: None
) -> None:
    referral_id = submit(system)["id"]
    holder = accepted_and_met(system, referral_id)
    organization_id = holder.organization_id

    reminder = wait_for(
        lambda: messages(system, "follow_up_overdue", referral_id, Role.PARTNER, organization_id),
        "the reminder in the partner's inbox",
    )
    assert f"/partner/referrals/{referral_id}/follow-ups/1" in reminder[0]["text"]
    escalation = wait_for(
        lambda: messages(system, "follow_up_escalated", referral_id, Role.OPERATOR),
        "the escalation in the operators' inbox",
    )
    assert "Nørrebro" in escalation[0]["text"]
    assert messages(system, "follow_up_escalated", referral_id, Role.PARTNER, organization_id) == []

    [follow_up] = wait_status(system, referral_id, "in_progress")["follow_ups"]
    assert follow_up["reminded_at"] is not None
    assert follow_up["escalated_at"] is not None
    assert follow_up["waiting_for"] == ["participation"]  # no consent to ask the citizen
    assert [s["action"] for s in status_of(system, referral_id)["history"]][-3:] == [
        "follow_up_due",
        "follow_up_reminded",
        "follow_up_escalated",
    ]

    # An operator steps in: the referral is cancelled, its place given back.
    with system.client("referrals", Role.OPERATOR) as operator:
        cancelled = operator.post(
            f"/referrals/{referral_id}/cancel", json={"reason": "entered_in_error"}
        )
    assert cancelled.status_code == 200, cancelled.text
    place_given_back(system, holder)
