"""The referral's life over HTTP: partners answer and report, care systems cancel, operators
step in. SQLite, an unreachable broker, and a clock the tests set."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi.testclient import TestClient

from contracts import ServiceChanged
from referrals import services
from referrals.app import create_app
from referrals.config import Settings
from runtime.auth import Role
from tests.events import matches_found, no_match_found, service_changed
from tests.fakes import FakeClock
from tests.kit import auth_header
from tests.referrals.support import NOTE, NOW, REFERENCE, TTL, city_day

CITIZEN = {
    "personal_number": "010140-1234",
    "name": "Inger Jensen",
    "address": "Jagtvej 1, 2200 København N",
    "phone": "+45 12 34 56 78",
}


@pytest.fixture
def client(
    offline_service_env: pytest.MonkeyPatch, tmp_path: Path, clock: FakeClock
) -> Iterator[TestClient]:
    offline_service_env.setenv("REFERRALS_DATABASE_URL", f"sqlite:///{tmp_path}/referrals.db")
    with TestClient(create_app(Settings(), clock=clock)) as test_client:
        yield test_client


CARE = auth_header(Role.CARE_SYSTEM, subject="care-1")
OPERATOR = auth_header(Role.OPERATOR, subject="operator-anna")


def partner(org: UUID) -> dict[str, str]:
    return auth_header(Role.PARTNER, subject=f"coordinator-{org}", organization_id=org)


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def submit(client: TestClient, *, share_contact_details: bool = True, **changes: Any) -> UUID:
    body: dict[str, Any] = {
        "citizen": CITIZEN,
        "district": "Nørrebro",
        "interests": ["walking"],
        "languages": ["da"],
        "needs_accompaniment": True,
        "consent": {
            "referral": True,
            "share_contact_details": share_contact_details,
            "given_on": "2026-11-20",
        },
        **changes,
    }
    response = client.post(
        "/referrals", json=body, headers={**CARE, "Idempotency-Key": str(uuid4())}
    )
    assert response.status_code == 201, response.text
    return UUID(response.json()["id"])


def lifecycle(client: TestClient) -> services.Lifecycle:
    found: services.Lifecycle = client.app.state.lifecycle  # type: ignore[attr-defined]
    return found


def directory_finds(client: TestClient, referral_id: UUID, *organizations: UUID) -> None:
    """Directory's match event arrives: the referral is offered to the first organisation."""
    cycle = lifecycle(client)
    with cycle.start_uow() as uow:
        found = matches_found(referral_id, *organizations)
        services.offer_to_candidates(found, uow, cycle.offer_ttl, cycle.clock)


def directory_finds_nothing(client: TestClient, referral_id: UUID) -> None:
    cycle = lifecycle(client)
    with cycle.start_uow() as uow:
        event = no_match_found(referral_id=referral_id)
        services.escalate_unmatched(event, uow, cycle.clock)


def directory_announces(client: TestClient, service: ServiceChanged) -> None:
    with lifecycle(client).start_uow() as uow:
        services.learn_service(service, uow)


def offered(client: TestClient, *organizations: UUID, **changes: Any) -> UUID:
    referral_id = submit(client, **changes)
    directory_finds(client, referral_id, *organizations)
    return referral_id


def status_of(client: TestClient, referral_id: UUID) -> str:
    response = client.get(f"/referrals/{referral_id}", headers=OPERATOR)
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


def step(
    client: TestClient, referral_id: UUID, org: UUID, name: str, body: dict[str, Any] | None = None
) -> httpx.Response:
    path = f"/partner/referrals/{referral_id}/{name}"
    response: httpx.Response = client.post(path, json=body or {}, headers=partner(org))
    return response


def today() -> str:
    return city_day(NOW).isoformat()


STEP_BODIES: dict[str, dict[str, Any]] = {
    "accept": {},
    "decline": {"reason": "no_capacity"},
    "contact-made": {"contacted_on": "2026-11-22"},
    "first-meeting": {"met_on": "2026-11-22", "accompanied_by": "volunteer"},
    "hold": {"reason": "citizen_ill"},
    "resume": {},
    "complete": {"outcome_note": "comes every Tuesday"},
    "fail": {"reason": "citizen_moved"},
    "volunteer": {"volunteer_id": "5f0c7a52-9a36-4d3f-8c43-9d1c6a7e2b10"},
}


# --- what a partner sees ------------------------------------------------------------------


def test_a_partner_sees_what_it_needs_to_decide_and_never_the_identity(
    client: TestClient,
) -> None:
    org = uuid4()
    referral_id = offered(client, org)
    response = client.get(f"/partner/referrals/{referral_id}", headers=partner(org))
    assert response.status_code == 200, response.text
    seen = response.json()
    assert (seen["status"], seen["district"], seen["needs_accompaniment"]) == (
        "offered",
        "Nørrebro",
        True,
    )
    assert seen["contact_details_shared"] is True
    assert seen["offer"]["expires_at"].startswith((NOW + TTL).date().isoformat())
    assert re.match(REFERENCE, seen["citizen_ref"])
    for value in CITIZEN.values():
        assert value not in response.text
    assert "personal_number" not in response.text


PARTNER_PATHS = [("GET", ""), ("GET", "/contact"), ("GET", "/note")] + [
    ("POST", f"/{name}") for name in sorted(STEP_BODIES)
]


@pytest.mark.parametrize(("method", "path"), PARTNER_PATHS, ids=[p for _, p in PARTNER_PATHS])
def test_every_partner_path_answers_404_to_an_organisation_never_offered_the_referral(
    client: TestClient, method: str, path: str
) -> None:
    referral_id = offered(client, uuid4())
    stranger = uuid4()
    body = STEP_BODIES.get(path.lstrip("/")) if method == "POST" else None
    for some_id in (referral_id, uuid4()):  # the same answer as for no referral at all
        response = client.request(
            method, f"/partner/referrals/{some_id}{path}", json=body, headers=partner(stranger)
        )
        assert str(some_id) in problem(response, 404)["detail"]
    assert status_of(client, referral_id) == "offered"
    listed = client.get("/partner/referrals", headers=partner(stranger)).json()
    assert (listed["data"], listed["total"]) == ([], 0)


def test_contact_details_go_only_to_the_accepting_organisation_with_the_citizens_consent(
    client: TestClient,
) -> None:
    declining, accepting = uuid4(), uuid4()
    referral_id = offered(client, declining, accepting)
    contact = f"/partner/referrals/{referral_id}/contact"
    problem(client.get(contact, headers=partner(declining)), 403)  # offered, not accepted
    assert step(client, referral_id, declining, "decline", {"reason": "not_suitable"}).is_success
    problem(client.get(contact, headers=partner(accepting)), 403)  # offered, not accepted
    assert step(client, referral_id, accepting, "accept").status_code == 200

    denied = problem(client.get(contact, headers=partner(declining)), 403)
    assert "Inger" not in denied["detail"]
    shared = client.get(contact, headers=partner(accepting))
    assert shared.status_code == 200, shared.text
    assert shared.json() == {
        "name": "Inger Jensen",
        "phone": "+45 12 34 56 78",
        "address": "Jagtvej 1, 2200 København N",
    }

    org = uuid4()
    unconsented = offered(client, org, share_contact_details=False)
    assert step(client, unconsented, org, "accept").status_code == 200
    problem(client.get(f"/partner/referrals/{unconsented}/contact", headers=partner(org)), 403)


def test_the_note_goes_only_to_the_organisation_that_accepted_while_it_holds_the_referral(
    client: TestClient,
) -> None:
    declining, accepting = uuid4(), uuid4()
    referral_id = offered(client, declining, accepting, note=NOTE)
    note = f"/partner/referrals/{referral_id}/note"
    problem(client.get(note, headers=partner(declining)), 403)  # offered, not accepted
    assert step(client, referral_id, declining, "decline", {"reason": "not_suitable"}).is_success
    problem(client.get(note, headers=partner(accepting)), 403)  # offered, not accepted
    assert step(client, referral_id, accepting, "accept").status_code == 200

    denied = problem(client.get(note, headers=partner(declining)), 403)
    assert "singing" not in denied["detail"]
    for name in ("first-meeting", "hold", "resume"):  # accepted, on hold, in progress
        read = client.get(note, headers=partner(accepting))
        assert (read.status_code, read.json()) == (200, {"note": NOTE}), read.text
        assert step(client, referral_id, accepting, name, STEP_BODIES[name]).status_code == 200
    assert step(client, referral_id, accepting, "complete", STEP_BODIES["complete"]).is_success
    problem(client.get(note, headers=partner(accepting)), 403)  # it holds it no more

    # Nowhere else: not in what the care system, operators or partners read of the referral.
    for path, headers in (
        (f"/referrals/{referral_id}", CARE),
        (f"/referrals/{referral_id}", OPERATOR),
        (f"/partner/referrals/{referral_id}", partner(accepting)),
        ("/partner/referrals", partner(accepting)),
    ):
        assert "singing" not in client.get(path, headers=headers).text


def test_without_a_note_the_accepting_organisation_reads_null(client: TestClient) -> None:
    org = uuid4()
    referral_id = offered(client, org)
    assert step(client, referral_id, org, "accept").status_code == 200
    read = client.get(f"/partner/referrals/{referral_id}/note", headers=partner(org))
    assert (read.status_code, read.json()) == (200, {"note": None})


FULL_CONSENT = {
    "referral": True,
    "share_contact_details": False,
    "follow_up_questions": True,
    "share_outcome_with_care_system": True,
    "given_on": "2026-11-20",
    "recorded_by": "cw-4711",
    "how": "written",
}


def test_the_consent_record_is_kept_and_shown_to_the_care_system_and_operators(
    client: TestClient,
) -> None:
    org = uuid4()
    referral_id = offered(client, org, consent=FULL_CONSENT)
    for headers in (CARE, OPERATOR):
        shown = client.get(f"/referrals/{referral_id}", headers=headers).json()
        assert shown["consent"] == {**FULL_CONSENT, "withdrawal": None}
    seen = client.get(f"/partner/referrals/{referral_id}", headers=partner(org)).json()
    assert "consent" not in seen and "cw-4711" not in json.dumps(seen)
    assert seen["contact_details_shared"] is False

    # Honoured: no contact details without that consent, whoever holds the referral.
    assert step(client, referral_id, org, "accept").status_code == 200
    contact = f"/partner/referrals/{referral_id}/contact"
    assert "consented" in problem(client.get(contact, headers=partner(org)), 403)["detail"]

    # A care system that sends only what it sent before gets the purposes it did not name
    # refused, and who recorded it and how left unknown.
    plain = submit(client)
    shown = client.get(f"/referrals/{plain}", headers=CARE).json()["consent"]
    assert shown == {
        **FULL_CONSENT,
        "share_contact_details": True,
        "follow_up_questions": False,
        "share_outcome_with_care_system": False,
        "recorded_by": None,
        "how": None,
        "withdrawal": None,
    }


# --- a referral's whole life --------------------------------------------------------------


def test_the_accepting_organisation_names_the_volunteer_who_will_meet_the_citizen(
    client: TestClient,
) -> None:
    declining, accepting = uuid4(), uuid4()
    referral_id = offered(client, declining, accepting)
    naming = STEP_BODIES["volunteer"]
    problem(step(client, referral_id, declining, "volunteer", naming), 409)  # offered only
    assert step(client, referral_id, declining, "decline", {"reason": "not_suitable"}).is_success
    problem(step(client, referral_id, accepting, "volunteer", naming), 409)  # not accepted yet
    assert step(client, referral_id, accepting, "accept").status_code == 200

    named = step(client, referral_id, accepting, "volunteer", naming)
    assert named.status_code == 200, named.text
    assert named.json()["volunteer_id"] == naming["volunteer_id"]
    again = step(client, referral_id, accepting, "volunteer", naming)
    assert again.json()["volunteer_id"] == naming["volunteer_id"]
    other = {"volunteer_id": str(uuid4())}
    assert (
        step(client, referral_id, accepting, "volunteer", other).json()["volunteer_id"]
        == (other["volunteer_id"])
    )
    history = client.get(f"/referrals/{referral_id}", headers=CARE).json()["history"]
    assert [h["action"] for h in history].count("name_volunteer") == 2, "the same again is no step"
    problem(step(client, referral_id, declining, "volunteer", other), 403)  # declined earlier


def test_a_declined_referral_goes_to_the_next_organisation_which_takes_it_to_completion(
    client: TestClient, clock: FakeClock
) -> None:
    first, second = uuid4(), uuid4()
    referral_id = offered(client, first, second)
    declined = step(client, referral_id, first, "decline", {"reason": "other", "text": "no driver"})
    assert declined.json()["status"] == "declined"
    assert status_of(client, referral_id) == "offered"
    clock.advance(timedelta(hours=1))
    for name in ("accept", "contact-made", "first-meeting", "hold", "resume", "complete"):
        response = step(client, referral_id, second, name, STEP_BODIES[name])
        assert response.status_code == 200, f"{name}: {response.text}"
    care_view = client.get(f"/referrals/{referral_id}", headers=CARE).json()
    assert care_view["status"] == "completed"
    assert [(h["action"], h["to_status"]) for h in care_view["history"]] == [
        ("submit", "submitted"),
        ("offer", "offered"),
        ("decline", "offered"),
        ("offer", "offered"),
        ("accept", "accepted"),
        ("contact_made", "accepted"),
        ("first_meeting", "in_progress"),
        ("hold", "on_hold"),
        ("resume", "in_progress"),
        ("complete", "completed"),
    ]
    assert care_view["history"][2]["text"] == "no driver"
    assert (care_view["contact_made_on"], care_view["accompanied_by"]) == (today(), "volunteer")
    first_view = client.get(f"/partner/referrals/{referral_id}", headers=partner(first)).json()
    assert first_view["status"] == "declined"
    assert first_view["first_meeting_on"] is None  # not the decliner's business


def test_a_partner_lists_its_referrals_newest_first_filtered_by_status_and_paged(
    client: TestClient, clock: FakeClock
) -> None:
    org = uuid4()
    older = offered(client, org, uuid4())
    clock.advance(timedelta(minutes=10))
    newer = offered(client, org)
    step(client, older, org, "decline", {"reason": "no_capacity"})

    def listed(query: str = "") -> tuple[list[str], int]:
        response = client.get(f"/partner/referrals{query}", headers=partner(org))
        assert response.status_code == 200, response.text
        page = response.json()
        return [r["id"] for r in page["data"]], page["total"]

    assert listed() == ([str(newer), str(older)], 2)
    assert listed("?status=declined") == ([str(older)], 1)
    assert listed("?status=offered&limit=1") == ([str(newer)], 1)
    assert listed("?offset=1&limit=1") == ([str(older)], 2)
    problem(client.get("/partner/referrals?status=lost", headers=partner(org)), 422)


# --- refusals -----------------------------------------------------------------------------


def test_a_step_in_the_wrong_state_answers_409_and_changes_nothing(client: TestClient) -> None:
    org = uuid4()
    referral_id = offered(client, org)
    for name in ("resume", "hold", "contact-made", "complete"):
        problem(step(client, referral_id, org, name, STEP_BODIES[name]), 409)
    assert step(client, referral_id, org, "accept").status_code == 200
    for name in ("accept", "decline", "resume"):
        problem(step(client, referral_id, org, name, STEP_BODIES[name]), 409)
    assert step(client, referral_id, org, "complete", STEP_BODIES["complete"]).status_code == 200
    cancel = {"reason": "duplicate"}
    problem(client.post(f"/referrals/{referral_id}/cancel", json=cancel, headers=CARE), 409)
    service = service_changed()
    directory_announces(client, service)
    assign = {"service_id": str(service.service_id), "reason": "try again"}
    problem(client.post(f"/referrals/{referral_id}/assign", json=assign, headers=OPERATOR), 409)
    assert status_of(client, referral_id) == "completed"


def test_the_wrong_role_or_organisation_answers_403_and_changes_nothing(
    client: TestClient,
) -> None:
    first, second = uuid4(), uuid4()
    referral_id = offered(client, first, second)
    problem(client.get(f"/partner/referrals/{referral_id}", headers=CARE), 403)
    problem(client.post(f"/partner/referrals/{referral_id}/accept", headers=OPERATOR), 403)
    problem(client.get("/escalations", headers=partner(first)), 403)
    problem(client.get(f"/referrals/{referral_id}", headers=partner(first)), 403)
    cancel = {"reason": "duplicate"}
    problem(
        client.post(f"/referrals/{referral_id}/cancel", json=cancel, headers=partner(first)), 403
    )
    assign = {"service_id": str(uuid4()), "reason": "x"}
    problem(client.post(f"/referrals/{referral_id}/assign", json=assign, headers=CARE), 403)
    step(client, referral_id, first, "decline", {"reason": "no_capacity"})
    # Offered to `second` now: `first` still sees the referral, but may not answer for it.
    problem(step(client, referral_id, first, "accept"), 403)
    assert status_of(client, referral_id) == "offered"


@pytest.mark.parametrize(
    ("state", "path", "body"),
    [
        ("offered", "decline", {"reason": "other"}),
        ("in_progress", "hold", {"reason": "other"}),
        ("accepted", "fail", {"reason": "other"}),
        ("offered", "cancel", {"reason": "other"}),
    ],
)
def test_the_reason_other_without_a_text_answers_422(
    client: TestClient, state: str, path: str, body: dict[str, Any]
) -> None:
    org = uuid4()
    referral_id = offered(client, org)
    if state != "offered":
        step(client, referral_id, org, "accept")
    if state == "in_progress":
        step(client, referral_id, org, "first-meeting", STEP_BODIES["first-meeting"])
    if path == "cancel":
        response = client.post(f"/referrals/{referral_id}/cancel", json=body, headers=CARE)
    else:
        response = step(client, referral_id, org, path, body)
    [error] = problem(response, 422)["errors"]
    assert (error["location"], "`text`" in error["message"]) == ("body", True)
    assert status_of(client, referral_id) == state


@pytest.mark.parametrize(
    ("name", "day"),
    [
        ("contact-made", (NOW + timedelta(days=1)).date()),
        ("first-meeting", (NOW + timedelta(days=1)).date()),
        ("contact-made", (NOW - timedelta(days=1)).date()),
    ],
    ids=["contact-in-future", "meeting-in-future", "contact-before-acceptance"],
)
def test_a_day_in_the_future_or_before_the_acceptance_answers_422(
    client: TestClient, name: str, day: object
) -> None:
    org = uuid4()
    referral_id = offered(client, org)
    step(client, referral_id, org, "accept")
    field = "contacted_on" if name == "contact-made" else "met_on"
    body = {**STEP_BODIES[name], field: str(day)}
    problem(step(client, referral_id, org, name, body), 422)
    view = client.get(f"/referrals/{referral_id}", headers=OPERATOR).json()
    assert (view["status"], view["contact_made_on"]) == ("accepted", None)


# --- care systems and operators -----------------------------------------------------------


def test_a_care_system_cancels_its_referral_while_offered_and_the_offer_is_withdrawn(
    client: TestClient,
) -> None:
    org = uuid4()
    referral_id = offered(client, org)
    cancel = {"reason": "need_met_otherwise"}
    other = auth_header(Role.CARE_SYSTEM, subject="care-2")
    problem(client.post(f"/referrals/{referral_id}/cancel", json=cancel, headers=other), 404)
    assert status_of(client, referral_id) == "offered"
    response = client.post(f"/referrals/{referral_id}/cancel", json=cancel, headers=CARE)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert [o["status"] for o in response.json()["offers"]] == ["withdrawn"]
    seen = client.get(f"/partner/referrals/{referral_id}", headers=partner(org)).json()
    assert seen["status"] == "withdrawn"


def test_an_operator_reads_any_care_systems_referral(client: TestClient) -> None:
    referral_id = submit(client)
    other = auth_header(Role.CARE_SYSTEM, subject="care-2")
    problem(client.get(f"/referrals/{referral_id}", headers=other), 404)
    response = client.get(f"/referrals/{referral_id}", headers=OPERATOR)
    assert response.status_code == 200
    assert response.json()["id"] == str(referral_id)


def test_an_operator_assigns_only_to_a_service_directory_announced_and_not_closed(
    client: TestClient,
) -> None:
    referral_id = submit(client)
    directory_finds_nothing(client, referral_id)
    closed, open_ = service_changed(status="inactive"), service_changed(free_places=0)
    for service in (closed, open_):
        directory_announces(client, service)
    path = f"/referrals/{referral_id}/assign"
    for service_id in (uuid4(), closed.service_id):
        body = {"service_id": str(service_id), "reason": "she asked for it"}
        problem(client.post(path, json=body, headers=OPERATOR), 422)
    assert status_of(client, referral_id) == "escalated"

    body = {"service_id": str(open_.service_id), "reason": "she asked for it"}
    response = client.post(path, json=body, headers=OPERATOR)
    assert response.status_code == 200, response.text
    assigned = response.json()
    assert (assigned["status"], assigned["offered_organization_id"], assigned["escalation"]) == (
        "offered",
        str(open_.organization_id),
        None,
    )
    assert assigned["history"][-1]["text"] == "she asked for it"
    seen = client.get(f"/partner/referrals/{referral_id}", headers=partner(open_.organization_id))
    assert seen.json()["status"] == "offered"


def test_operators_list_escalations_oldest_first_with_why_by_district_and_page(
    client: TestClient, clock: FakeClock
) -> None:
    oldest = submit(client, district="Østerbro")
    directory_finds_nothing(client, oldest)
    clock.advance(timedelta(minutes=1))
    org = uuid4()
    declined = offered(client, org, district="Nørrebro")
    step(client, declined, org, "decline", {"reason": "no_capacity"})
    clock.advance(timedelta(minutes=1))
    newest = submit(client, district="Østerbro")
    directory_finds_nothing(client, newest)
    submit(client, district="Østerbro")  # waiting for directory: not escalated

    def listed(query: str = "") -> tuple[list[tuple[str, str]], int]:
        response = client.get(f"/escalations{query}", headers=OPERATOR)
        assert response.status_code == 200, response.text
        page = response.json()
        return [(r["id"], r["escalation"]["reason"]) for r in page["data"]], page["total"]

    assert listed() == (
        [(str(oldest), "no_match"), (str(declined), "all_declined"), (str(newest), "no_match")],
        3,
    )
    assert listed("?district=ØSTERBRO") == (
        [(str(oldest), "no_match"), (str(newest), "no_match")],
        2,
    )
    assert listed("?district=østerbro&offset=1&limit=1") == ([(str(newest), "no_match")], 2)
    problem(client.get("/escalations?limit=0", headers=OPERATOR), 422)
