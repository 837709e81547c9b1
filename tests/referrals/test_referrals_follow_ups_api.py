"""Follow-ups and the changes feed over HTTP: who answers what, what each party sees, and
what is refused. SQLite, an unreachable broker, and a clock the tests move; the tests fire
the timers themselves instead of waiting for the scheduler."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi.testclient import TestClient

from referrals import services
from referrals.app import create_app
from referrals.config import Settings
from runtime.auth import Role
from tests.fakes import FakeClock
from tests.kit import auth_header
from tests.referrals.support import CITY, PERSONAL_DATA
from tests.referrals.test_referrals_lifecycle_api import (
    CARE,
    CITIZEN,
    OPERATOR,
    directory_finds,
    lifecycle,
    partner,
    problem,
    step,
    today,
)

OTHER_CARE = auth_header(Role.CARE_SYSTEM, subject="care-2")
REVIEWER = auth_header(Role.REVIEWER)
DUE_1 = datetime(2026, 12, 20, 9, tzinfo=CITY)
DUE_2 = datetime(2027, 2, 21, 9, tzinfo=CITY)
"""28 and 91 days after a first meeting on NOW's day."""
REFERENCE = "EOJ-2026-004711"

UCLA3_LONELY = {"lack_companionship": 3, "left_out": 3, "isolated": 3}
WHO5_LOW = {"cheerful": 1, "calm": 1, "active": 1, "rested": 1, "interested": 1}
UCLA3_BETTER = {"lack_companionship": 2, "left_out": 2, "isolated": 2}
WHO5_BETTER = {"cheerful": 3, "calm": 3, "active": 3, "rested": 3, "interested": 3}
PARTNER_NOTE = "Inger Jensen comes every Tuesday with her neighbour"


@pytest.fixture
def client(
    offline_service_env: pytest.MonkeyPatch, tmp_path: Path, clock: FakeClock
) -> Iterator[TestClient]:
    offline_service_env.setenv("REFERRALS_DATABASE_URL", f"sqlite:///{tmp_path}/referrals.db")
    # The scheduler looks once at start-up and then not for an hour: the tests fire timers.
    offline_service_env.setenv("REFERRALS_TIMER_POLL_SECONDS", "3600")
    with TestClient(create_app(Settings(), clock=clock)) as test_client:
        yield test_client


def submit(
    client: TestClient,
    headers: dict[str, str] = CARE,
    *,
    follow_up_questions: bool = True,
    share_outcome: bool = True,
    **changes: Any,
) -> httpx.Response:
    body: dict[str, Any] = {
        "citizen": CITIZEN,
        "district": "Nørrebro",
        "interests": ["walking"],
        "languages": ["da"],
        "note": "Hard of hearing, loves singing",
        "care_record_reference": REFERENCE,
        "consent": {
            "referral": True,
            "follow_up_questions": follow_up_questions,
            "share_outcome_with_care_system": share_outcome,
            "given_on": "2026-11-20",
        },
        **changes,
    }
    if follow_up_questions and "baseline" not in changes:
        body["baseline"] = {"ucla3": UCLA3_LONELY, "who5": WHO5_LOW}
    key = {"Idempotency-Key": str(uuid4())}
    response: httpx.Response = client.post("/referrals", json=body, headers={**headers, **key})
    return response


def held(
    client: TestClient, org: UUID, headers: dict[str, str] = CARE, /, **consents: bool
) -> UUID:
    """A referral `org` accepted and met the citizen of today."""
    submitted = submit(client, headers, **consents)
    assert submitted.status_code == 201, submitted.text
    referral_id = UUID(submitted.json()["id"])
    directory_finds(client, referral_id, org)
    assert step(client, referral_id, org, "accept").status_code == 200
    first_meeting = {"met_on": today(), "accompanied_by": "nobody"}
    assert step(client, referral_id, org, "first-meeting", first_meeting).status_code == 200
    return referral_id


def at(client: TestClient, clock: FakeClock, moment: datetime) -> None:
    """Move the clock to `moment` and fire every timer due by then."""
    clock.now = moment
    services.fire_due_timers(lifecycle(client))


def report(
    client: TestClient, referral_id: UUID, org: UUID, number: int, body: dict[str, Any]
) -> httpx.Response:
    return step(client, referral_id, org, f"follow-ups/{number}", body)


def answers(
    client: TestClient,
    referral_id: UUID,
    number: int,
    body: dict[str, Any],
    headers: dict[str, str] = CARE,
) -> httpx.Response:
    response: httpx.Response = client.post(
        f"/referrals/{referral_id}/follow-ups/{number}", json=body, headers=headers
    )
    return response


def followed_to_the_end(client: TestClient, clock: FakeClock, org: UUID, **consents: bool) -> UUID:
    """A referral whose two follow-ups were answered in full: taking part, then stopped;
    UCLA-3 9 → 6 → (not asked), WHO-5 20 → 60 → (not asked)."""
    referral_id = held(client, org, **consents)
    at(client, clock, DUE_1)
    taking_part = {"status": "taking_part", "times_last_month": 4, "note": PARTNER_NOTE}
    assert report(client, referral_id, org, 1, taking_part).status_code == 200
    if consents.get("follow_up_questions", True):
        both = {"ucla3": UCLA3_BETTER, "who5": WHO5_BETTER}
        assert answers(client, referral_id, 1, both).status_code == 200
    at(client, clock, DUE_2)
    stopped = {"status": "stopped", "times_last_month": 0}
    last = report(client, referral_id, org, 2, stopped)
    assert last.status_code == 200, last.text
    if consents.get("follow_up_questions", True):
        assert answers(client, referral_id, 2, {"ucla3": UCLA3_BETTER}).status_code == 200
    return referral_id


def said(body: dict[str, Any]) -> str:
    """What a problem says, without `instance` (the path, which holds the referral's id)."""
    return json.dumps({k: v for k, v in body.items() if k != "instance"}, ensure_ascii=False)


def refused(response: httpx.Response, status: int, *not_echoed: str) -> dict[str, Any]:
    body = problem(response, status)
    for value in (*not_echoed, *PERSONAL_DATA):
        assert value not in said(body), f"{value!r} echoed: {said(body)}"
    assert "input" not in {key for error in body.get("errors", []) for key in error}
    return body


# --- refusals -----------------------------------------------------------------------------

MARK = 987
"""An answer no item takes: it must not come back in the refusal."""

BAD_ANSWERS: dict[str, tuple[dict[str, Any], str]] = {
    "item_out_of_range": ({"ucla3": {**UCLA3_BETTER, "left_out": MARK}}, "body.ucla3.left_out"),
    "who5_item_out_of_range": ({"who5": {**WHO5_BETTER, "calm": MARK}}, "body.who5.calm"),
    "who5_item_below_zero": ({"who5": {**WHO5_BETTER, "calm": -1}}, "body.who5.calm"),
    "missing_item": (
        {"ucla3": {"lack_companionship": 2, "left_out": 2}},
        "body.ucla3.isolated",
    ),
    "extra_item": ({"ucla3": {**UCLA3_BETTER, "sad": MARK}}, "body.ucla3.sad"),
    "extra_instrument": ({"ucla3": UCLA3_BETTER, "phq9": {"a": MARK}}, "body.phq9"),
    "string_item": ({"who5": {**WHO5_BETTER, "cheerful": "2"}}, "body.who5.cheerful"),
    "boolean_item": ({"ucla3": {**UCLA3_BETTER, "isolated": True}}, "body.ucla3.isolated"),
    "fraction_item": ({"ucla3": {**UCLA3_BETTER, "isolated": 2.5}}, "body.ucla3.isolated"),
}


@pytest.mark.parametrize("case", sorted(BAD_ANSWERS))
def test_answers_that_are_not_the_instruments_are_refused_with_422_naming_the_item_only(
    client: TestClient, clock: FakeClock, case: str
) -> None:
    org = uuid4()
    referral_id = held(client, org)
    at(client, clock, DUE_1)
    body, location = BAD_ANSWERS[case]
    problem_body = refused(answers(client, referral_id, 1, body), 422, str(MARK), '"2"', "2.5")
    assert location in [error["location"] for error in problem_body["errors"]]
    intake = submit(client, baseline=body)
    intake_location = location.replace("body.", "body.baseline.")
    assert intake_location in [e["location"] for e in refused(intake, 422, str(MARK))["errors"]]
    shown = client.get(f"/referrals/{referral_id}", headers=CARE).json()
    assert shown["follow_ups"][0]["wellbeing"] is None


BAD_REPORTS: dict[str, tuple[dict[str, Any], str]] = {
    "times_out_of_range": (
        {"status": "taking_part", "times_last_month": MARK, "note": PARTNER_NOTE},
        "body.times_last_month",
    ),
    "unknown_status": ({"status": "dancing", "times_last_month": 1}, "body.status"),
    "string_times": ({"status": "paused", "times_last_month": "2"}, "body.times_last_month"),
    "missing_times": ({"status": "stopped", "note": PARTNER_NOTE}, "body.times_last_month"),
}


@pytest.mark.parametrize("case", sorted(BAD_REPORTS))
def test_a_partners_report_that_does_not_fit_is_refused_with_422_and_its_note_not_echoed(
    client: TestClient, clock: FakeClock, case: str
) -> None:
    org = uuid4()
    referral_id = held(client, org)
    at(client, clock, DUE_1)
    body, location = BAD_REPORTS[case]
    response = report(client, referral_id, org, 1, body)
    problem_body = refused(response, 422, str(MARK), "dancing", '"2"', PARTNER_NOTE, "neighbour")
    assert location in [error["location"] for error in problem_body["errors"]]


def test_answers_without_consent_to_follow_up_questions_are_refused_with_422(
    client: TestClient, clock: FakeClock
) -> None:
    at_intake = submit(
        client, follow_up_questions=False, baseline={"ucla3": UCLA3_LONELY, "who5": WHO5_LOW}
    )
    assert "consent" in refused(at_intake, 422)["detail"]
    org = uuid4()
    referral_id = held(client, org, follow_up_questions=False)
    at(client, clock, DUE_1)
    later = answers(client, referral_id, 1, {"ucla3": UCLA3_BETTER})
    assert "consent" in refused(later, 422)["detail"]
    shown = client.get(f"/referrals/{referral_id}", headers=CARE).json()
    assert (shown["baseline"], shown["follow_ups"][0]["wellbeing"]) == (None, None)
    assert shown["follow_ups"][0]["waiting_for"] == ["participation"]


def test_a_follow_up_the_referral_does_not_have_is_404_and_a_number_not_a_follow_up_422(
    client: TestClient, clock: FakeClock
) -> None:
    org = uuid4()
    referral_id = held(client, org)
    at(client, clock, DUE_2)
    stopped = {"status": "stopped", "times_last_month": 0}
    assert "no follow-up 3" in refused(report(client, referral_id, org, 3, stopped), 404)["detail"]
    assert "no follow-up 3" in refused(answers(client, referral_id, 3, {}), 404)["detail"]
    for number in (0, 21):
        refused(report(client, referral_id, org, number, stopped), 422)
        refused(answers(client, referral_id, number, {}), 422)
    before_meeting = submit(client)
    unmet = UUID(before_meeting.json()["id"])
    directory_finds(client, unmet, org)
    assert step(client, unmet, org, "accept").status_code == 200
    refused(report(client, unmet, org, 1, stopped), 409)  # accepted: no follow-ups yet


def test_an_answer_before_the_follow_up_falls_due_is_409_and_changes_nothing(
    client: TestClient, clock: FakeClock
) -> None:
    org = uuid4()
    referral_id = held(client, org)
    clock.now = DUE_1.replace(hour=8, minute=59)
    taking_part = {"status": "taking_part", "times_last_month": 4}
    assert "2026-12-20" in refused(report(client, referral_id, org, 1, taking_part), 409)["detail"]
    assert "2026-12-20" in refused(answers(client, referral_id, 1, {}), 409)["detail"]
    shown = client.get(f"/referrals/{referral_id}", headers=OPERATOR).json()
    first = shown["follow_ups"][0]
    assert (first["fell_due_at"], first["participation"], first["wellbeing"]) == (None, None, None)


def test_another_answer_to_an_answered_follow_up_is_409_and_the_same_one_again_200(
    client: TestClient, clock: FakeClock
) -> None:
    org = uuid4()
    referral_id = held(client, org)
    at(client, clock, DUE_1)
    taking_part = {"status": "taking_part", "times_last_month": 4, "note": PARTNER_NOTE}
    assert report(client, referral_id, org, 1, taking_part).status_code == 200
    assert report(client, referral_id, org, 1, taking_part).status_code == 200
    other = {**taking_part, "times_last_month": 5}
    refused(report(client, referral_id, org, 1, other), 409, PARTNER_NOTE)
    assert answers(client, referral_id, 1, {"ucla3": UCLA3_BETTER}).status_code == 200
    assert answers(client, referral_id, 1, {"ucla3": UCLA3_BETTER}).status_code == 200
    refused(answers(client, referral_id, 1, {"ucla3": UCLA3_LONELY}), 409)
    history = client.get(f"/referrals/{referral_id}", headers=OPERATOR).json()["history"]
    assert [h["action"] for h in history].count("record_participation") == 1
    assert [h["action"] for h in history].count("record_wellbeing") == 1


def test_other_roles_may_not_answer_follow_ups(client: TestClient, clock: FakeClock) -> None:
    org = uuid4()
    referral_id = held(client, org)
    at(client, clock, DUE_1)
    stopped = {"status": "stopped", "times_last_month": 0}
    path = f"/partner/referrals/{referral_id}/follow-ups/1"
    for headers in (CARE, OPERATOR, REVIEWER):
        refused(client.post(path, json=stopped, headers=headers), 403)
    for headers in (partner(org), OPERATOR, REVIEWER):
        refused(answers(client, referral_id, 1, {}, headers), 403)
    first = client.get(f"/referrals/{referral_id}", headers=OPERATOR).json()["follow_ups"][0]
    assert first["waiting_for"] == ["participation", "wellbeing"]


def test_a_partner_or_care_system_the_referral_is_not_theirs_is_told_it_does_not_exist(
    client: TestClient, clock: FakeClock
) -> None:
    org, stranger = uuid4(), uuid4()
    referral_id = held(client, org)
    at(client, clock, DUE_1)
    stopped = {"status": "stopped", "times_last_month": 0}
    assert (
        str(referral_id)
        in refused(report(client, referral_id, stranger, 1, stopped), 404)["detail"]
    )
    refused(answers(client, referral_id, 1, {}, OTHER_CARE), 404)
    first = client.get(f"/referrals/{referral_id}", headers=OPERATOR).json()["follow_ups"][0]
    assert first["waiting_for"] == ["participation", "wellbeing"]


def test_an_organisation_that_declined_the_referral_may_not_report_on_it(
    client: TestClient, clock: FakeClock
) -> None:
    declining, accepting = uuid4(), uuid4()
    submitted = submit(client)
    referral_id = UUID(submitted.json()["id"])
    directory_finds(client, referral_id, declining, accepting)
    assert step(client, referral_id, declining, "decline", {"reason": "no_capacity"}).is_success
    assert step(client, referral_id, accepting, "accept").is_success
    first_meeting = {"met_on": today(), "accompanied_by": "volunteer"}
    assert step(client, referral_id, accepting, "first-meeting", first_meeting).is_success
    at(client, clock, DUE_1)
    stopped = {"status": "stopped", "times_last_month": 0}
    refused(report(client, referral_id, declining, 1, stopped), 403)


# --- what each party sees -----------------------------------------------------------------


@pytest.mark.parametrize("share_outcome", [True, False], ids=["shared", "not_shared"])
def test_the_care_system_sees_the_partners_reports_and_the_outcome_only_with_consent(
    client: TestClient, clock: FakeClock, share_outcome: bool
) -> None:
    referral_id = followed_to_the_end(client, clock, uuid4(), share_outcome=share_outcome)
    response = client.get(f"/referrals/{referral_id}", headers=CARE)
    assert response.status_code == 200, response.text
    care_view = response.json()
    assert care_view["status"] == "completed"
    assert care_view["care_record_reference"] == REFERENCE
    assert care_view["baseline"]["ucla3"]["total"] == 9
    assert [f["wellbeing"]["ucla3"]["total"] for f in care_view["follow_ups"]] == [6, 6]
    reports = [f["participation"] for f in care_view["follow_ups"]]
    outcome = care_view["outcome"]
    if share_outcome:
        assert [r["status"] for r in reports] == ["taking_part", "stopped"]
        assert outcome == {
            "outcome": "stopped",
            "ucla3_change": {"baseline": 9, "last": 6, "change": -3},
            "who5_change": {"baseline": 20, "last": 60, "change": 40},
        }
    else:
        assert (reports, outcome) == ([None, None], None)
        assert PARTNER_NOTE not in response.text
    operator_view = client.get(f"/referrals/{referral_id}", headers=OPERATOR).json()
    assert operator_view["outcome"]["outcome"] == "stopped"
    assert operator_view["follow_ups"][0]["participation"]["note"] == PARTNER_NOTE


def test_without_consent_to_share_the_outcome_the_care_system_cannot_read_it_anywhere(
    client: TestClient, clock: FakeClock
) -> None:
    referral_id = followed_to_the_end(client, clock, uuid4(), share_outcome=False)
    history = client.get(f"/referrals/{referral_id}", headers=CARE).json()["history"]
    feed = client.get("/referrals/changes", headers=CARE).json()["data"]
    outcomes = {"participating", "stopped", "never_started"}
    [completed] = [h for h in history if h["action"] == "complete"]
    [completed_change] = [c for c in feed if c["action"] == "complete"]
    assert completed["reason"] not in outcomes, "the history tells how it ended"
    assert completed_change["reason"] not in outcomes, "the changes feed tells how it ended"


def test_the_partner_sees_its_own_reports_and_never_the_citizens_answers(
    client: TestClient, clock: FakeClock
) -> None:
    org = uuid4()
    referral_id = followed_to_the_end(client, clock, org)
    for path in (f"/partner/referrals/{referral_id}", "/partner/referrals"):
        response = client.get(path, headers=partner(org))
        assert response.status_code == 200, response.text
        for hidden in ("wellbeing", "ucla3", "who5", "baseline", "lack_companionship", "outcome"):
            assert hidden not in response.text
    seen = client.get(f"/partner/referrals/{referral_id}", headers=partner(org)).json()
    assert [f["participation"]["status"] for f in seen["follow_ups"]] == ["taking_part", "stopped"]
    assert seen["follow_ups"][0]["participation"]["note"] == PARTNER_NOTE


def test_the_care_system_sees_what_each_follow_up_still_waits_for(
    client: TestClient, clock: FakeClock
) -> None:
    org = uuid4()
    referral_id = held(client, org)
    before = client.get(f"/referrals/{referral_id}", headers=CARE).json()["follow_ups"]
    assert [(f["number"], f["waiting_for"], f["fell_due_at"]) for f in before] == [
        (1, [], None),
        (2, [], None),
    ]
    assert datetime.fromisoformat(before[0]["due_at"]) == DUE_1
    at(client, clock, DUE_1)
    assert answers(client, referral_id, 1, {}).status_code == 200  # asked, did not answer
    first = client.get(f"/referrals/{referral_id}", headers=CARE).json()["follow_ups"][0]
    assert first["waiting_for"] == ["participation"]
    assert first["wellbeing"] == {"ucla3": None, "who5": None}


def test_a_referral_completed_before_its_follow_ups_were_answered_waits_for_nothing(
    client: TestClient, clock: FakeClock
) -> None:
    org = uuid4()
    referral_id = held(client, org)
    at(client, clock, DUE_1)
    assert step(client, referral_id, org, "complete", {}).status_code == 200
    shown = client.get(f"/referrals/{referral_id}", headers=CARE).json()
    assert shown["status"] == "completed"
    assert [f["waiting_for"] for f in shown["follow_ups"]] == [[], []]


# --- the changes feed ---------------------------------------------------------------------


def read_feed(
    client: TestClient, headers: dict[str, str], limit: int
) -> tuple[list[dict[str, Any]], str]:
    """Every change, page by page from the start; and the last `next`."""
    changes: list[dict[str, Any]] = []
    after = "0"
    while True:
        response = client.get(f"/referrals/changes?after={after}&limit={limit}", headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["data"]) <= limit
        if not page["data"]:
            assert page["next"] == after
            return changes, after
        assert page["next"] == page["data"][-1]["cursor"]
        changes += page["data"]
        after = page["next"]


def test_the_changes_feed_pages_through_every_step_in_the_order_taken(
    client: TestClient, clock: FakeClock
) -> None:
    referral_id = followed_to_the_end(client, clock, uuid4())
    changes, last = read_feed(client, CARE, limit=3)
    history = client.get(f"/referrals/{referral_id}", headers=CARE).json()["history"]
    assert [(c["action"], c["status"], c["previous_status"]) for c in changes] == [
        (h["action"], h["to_status"], h["from_status"]) for h in history
    ]
    cursors = [int(c["cursor"]) for c in changes]
    assert cursors == sorted(set(cursors)) and str(cursors[-1]) == last
    assert {(c["referral_id"], c["care_record_reference"]) for c in changes} == {
        (str(referral_id), REFERENCE)
    }
    assert [(c["action"], c["follow_up"]) for c in changes if c["follow_up"]][:3] == [
        ("follow_up_due", 1),
        ("record_participation", 1),
        ("record_wellbeing", 1),
    ]
    assert read_feed(client, CARE, limit=1000)[0] == changes


@pytest.mark.parametrize("share_outcome", [True, False], ids=["shared", "not_shared"])
def test_the_feed_tells_how_a_referral_ended_only_with_consent(
    client: TestClient, clock: FakeClock, share_outcome: bool
) -> None:
    followed_to_the_end(client, clock, uuid4(), share_outcome=share_outcome)
    changes, _ = read_feed(client, CARE, limit=100)
    [completed] = [c for c in changes if c["action"] == "complete"]
    told = (completed["outcome"], completed["ucla3_change"], completed["who5_change"])
    if share_outcome:
        assert told == (
            "stopped",
            {"baseline": 9, "last": 6, "change": -3},
            {"baseline": 20, "last": 60, "change": 40},
        )
    else:
        assert told == (None, None, None)
    assert all(c["outcome"] is None for c in changes if c is not completed)
    assert PARTNER_NOTE not in json.dumps(changes)


def test_a_care_system_reads_the_changes_of_its_own_referrals_only(
    client: TestClient, clock: FakeClock
) -> None:
    mine = held(client, uuid4())
    theirs = held(client, uuid4(), OTHER_CARE)
    at(client, clock, DUE_1)
    assert {c["referral_id"] for c in read_feed(client, CARE, 2)[0]} == {str(mine)}
    assert {c["referral_id"] for c in read_feed(client, OTHER_CARE, 2)[0]} == {str(theirs)}
    everything, _ = read_feed(client, OPERATOR, 5)
    assert {c["referral_id"] for c in everything} == {str(mine), str(theirs)}
    assert [int(c["cursor"]) for c in everything] == list(range(1, len(everything) + 1))
    refused(client.get("/referrals/changes", headers=partner(uuid4())), 403)
    refused(client.get("/referrals/changes", headers=REVIEWER), 403)


def test_reading_after_the_end_of_the_feed_gives_an_empty_page_and_the_same_cursor(
    client: TestClient,
) -> None:
    held(client, uuid4())
    for after in ("999999", "999999999999999999"):
        response = client.get(f"/referrals/changes?after={after}", headers=CARE)
        assert response.status_code == 200, response.text
        assert response.json() == {"data": [], "next": after}


@pytest.mark.parametrize(
    "query",
    ["after=abc", "after=-1", "after=01", "after=1.5", "after=1000000000000000000", "limit=0"],
)
def test_a_cursor_or_limit_that_is_not_one_is_refused_with_422(
    client: TestClient, query: str
) -> None:
    held(client, uuid4())
    refused(client.get(f"/referrals/changes?{query}", headers=CARE), 422)
