"""The authorization matrix's machinery: the callers, the classes of answer, the resources
the cells are about (made through the APIs, as their owners would make them), and the run
over every cell. The expected answers themselves are written out in
tests/e2e/test_authorization_matrix.py."""

from __future__ import annotations

import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, Final, Literal
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import httpx

from directory import demo
from directory.hsds.brobygger import PLACES_UNIT_ID
from directory.hsds.vocabulary import Taxonomy, term_id
from referrals.fhir import codes
from runtime.auth import Role
from tests.e2e.referrals import copenhagen_day, fast_referrals, referral
from tests.e2e.system import System, free_places_of
from tests.e2e.webhook_receiver import WebhookReceiver
from tests.kit import wait_for
from tools import SERVICES

X = demo.NORREBRO_WALKING_GROUP_ORG_ID
"""Offered every walking referral from Nørrebro in Danish while its walking group has room."""
Y = demo.VALBY_VOLUNTEER_CAFE_ORG_ID
"""Never offered one: neither its interests nor its district fit."""
Z = demo.RED_CROSS_VISITING_FRIEND_ORG_ID
"""Offered those X declines (directory ranks it second); no caller of the matrix, it only
takes over referrals, so that X's former ones are held by another organisation."""
WALKING_SERVICE = demo.NORREBRO_WALKING_GROUP_SERVICE_ID
PLACES = (WALKING_SERVICE, demo.VISITING_FRIEND_SERVICE_ID)
"""The services of X and Z whose free places the matrix's referrals take for a while."""
NO_COMMUNITY = "no-such-community"
"""An interest no service has: a referral with only this one is escalated."""
WAIT_SECONDS = 20
FAST_REFERRALS = fast_referrals(1_000_000) | {"REFERRALS_FOLLOW_UP_AFTER_DAYS": "[1, 2]"}
"""referrals' settings for the cells about a follow-up: only a clock running fast lets one
fall due during a test, here a day after the first meeting, within a second of it."""
CONSENT_TO_FOLLOW_UP = {**referral()["consent"], "follow_up_questions": True}
PROBLEM_JSON = "application/problem+json"
FHIR_JSON = "application/fhir+json"
"""What FHIR's errors come as: OperationOutcomes."""


class Caller(StrEnum):
    NONE = "no token"
    CARE_A = "care system A"
    CARE_B = "care system B"
    PARTNER_X = "partner of X"
    PARTNER_Y = "partner of Y"
    OPERATOR = "operator"
    REVIEWER = "reviewer"


MATRIX_REVIEWER = "matrix-reviewer"
"""The reviewer's token subject: assigned to applications of Y's only, never to X's."""
OUTSIDERS = frozenset({Caller.NONE, Caller.CARE_B, Caller.PARTNER_Y, Caller.REVIEWER})
"""Callers owning none of the matrix's resources: no answer to them may show any."""

VOLUNTEER = {"name": "Lise Holm", "email": "lise@example.org", "language": "da"}
APPLICATION: dict[str, Any] = {
    "organization": {
        "name": "Ældre Sagen Nørrebro",
        "cvr": "29470405",
        "legal_form": "association",
        "municipality_code": 101,
        "board_unpaid": True,
    },
    "title": "Gågruppe om tirsdagen",
    "description": "En ugentlig gåtur for ældre, der sidder meget alene.",
    "amount_dkk": 15_000,
    "budget_lines": [{"label": "Kaffe og kage", "amount_dkk": 15_000}],
    "target_groups": ["older_people"],
    "districts": ["Nørrebro"],
    "expected_participants": 12,
    "starts_on": "2027-03-01",
    "ends_on": "2027-12-31",
    "contact_name": "Karen Ølgaard",
    "contact_email": "karen@example.dk",
}
"""X's application, with every field the full form asks (the matrix's pools have no short
form), from a non-profit the eligibility check passes."""
GRANT_REVIEWERS = ("matrix-grant-reviewer-1", "matrix-grant-reviewer-2")
"""The two reviewers a full-form application of X's needs before it is decided: not the
matrix's reviewer, who must never be assigned to X's."""
GRANTED_DKK = 1_000
"""What the matrix grants each application of X's it decides: a part of what it asks, so
that the many grants the cells need fit in the pool's budget."""
SPENT_DKK = 600
"""What X reports it spent of a grant: the rest (`GRANTED_DKK - SPENT_DKK`) is claimed back."""

OK: Final = "2xx"
Expected = Literal["2xx", 401, 403, 404]


def row(
    none: Expected,
    care_a: Expected,
    care_b: Expected,
    partner_x: Expected,
    partner_y: Expected,
    operator: Expected,
    reviewer: Expected,
) -> dict[Caller, Expected]:
    """One line of the matrix, in the order of `Caller`."""
    answers = (none, care_a, care_b, partner_x, partner_y, operator, reviewer)
    return dict(zip(Caller, answers, strict=True))


def answer_class(status: int) -> str:
    return OK if 200 <= status < 300 else str(status)


@dataclass(frozen=True)
class Call:
    """What one cell sends: path parameters, body, headers, query; `then` sees the answer."""

    path: Mapping[str, object] = field(default_factory=dict)
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str | int] = field(default_factory=dict)
    then: Callable[[Caller, httpx.Response], None] | None = None


def no_call(_world: World) -> Call:
    return Call()


@dataclass(frozen=True)
class Case:
    """The cells of one operation on one resource: the answer each caller gets."""

    resource: str
    expected: dict[Caller, Expected]
    call: Callable[[World], Call] = no_call
    fresh: bool = False
    """A 2xx answer changes the resource for good (a step, a cancellation): each caller
    expected to succeed gets a resource of its own; the others share one, untouched."""
    fast_referrals: bool = False
    """Asked while referrals runs with `FAST_REFERRALS`: it is restarted so before the case
    (and back before the next case that is not)."""


Operation = tuple[str, str]
"""(method, path template), as the OpenAPI document names it."""
Table = Mapping[str, Mapping[Operation, list[Case]]]
"""Per service, every operation's cases."""


def copenhagen_today() -> str:
    return datetime.now(ZoneInfo("Europe/Copenhagen")).date().isoformat()


class SetupFailed(Exception):
    """A resource a cell needs could not be made through the APIs."""


class World:
    """The tokens of every caller and the resources the cells are about, made on demand.

    Referrals are submitted by care system A and offered to X by the running system, a few
    at a time (so their round trips through Kafka overlap). Every referral a case used is
    cancelled when the case ends, so that no place stays taken: a full walking group would
    no longer be offered the next referral."""

    def __init__(self, system: System, receiver: WebhookReceiver) -> None:
        self.system = system
        self.receiver = receiver
        self.clients = {
            service: httpx.Client(base_url=system.url(service), timeout=10) for service in SERVICES
        }
        self.tokens = {
            Caller.CARE_A: system.token(Role.CARE_SYSTEM, subject="matrix-care-a"),
            Caller.CARE_B: system.token(Role.CARE_SYSTEM, subject="matrix-care-b"),
            Caller.PARTNER_X: system.token(
                Role.PARTNER, subject="matrix-partner-x", organization_id=X
            ),
            Caller.PARTNER_Y: system.token(
                Role.PARTNER, subject="matrix-partner-y", organization_id=Y
            ),
            Caller.OPERATOR: system.token(Role.OPERATOR, subject="matrix-operator"),
            Caller.REVIEWER: system.token(Role.REVIEWER, subject=MATRIX_REVIEWER),
        }
        self._z_token = system.token(Role.PARTNER, subject="matrix-partner-z", organization_id=Z)
        self.referrals_of: dict[Caller, list[str]] = {Caller.CARE_A: [], Caller.CARE_B: []}
        self.x_webhook_secrets: list[str] = []
        self.x_webhook_ids: list[str] = []
        self._x_webhook: str | None = None
        self._ready: defaultdict[str, deque[str]] = defaultdict(deque)
        self._fast = False
        self._touched: list[str] = []
        self._x_location: dict[str, Any] | None = None
        self._application_pool: str | None = None
        self.x_application_ids: list[str] = []
        self.x_granted_ids: set[str] = set()
        self._x_service: dict[str, Any] | None = None
        self.places_before = self.free_places()

    # --- talking to the services -------------------------------------------------------

    def send(
        self, caller: Caller, service: str, method: str, path: str, call: Call
    ) -> httpx.Response:
        token = self.tokens.get(caller)
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        return self.clients[service].request(
            method,
            path.format(**call.path),
            json=call.json,
            params=dict(call.params),
            headers={**auth, **call.headers},
        )

    def ok(self, caller: Caller, service: str, method: str, path: str, **call: Any) -> Any:
        """A setup step that must succeed; its answer's JSON."""
        response = self.send(caller, service, method, path, Call(**call))
        if not response.is_success:
            raise SetupFailed(f"{caller} {method} {path}: {response.status_code} {_gist(response)}")
        return response.json() if response.content else None

    def close(self) -> list[str]:
        """Give back what the matrix took: referrals with its own settings again, its
        referrals cancelled, the webhook endpoints removed; wait until the services of X and
        Z have their free places back (the next tests count them). What went wrong, if
        anything."""
        self.use_fast_referrals(False)
        problems = self.release(everything=True)
        for owner in (Caller.CARE_A, Caller.CARE_B, Caller.PARTNER_X, Caller.PARTNER_Y):
            listed = self.send(owner, "notifications", "GET", "/webhooks", Call())
            for endpoint in listed.json()["data"] if listed.is_success else []:
                path = f"/webhooks/{endpoint['id']}"
                response = self.send(owner, "notifications", "DELETE", path, Call())
                if response.status_code not in (204, 404):
                    problems.append(f"removing a webhook of {owner}: {response.status_code}")
        try:
            wait_for(
                lambda: self.free_places() == self.places_before,
                f"the free places of X's and Z's services to be back at {self.places_before}",
                WAIT_SECONDS,
            )
        except AssertionError as error:
            problems.append(f"{error} (they are {self.free_places()})")
        for client in self.clients.values():
            client.close()
        return problems

    def release(self, *, everything: bool = False) -> list[str]:
        """Cancel (as an operator) the referrals handed out since the last release, or
        every one the matrix submitted; those already closed answer 409."""
        if everything:
            ids = [i for made in self.referrals_of.values() for i in made]
        else:
            ids = self._touched
        problems = []
        for referral_id in dict.fromkeys(ids):
            response = self.send(
                Caller.OPERATOR,
                "referrals",
                "POST",
                "/referrals/{referral_id}/cancel",
                Call(path={"referral_id": referral_id}, json={"reason": "entered_in_error"}),
            )
            if response.status_code not in (200, 409):
                problems.append(f"cancelling referral {referral_id}: {response.status_code}")
        self._touched = []
        return problems

    def use_fast_referrals(self, fast: bool) -> None:
        """Restart referrals with `FAST_REFERRALS` (or without), unless it runs so already.
        The referrals made ready under the other clock are dropped: offers made under the
        real clock lapse under the fast one, and a day a partner reports must not be before
        the referral was accepted, on whichever calendar accepted it."""
        if fast != self._fast:
            self.system.restart("referrals", **(FAST_REFERRALS if fast else {}))
            self._fast = fast
            self._ready.clear()

    def free_places(self) -> list[int]:
        return [
            free_places_of(self.ok(Caller.NONE, "directory", "GET", f"/services/{service}"))
            for service in PLACES
        ]

    # --- referrals ---------------------------------------------------------------------

    def submission(self) -> Call:
        """A new referral's submission, remembered as the submitting care system's."""
        return Call(
            json=referral(),
            headers={"Idempotency-Key": str(uuid4())},
            then=self._keep_submitted,
        )

    def fhir_submission(self) -> Call:
        """A new referral's submission as a FHIR ServiceRequest (with an identifier of its
        own), remembered as the submitting care system's."""
        return Call(json=service_request(str(uuid4())), then=self._keep_submitted)

    def _keep_submitted(self, caller: Caller, response: httpx.Response) -> None:
        if response.is_success and caller in self.referrals_of:
            self.referrals_of[caller].append(response.json()["id"])
            self._touched.append(response.json()["id"])

    def offered(self) -> str:
        """A referral of A's, offered to X and not answered."""
        return self._take("offered", "offered", referral(), batch=8, offered_organization_id=str(X))

    def escalated(self) -> str:
        """A referral of A's that nothing fits, waiting for an operator."""
        return self._take("escalated", "escalated", referral(interests=[NO_COMMUNITY]), batch=4)

    def _take(
        self, kind: str, status: str, body: dict[str, Any], batch: int, **expected: str
    ) -> str:
        """One of the referrals of `kind` made ready, all submitted with `body` and waited
        for until `status` (and `expected`); a `batch` more of them when none is left."""
        ready = self._ready[kind]
        if not ready:
            made = [
                self.ok(
                    Caller.CARE_A,
                    "referrals",
                    "POST",
                    "/referrals",
                    json=body,
                    headers={"Idempotency-Key": str(uuid4())},
                )["id"]
                for _ in range(batch)
            ]
            self.referrals_of[Caller.CARE_A].extend(made)
            for referral_id in made:
                self._wait_status(referral_id, status, **expected)
            ready.extend(made)
        referral_id = ready.popleft()
        self._touched.append(referral_id)
        return referral_id

    def _wait_status(self, referral_id: str, status: str, **expected: str) -> None:
        self._wait_until(
            referral_id,
            f"to be {status} {expected}",
            lambda seen: (
                seen["status"] == status and all(seen[k] == v for k, v in expected.items())
            ),
        )

    def _wait_until(
        self, referral_id: str, what: str, reached: Callable[[dict[str, Any]], bool]
    ) -> None:
        """Until the referral, as an operator reads it, is as `reached` wants it."""
        seen: dict[str, Any] = {}

        def check() -> bool:
            seen.update(self.as_operator(referral_id))
            return reached(seen)

        try:
            wait_for(check, f"referral {referral_id} {what}", WAIT_SECONDS)
        except AssertionError as error:
            raise SetupFailed(
                f"{error}; it is {seen.get('status')}, offered to "
                f"{seen.get('offered_organization_id')}; X's and Z's services have "
                f"{self.free_places()} free places"
            ) from error

    def as_operator(self, referral_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.ok(
            Caller.OPERATOR, "referrals", "GET", f"/referrals/{referral_id}"
        )
        return found

    def _x_steps(self, referral_id: str, *steps: tuple[str, dict[str, Any] | None]) -> str:
        for step, body in steps:
            self.ok(
                Caller.PARTNER_X,
                "referrals",
                "POST",
                f"/partner/referrals/{referral_id}/{step}",
                json=body,
            )
        return referral_id

    def accepted(self) -> str:
        """A referral of A's, accepted by X: X holds one of its walking group's places."""
        return self._x_steps(self.offered(), ("accept", None))

    def offered_to_z(self) -> str:
        """A referral of A's that X declined, offered to Z next."""
        referral_id = self._x_steps(self.offered(), ("decline", {"reason": "not_suitable"}))
        self._wait_status(referral_id, "offered", offered_organization_id=str(Z))
        return referral_id

    def held_by_z(self) -> str:
        """A referral of A's that X declined and Z, offered it next, accepted."""
        referral_id = self.offered_to_z()
        response = self.clients["referrals"].post(
            f"/partner/referrals/{referral_id}/accept",
            headers={"Authorization": f"Bearer {self._z_token}"},
        )
        if not response.is_success:
            raise SetupFailed(
                f"Z accepting {referral_id}: {response.status_code} {_gist(response)}"
            )
        return referral_id

    def in_progress(self) -> str:
        return self._x_steps(
            self.accepted(),
            ("first-meeting", {"met_on": copenhagen_today(), "accompanied_by": "nobody"}),
        )

    def on_hold(self) -> str:
        return self._x_steps(self.in_progress(), ("hold", {"reason": "citizen_away"}))

    def follow_up_due(self) -> str:
        """A referral of A's (the citizen consented to follow-up questions) in progress at
        X, its first follow-up due. Only while referrals runs with `FAST_REFERRALS`: X met
        the citizen on the day it accepted, by referrals' calendar."""
        referral_id = self._take(
            "offered, consenting to follow-up questions",
            "offered",
            referral(consent=CONSENT_TO_FOLLOW_UP),
            batch=2,
            offered_organization_id=str(X),
        )
        self._x_steps(referral_id, ("accept", None))
        accepted_on = copenhagen_day(self.as_operator(referral_id)["offers"][-1]["answered_at"])
        self._x_steps(
            referral_id, ("first-meeting", {"met_on": accepted_on, "accompanied_by": "nobody"})
        )
        self._wait_until(
            referral_id,
            "to have its first follow-up due",
            lambda seen: seen["follow_ups"][0]["fell_due_at"] is not None,
        )
        return referral_id

    # --- directory ---------------------------------------------------------------------

    def x_location(self) -> dict[str, Any]:
        """A location of X's own, made by X (as HSDS has it): what its cells change is
        no demo location's."""
        if self._x_location is None:
            document = new_location()
            self.ok(Caller.PARTNER_X, "directory", "POST", "/locations", json=document)
            self._x_location = document
        return self._x_location

    def x_service(self) -> dict[str, Any]:
        """A service of X's own at X's own location, made by X (as HSDS has it): closed, so
        that it is never offered anything."""
        if self._x_service is None:
            document = new_service(self.x_location()["id"])
            self.ok(Caller.PARTNER_X, "directory", "POST", "/services", json=document)
            self._x_service = document
        return self._x_service

    # --- grants ------------------------------------------------------------------------

    def pool_opening(self) -> Call:
        """A pool opening today, so that it is opened (and every partner told) at once."""
        today = date.fromisoformat(copenhagen_today())
        return Call(
            json={
                "name": f"Matrixpuljen {uuid4().hex[:8]}",
                "description": "",
                "budget_dkk": 100_000,
                "opens_on": today.isoformat(),
                "closes_on": (today + timedelta(days=60)).isoformat(),
                "criteria": "Nye fællesskaber for ældre, der sidder meget alene.",
            },
            headers={"Idempotency-Key": str(uuid4())},
        )

    def pool(self) -> tuple[str, str]:
        """A grant pool an operator opened just now: its id and name."""
        opening = self.pool_opening()
        made = self.ok(
            Caller.OPERATOR, "grants", "POST", "/pools", json=opening.json, headers=opening.headers
        )
        return str(made["id"]), str(made["name"])

    def application_pool(self) -> str:
        """A pool taking applications today, made once: the one X applies to."""
        if self._application_pool is None:
            self._application_pool = self.pool()[0]
        return self._application_pool

    def application_drafting(self) -> Call:
        """A new draft of the caller's to the application pool; X's is remembered as X's."""
        return Call(
            path={"pool_id": self.application_pool()},
            json=APPLICATION,
            headers={"Idempotency-Key": str(uuid4())},
            then=self._keep_x_application,
        )

    def _keep_x_application(self, caller: Caller, response: httpx.Response) -> None:
        if caller is Caller.PARTNER_X and response.is_success:
            self.x_application_ids.append(response.json()["id"])

    def x_draft(self, **organization: Any) -> str:
        """A draft application of X's (its declaration changed by `organization`)."""
        body = {**APPLICATION, "organization": {**APPLICATION["organization"], **organization}}
        made = self.ok(
            Caller.PARTNER_X,
            "grants",
            "POST",
            f"/pools/{self.application_pool()}/applications",
            json=body,
            headers={"Idempotency-Key": str(uuid4())},
        )
        self.x_application_ids.append(str(made["id"]))
        return str(made["id"])

    def x_rejected(self) -> str:
        """An application of X's, declared a company, which the eligibility check rejected
        at submission."""
        application_id = self.x_draft(legal_form="company")
        self.ok(Caller.PARTNER_X, "grants", "POST", f"/applications/{application_id}/submit")
        return application_id

    def screened(self, caller: Caller = Caller.PARTNER_X) -> str:
        """An application of the caller's organisation (X's is remembered as X's) that
        passed the eligibility check at submission."""
        made = self.ok(
            caller,
            "grants",
            "POST",
            f"/pools/{self.application_pool()}/applications",
            json=APPLICATION,
            headers={"Idempotency-Key": str(uuid4())},
        )
        application_id = str(made["id"])
        if caller is Caller.PARTNER_X:
            self.x_application_ids.append(application_id)
        self.ok(caller, "grants", "POST", f"/applications/{application_id}/submit")
        return application_id

    def in_review(self, caller: Caller, reviewer: str) -> str:
        """A screened application of the caller's organisation, `reviewer` assigned to it."""
        application_id = self.screened(caller)
        self.ok(
            Caller.OPERATOR,
            "grants",
            "POST",
            f"/applications/{application_id}/reviewers",
            json={"subjects": [reviewer]},
        )
        return application_id

    def x_in_review(self) -> str:
        """An application of X's in review by another reviewer than the matrix's."""
        return self.in_review(Caller.PARTNER_X, "another-reviewer")

    def y_in_review(self) -> str:
        """An application of Y's in review by the matrix's reviewer, who has not declared:
        Y's, since the matrix's reviewer is one of those who must never see X's."""
        return self.in_review(Caller.PARTNER_Y, MATRIX_REVIEWER)

    def y_declared(self) -> str:
        """An application of Y's whose reviewer, the matrix's, declared no conflict."""
        application_id = self.y_in_review()
        self.ok(
            Caller.REVIEWER,
            "grants",
            "POST",
            f"/applications/{application_id}/conflict-declaration",
            json={"conflict": False},
        )
        return application_id

    def x_reviewed(self) -> str:
        """An application of X's in review with the two reviews its full form needs."""
        application_id = self.screened()
        path = f"/applications/{application_id}"
        self.ok(
            Caller.OPERATOR,
            "grants",
            "POST",
            f"{path}/reviewers",
            json={"subjects": list(GRANT_REVIEWERS)},
        )
        score = {"scores": [{"criterion": "fit", "score": 4, "comment": "God."}]}
        for subject in GRANT_REVIEWERS:
            token = self.system.token(Role.REVIEWER, subject=subject)
            for step, body in (("conflict-declaration", {"conflict": False}), ("reviews", score)):
                response = self.clients["grants"].post(
                    f"{path}/{step}", json=body, headers={"Authorization": f"Bearer {token}"}
                )
                if not response.is_success:
                    raise SetupFailed(
                        f"{subject} {step} {application_id}: "
                        f"{response.status_code} {_gist(response)}"
                    )
        return application_id

    def grant_deciding(self) -> Call:
        """The operator's batch deciding a new application of X's with its reviews, in the
        pool X applies to; once decided, a grant of X's."""
        application_id = self.x_reviewed()

        def keep(_caller: Caller, response: httpx.Response) -> None:
            if response.is_success:
                self.x_granted_ids.add(application_id)

        return Call(
            path={"pool_id": self.application_pool()},
            json=grant_decision(application_id),
            then=keep,
        )

    def x_granted(self) -> str:
        """An application of X's granted `GRANTED_DKK`, its agreement not yet accepted."""
        application_id = self.x_reviewed()
        self.ok(
            Caller.OPERATOR,
            "grants",
            "POST",
            f"/pools/{self.application_pool()}/decisions",
            json=grant_decision(application_id),
        )
        self.x_granted_ids.add(application_id)
        return application_id

    def x_agreed(self) -> str:
        """A grant of X's whose agreement X accepted."""
        application_id = self.x_granted()
        self.ok(Caller.PARTNER_X, "grants", "POST", f"/applications/{application_id}/agreement")
        return application_id

    def x_paid(self) -> str:
        """A grant of X's paid in full."""
        application_id = self.x_agreed()
        self.ok(
            Caller.OPERATOR,
            "grants",
            "POST",
            f"/applications/{application_id}/payments",
            json=payment(GRANTED_DKK),
        )
        return application_id

    def x_reported(self) -> str:
        """A paid grant of X's that X reported on, having spent `SPENT_DKK` of it: the rest
        is claimed back."""
        application_id = self.x_paid()
        self.ok(
            Caller.PARTNER_X,
            "grants",
            "POST",
            f"/applications/{application_id}/report",
            json=grant_report(SPENT_DKK),
        )
        return application_id

    # --- notifications -----------------------------------------------------------------

    def inbox(self, caller: Caller) -> list[dict[str, Any]]:
        found = self.ok(caller, "notifications", "GET", "/inbox", params={"limit": 200})
        messages: list[dict[str, Any]] = found["data"]
        return messages

    def _message(self, reader: Caller, what: str, fits: Callable[[dict[str, Any]], bool]) -> str:
        def found() -> str:
            return next((str(m["id"]) for m in self.inbox(reader) if fits(m)), "")

        try:
            message_id: str = wait_for(found, what, WAIT_SECONDS)
        except AssertionError as error:
            raise SetupFailed(str(error)) from error
        return message_id

    def x_message(self) -> str:
        """A message for X alone: the offer of a referral of A's."""
        referral_id = self.offered()
        return self._message(
            Caller.PARTNER_X,
            f"X's inbox to hold the offer of {referral_id}",
            lambda m: m["kind"] == "referral_offered" and m["referral_id"] == referral_id,
        )

    def operators_message(self) -> str:
        """A message for the operators: a referral of A's escalated."""
        referral_id = self.escalated()
        return self._message(
            Caller.OPERATOR,
            f"the operators' inbox to hold the escalation of {referral_id}",
            lambda m: m["kind"] == "referral_escalated" and m["referral_id"] == referral_id,
        )

    def broadcast_message(self) -> str:
        """A message for every partner: a grant pool opened."""
        _, name = self.pool()
        return self._message(
            Caller.PARTNER_X,
            f"the partners' inbox to announce pool {name}",
            lambda m: m["kind"] == "pool_opened" and name in m["text"],
        )

    def webhook_registration(self) -> Call:
        """A new endpoint of the caller's."""
        return Call(json={"url": self.receiver.url}, then=self._keep_x_secret)

    def _keep_x_secret(self, caller: Caller, response: httpx.Response) -> None:
        if caller is Caller.PARTNER_X and response.is_success:
            self.x_webhook_secrets.append(response.json()["secret"])
            self.x_webhook_ids.append(response.json()["id"])

    def x_volunteer(self) -> Call:
        """A volunteer of X's."""
        volunteer = self.ok(
            Caller.PARTNER_X, "notifications", "POST", "/partner/volunteers", json=VOLUNTEER
        )
        return Call(path={"volunteer_id": volunteer["id"]}, json={"active": True})

    def x_webhook(self) -> Call:
        """An endpoint of X's, made once."""
        if self._x_webhook is None:
            self._x_webhook = self._new_x_webhook()
        return Call(path={"webhook_id": self._x_webhook})

    def x_webhook_change(self) -> Call:
        """An endpoint of X's, and a change that leaves it as it is."""
        return Call(path=self.x_webhook().path, json={"enabled": True})

    def x_webhook_rotation(self) -> Call:
        """An endpoint of X's; the new secret a rotation shows X is kept as X's too."""
        return Call(path=self.x_webhook().path, then=self._keep_x_secret)

    def x_new_webhook(self) -> Call:
        """An endpoint of X's of its own (for a removal)."""
        return Call(path={"webhook_id": self._new_x_webhook()})

    def _new_x_webhook(self) -> str:
        added = self.ok(
            Caller.PARTNER_X, "notifications", "POST", "/webhooks", json={"url": self.receiver.url}
        )
        self.x_webhook_secrets.append(added["secret"])
        self.x_webhook_ids.append(added["id"])
        return str(added["id"])

    # --- what outsiders must never see -------------------------------------------------

    def owned(self) -> dict[str, str]:
        """Every value that identifies something of A's or X's: what it is, by value."""
        owned = {i: "referrals of care system A" for i in self.referrals_of[Caller.CARE_A]}
        for message in self.inbox(Caller.PARTNER_X):
            if message["organization_id"] == str(X):
                owned[message["id"]] = "messages of X's inbox"
        owned.update({s: "X's webhook secrets" for s in self.x_webhook_secrets})
        owned.update({i: "X's webhook endpoints" for i in self.x_webhook_ids})
        # A grant's id is public (GET /awards names each grant by its application's id).
        unawarded = (i for i in self.x_application_ids if i not in self.x_granted_ids)
        owned.update({i: "X's grant applications" for i in unawarded})
        return owned


def grant_decision(application_id: str) -> dict[str, Any]:
    """A batch granting an application of X's `GRANTED_DKK`, a part of what it asks."""
    return {
        "decisions": [
            {
                "application_id": application_id,
                "outcome": "partly_approved",
                "amount_dkk": GRANTED_DKK,
                "reasons": "En god idé; puljen rækker til en del af den.",
            }
        ]
    }


def payment(amount_dkk: int) -> dict[str, Any]:
    """An operator's record of a payment of a grant, paid today."""
    return {"amount_dkk": amount_dkk, "paid_on": copenhagen_today(), "reference": "MATRIX-UDB"}


def grant_report(spent_dkk: int) -> dict[str, Any]:
    """X's report on a grant of which it spent `spent_dkk`."""
    return {"participants": 12, "activities": 30, "spent_dkk": spent_dkk, "summary": ""}


def repayment(amount_dkk: int) -> dict[str, Any]:
    """An operator's record of money paid back, today."""
    return {"amount_dkk": amount_dkk, "repaid_on": copenhagen_today(), "reference": "MATRIX-IND"}


def new_location(organization_id: UUID = X, **fields: Any) -> dict[str, Any]:
    """A location of X's (unless another organisation is given) as a writer sends it to
    directory (HSDS 3.0's `location` nested with its address): in Nørrebro, some 300 m from
    the district's centre, with new ids for it and its address."""
    return {
        "id": str(uuid4()),
        "location_type": "physical",
        "organization_id": str(organization_id),
        "name": "Autorisationslokalet",
        "latitude": 55.6932,
        "longitude": 12.5488,
        "addresses": [
            {
                "id": str(uuid4()),
                "address_1": "Nørrebrogade 52",
                "city": "København N",
                "region": "Nørrebro",
                "state_province": "Region Hovedstaden",
                "postal_code": "2200",
                "country": "DK",
                "address_type": "physical",
            }
        ],
        **fields,
    }


def new_service(
    location_id: str,
    organization_id: UUID = X,
    *,
    status: str = "inactive",
    interests: tuple[str, ...] = ("faith",),
    places: tuple[int, int] = (1, 1),
    **fields: Any,
) -> dict[str, Any]:
    """A service of X's (unless another organisation is given) at `location_id`, as a writer
    sends it to directory (HSDS 3.0's `service`, Brobygger's profile): Tuesdays and
    Thursdays 10-12, in Danish, about `interests` (terms of Brobygger's vocabulary), with
    `places` (free, in all) in the unit of places; new ids for it and what it is made of.
    Closed unless `status` says otherwise: then it changes no referral's matching."""
    free, maximum = places
    return {
        "id": str(uuid4()),
        "organization_id": str(organization_id),
        "name": "Autorisationsprøven",
        "description": "Made by the end-to-end tests.",
        "status": status,
        "service_at_locations": [{"id": str(uuid4()), "location_id": location_id}],
        "schedules": [
            {
                "id": str(uuid4()),
                "freq": "WEEKLY",
                "byday": "TU,TH",
                "opens_at": "10:00",
                "closes_at": "12:00",
            }
        ],
        "languages": [{"id": str(uuid4()), "code": "da", "name": "Danish"}],
        "attributes": [
            {
                "id": str(uuid4()),
                "link_type": str(Taxonomy.INTERESTS),
                "link_entity": "service",
                "taxonomy_term_id": str(term_id(Taxonomy.INTERESTS, interest)),
            }
            for interest in interests
        ],
        "capacities": [
            {
                "id": str(uuid4()),
                "unit_id": str(PLACES_UNIT_ID),
                "available": free,
                "maximum": maximum,
                "updated": datetime.now(UTC).isoformat(),
            }
        ],
        **fields,
    }


def service_request(identifier: str) -> dict[str, Any]:
    """The matrix's referral as a care system sends it to FHIR (`POST /fhir/ServiceRequest`):
    the test citizen, to walk in Nørrebro, in Danish, with consent to be referred; the care
    record's `identifier` makes it a new one."""
    citizen = referral()["citizen"]
    family, given = citizen["name"].split()[-1], citizen["name"].split()[:-1]
    return {
        "resourceType": "ServiceRequest",
        "identifier": [{"system": "urn:oid:1.2.208.176.1.9.99", "value": identifier}],
        "status": "active",
        "intent": "order",
        "category": [{"coding": [{"system": codes.SDOH_CATEGORIES, "code": "social-connection"}]}],
        "code": {"coding": [{"system": codes.SNOMED, "code": codes.SOCIAL_ISOLATION}]},
        "orderDetail": [{"coding": [{"system": codes.DIRECTORY_INTERESTS, "code": "walking"}]}],
        "subject": {"reference": "#citizen"},
        "supportingInfo": [{"reference": "#consent"}],
        "contained": [
            {
                "resourceType": "Patient",
                "id": "citizen",
                "identifier": [{"system": codes.CPR, "value": citizen["personal_number"]}],
                "name": [{"family": family, "given": given}],
                "address": [{"district": "Nørrebro"}],
                "communication": [
                    {"language": {"coding": [{"system": codes.BCP47, "code": "da"}]}}
                ],
            },
            {
                "resourceType": "Consent",
                "id": "consent",
                "status": "active",
                "scope": {"coding": [{"system": codes.CONSENT_SCOPES, "code": "patient-privacy"}]},
                "category": [{"coding": [{"system": codes.ACT_CODES, "code": "IDSCL"}]}],
                "patient": {"reference": "#citizen"},
                "dateTime": "2026-11-20",
                "provision": {
                    "provision": [
                        {
                            "type": "permit",
                            "purpose": [{"system": codes.CONSENT_PURPOSE, "code": codes.REFERRAL}],
                        }
                    ]
                },
            },
        ],
    }


# --- the run ------------------------------------------------------------------------------


def documented_operations(world: World, service: str) -> set[Operation]:
    document = world.ok(Caller.NONE, service, "GET", "/openapi.json")
    return {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
        if method in {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
    }


@dataclass
class Report:
    cells: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        per_service = ", ".join(f"{s} {self.cells[s]}" for s in SERVICES)
        lines = [
            f"authorization matrix: {sum(self.cells.values())} cells ({per_service}), "
            f"{len(self.failures)} failures, {self.seconds:.1f} s",
            *(f"  FAIL {failure}" for failure in self.failures),
        ]
        return "\n".join(lines)


def run_matrix(system: System, table: Table) -> Report:
    """Every cell of `table` against the running system, and every documented operation
    the table lacks (or lists but no document has) as a failure naming it."""
    started = time.monotonic()
    report = Report()
    receiver = WebhookReceiver()
    world = World(system, receiver)
    seen_by_outsiders: list[tuple[str, str]] = []
    try:
        for service in SERVICES:
            documented = documented_operations(world, service)
            entries = table.get(service, {})
            for method, path in sorted(documented - entries.keys()):
                report.failures.append(f"{service} {method} {path}: no entry in the matrix")
            for method, path in sorted(entries.keys() - documented):
                report.failures.append(f"{service} {method} {path}: not in the document")
            for (method, path), cases in entries.items():
                if (method, path) not in documented:
                    continue
                for case in cases:
                    where = f"{service} {method} {path} [{case.resource}]"
                    answers = _run_case(world, service, method, path, case, where, report)
                    seen_by_outsiders += answers
                    report.failures += world.release()
        owned = world.owned()
        for where, text in seen_by_outsiders:
            shown = Counter(what for value, what in owned.items() if value in text)
            if shown:
                found = ", ".join(f"{what} ({count})" for what, count in shown.items())
                report.failures.append(f"{where}: shows {found}")
    finally:
        report.failures += world.close()
        receiver.close()
        report.seconds = time.monotonic() - started
    return report


def _run_case(
    world: World, service: str, method: str, path: str, case: Case, where: str, report: Report
) -> list[tuple[str, str]]:
    """Each caller's cell of `case`; the 2xx answers outsiders got, to look for leaks."""
    shared: Call | None = None
    broken: str | None = None
    seen: list[tuple[str, str]] = []
    world.use_fast_referrals(case.fast_referrals)
    error_type = FHIR_JSON if path.startswith("/fhir/") else PROBLEM_JSON
    for caller, expected in case.expected.items():
        report.cells[service] += 1
        cell = f"{where} {caller}"
        if broken is not None:
            report.failures.append(f"{cell}: no resource to ask about ({broken})")
            continue
        try:
            if case.fresh and expected == OK:
                call = case.call(world)
            else:
                shared = case.call(world) if shared is None else shared
                call = shared
        except (SetupFailed, KeyError) as error:
            broken = f"{type(error).__name__}: {error}"
            report.failures.append(f"{cell}: no resource to ask about ({broken})")
            continue
        response = world.send(caller, service, method, path, call)
        got = answer_class(response.status_code)
        if got != str(expected):
            report.failures.append(f"{cell}: expected {expected}, got {got}: {_gist(response)}")
        elif got != OK and response.headers.get("content-type") != error_type:
            report.failures.append(f"{cell}: {got} is not {error_type}")
        if call.then is not None:
            call.then(caller, response)
        if response.is_success and caller in OUTSIDERS:
            seen.append((cell, response.text))
    return seen


def _gist(response: httpx.Response) -> str:
    """What an unexpected answer was about: a problem's detail, or only the names of the
    fields a success showed (they may hold the test citizen's identity)."""
    try:
        body = response.json()
    except ValueError:
        return f"{len(response.content)} bytes"
    if not response.is_success and isinstance(body, dict):
        return str(body.get("detail", ""))[:200]
    if isinstance(body, dict):
        return "fields " + ", ".join(sorted(body))
    return type(body).__name__
