"""Object-level authorization, proven: every operation of the four services' OpenAPI
documents, asked by every kind of caller about resources of their own and of others, on the
running system. The answer class each cell must get is written out below, by hand, not
derived from the code under test; an operation a document has and this table lacks fails.

A is the care system that submitted the referrals; X is the organisation they are offered
to (the demo Nørrebro walking group's), Y another demo organisation; Z takes over what X
declines, so that X must be refused about referrals it no longer holds. Requests are valid,
so each answer is about who asks, not what. Besides the class of each answer, no success
answered to a caller who owns nothing (no token, B, Y, the reviewer) may name a referral of
A's, a message of X's, X's webhook endpoints or secrets, or X's grant applications."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest

from directory import demo
from directory.hsds.vocabulary import Taxonomy, taxonomy_id, term_id
from tests.e2e.matrix import (
    GRANTED_DKK,
    NO_COMMUNITY,
    OK,
    SPENT_DKK,
    VOLUNTEER,
    WALKING_SERVICE,
    Call,
    Caller,
    Case,
    Table,
    World,
    X,
    copenhagen_today,
    grant_report,
    new_location,
    new_service,
    no_call,
    payment,
    repayment,
    row,
    run_matrix,
)
from tests.e2e.referrals import PERSONAL_NUMBER, referral
from tests.e2e.system import System

pytestmark = pytest.mark.infra

OFFERED = "A's referral, offered to X"
ACCEPTED = "A's referral, accepted by X"
IN_PROGRESS = "A's referral, in progress at X"
ON_HOLD = "A's referral, on hold at X"
ESCALATED = "A's referral, escalated: nothing fits"
OFFERED_TO_Z = "A's referral, declined by X, offered to Z"
HELD_BY_Z = "A's referral, declined by X, accepted by Z"
FOLLOW_UP_DUE = "A's referral, in progress at X, its first follow-up due"


def step(
    state: Callable[[World], str], body: Callable[[], dict[str, Any]] | None = None
) -> Callable[[World], Call]:
    """A call about a referral in `state`, with `body` (made when the call is)."""
    return lambda world: Call(path={"referral_id": state(world)}, json=body() if body else None)


def decline() -> dict[str, Any]:
    return {"reason": "no_capacity"}


def contact_made() -> dict[str, Any]:
    return {"contacted_on": copenhagen_today()}


def volunteer() -> dict[str, Any]:
    return {"volunteer_id": str(uuid4())}


def first_meeting() -> dict[str, Any]:
    return {"met_on": copenhagen_today(), "accompanied_by": "volunteer"}


def hold() -> dict[str, Any]:
    return {"reason": "citizen_ill"}


def complete() -> dict[str, Any]:
    return {"outcome_note": "Går med hver tirsdag."}


def fail() -> dict[str, Any]:
    return {"reason": "citizen_not_interested"}


def participation() -> dict[str, Any]:
    return {"status": "taking_part", "times_last_month": 3}


def wellbeing() -> dict[str, Any]:
    return {
        "ucla3": {"lack_companionship": 2, "left_out": 1, "isolated": 2},
        "who5": {"cheerful": 3, "calm": 3, "active": 2, "rested": 3, "interested": 4},
    }


def first_follow_up(
    state: Callable[[World], str], body: Callable[[], dict[str, Any]]
) -> Callable[[World], Call]:
    """An answer to the first follow-up of a referral in `state`."""
    return lambda world: Call(path={"referral_id": state(world), "number": 1}, json=body())


def listing(make: Callable[[World], object]) -> Callable[[World], Call]:
    """A list read, once `make` has put something of A's or X's in it."""

    def call(world: World) -> Call:
        make(world)
        return Call(params={"limit": 200})

    return call


def fhir_read(state: Callable[[World], str]) -> Callable[[World], Call]:
    """A FHIR read of a referral in `state`: its resource's id is the referral's."""
    return lambda world: Call(path={"resource_id": state(world)})


def tasks(world: World) -> Call:
    """FHIR's search of Tasks, a referral of A's among them (FHIR's own paging parameter)."""
    world.offered()
    return Call(params={"_count": 200})


def outcomes_today(_world: World) -> Call:
    today = copenhagen_today()
    return Call(params={"from": today, "to": today})


def x_has_a_webhook(world: World) -> Call:
    """A list read, once X has an endpoint (which no one else's list may show)."""
    world.x_webhook()
    return Call()


def message(find: Callable[[World], str]) -> Callable[[World], Call]:
    return lambda world: Call(path={"message_id": find(world)})


def pool(world: World) -> Call:
    pool_id, _ = world.pool()
    return Call(path={"pool_id": pool_id})


X_DRAFT = "a draft application of X's"
X_REJECTED = "an application of X's the eligibility check rejected"
X_IN_REVIEW = "an application of X's in review, the reviewer not assigned"
Y_IN_REVIEW = "an application of Y's in review by the reviewer, who has not declared"
Y_DECLARED = "an application of Y's whose reviewer declared no conflict of interest"


X_REVIEWED = "an application of X's in review with the reviews it needs"
X_GRANTED = "a grant of X's, decided"
X_AGREED = "a grant of X's, its agreement accepted"
X_PAID = "a grant of X's, paid"
X_REPORTED = "a grant of X's, reported on with money unspent"


def application_pool(make: Callable[[World], str]) -> Callable[[World], Call]:
    """A call about the pool X applies to, once `make` has put an application of X's in it."""

    def call(world: World) -> Call:
        make(world)
        return Call(path={"pool_id": world.application_pool()})

    return call


def application(
    state: Callable[[World], str], body: dict[str, Any] | None = None
) -> Callable[[World], Call]:
    """A call about an application of X's in `state`, with `body`."""
    return lambda world: Call(path={"application_id": state(world)}, json=body)


def declaration(state: Callable[[World], str]) -> Callable[[World], Call]:
    return application(state, {"conflict": False})


def review(state: Callable[[World], str]) -> Callable[[World], Call]:
    """Scores for the matrix pool's rubric, the default one."""
    return application(state, {"scores": [{"criterion": "fit", "score": 4, "comment": "God."}]})


NEW_ORGANIZATION = {
    "name": "Autorisationsforeningen",
    "description": "Made by the authorization matrix.",
    "email": "kontakt@matrix.example",
}
X_ORGANIZATION = {
    "name": demo.AELDRE_SAGEN_NORREBRO.name,
    "description": demo.AELDRE_SAGEN_NORREBRO.description,
    "email": demo.AELDRE_SAGEN_NORREBRO.email,
    "website": demo.AELDRE_SAGEN_NORREBRO.website,
}
"""X's organisation as the demo has it: written again, it stays as it was."""


def x_organization(**call: Any) -> Callable[[World], Call]:
    return lambda _: Call(path={"id": X}, **call)


def x_location(*, whole: bool = False, **call: Any) -> Callable[[World], Call]:
    """A call about X's own location; `whole`: with the location as it was made."""

    def about(world: World) -> Call:
        location = world.x_location()
        return Call(path={"id": location["id"]}, **({"json": location} if whole else call))

    return about


def x_service(*, whole: bool = False, **call: Any) -> Callable[[World], Call]:
    """A call about X's own (closed) service; `whole`: with the service as it was made."""

    def about(world: World) -> Call:
        service = world.x_service()
        return Call(path={"id": service["id"]}, **({"json": service} if whole else call))

    return about


def identity_read(world: World) -> Call:
    return Call(path={"referral_id": world.offered()}, params={"purpose": "escalation"})


def contact_read(world: World) -> str:
    """A referral of A's accepted by X, whose contact details X has read: an audited read."""
    referral_id = world.accepted()
    world.ok(Caller.PARTNER_X, "referrals", "GET", f"/partner/referrals/{referral_id}/contact")
    return referral_id


def unmet_need_today(world: World) -> Call:
    """Today's unmet need, an escalated referral of A's (nothing fits it) counted in it."""
    world.escalated()
    today = copenhagen_today()
    return Call(params={"from": today, "to": today})


def erasure_of_a_citizen_of_its_own(world: World) -> Call:
    """The erasure of a citizen of the cell's own, never the shared test citizen: referred by A
    just now (to nothing that fits, so no offer and no place), and not among the referrals the
    matrix cancels afterwards (erased, they answer 410)."""
    personal_number = PERSONAL_NUMBER
    while personal_number == PERSONAL_NUMBER:
        born = f"{random.randint(1, 28):02d}{random.randint(1, 12):02d}{random.randint(30, 55)}"
        personal_number = f"{born}-{random.randint(0, 3999):04d}"  # 7th digit 0-3: the 1900s
    citizen = {"personal_number": personal_number, "name": "Matrix Borger"}
    world.ok(
        Caller.CARE_A,
        "referrals",
        "POST",
        "/referrals",
        json=referral(citizen=citizen, interests=[NO_COMMUNITY]),
        headers={"Idempotency-Key": str(uuid4())},
    )
    return Call(json={"personal_number": personal_number, "legal_basis": "gdpr_art17_request"})


def same_for_everyone(resource: str, call: Callable[[World], Call] = no_call) -> list[Case]:
    """What anyone may read: every service's health, readiness and AsyncAPI documents,
    directory's HSDS API (its reads are the city's public overview), and grants' pools and
    awards (published terms and public spending)."""
    #                         none A   B   X   Y   op  reviewer
    return [Case(resource, row(OK, OK, OK, OK, OK, OK, OK), call)]


# Columns: no token, care system A, care system B, partner of X, partner of Y, operator,
# reviewer.
MATRIX: Table = {
    "referrals": {
        ("GET", "/health"): same_for_everyone("liveness"),
        ("GET", "/ready"): same_for_everyone("readiness"),
        ("GET", "/asyncapi.json"): same_for_everyone("the AsyncAPI document"),
        ("POST", "/referrals"): [
            Case(
                "a new referral of the caller's",
                row(401, OK, OK, 403, 403, 403, 403),
                lambda world: world.submission(),
                fresh=True,
            )
        ],
        ("GET", "/referrals/{referral_id}"): [
            Case(OFFERED, row(401, OK, 404, 403, 403, OK, 403), step(World.offered))
        ],
        ("POST", "/referrals/{referral_id}/cancel"): [
            Case(
                OFFERED,
                row(401, OK, 404, 403, 403, OK, 403),
                step(World.offered, lambda: {"reason": "entered_in_error"}),
                fresh=True,
            ),
            Case(
                ACCEPTED,
                row(401, OK, 404, 403, 403, OK, 403),
                step(World.accepted, lambda: {"reason": "citizen_moved"}),
                fresh=True,
            ),
        ],
        ("GET", "/partner/referrals"): [
            Case(
                "the referrals offered to the caller's organisation",
                row(401, 403, 403, OK, OK, 403, 403),
                listing(World.offered),
            )
        ],
        ("GET", "/partner/referrals/{referral_id}"): [
            Case(OFFERED, row(401, 403, 403, OK, 404, 403, 403), step(World.offered)),
            Case(HELD_BY_Z, row(401, 403, 403, OK, 404, 403, 403), step(World.held_by_z)),
        ],
        ("GET", "/partner/referrals/{referral_id}/contact"): [
            Case(ACCEPTED, row(401, 403, 403, OK, 404, 403, 403), step(World.accepted)),
            Case(OFFERED, row(401, 403, 403, 403, 404, 403, 403), step(World.offered)),
            Case(HELD_BY_Z, row(401, 403, 403, 403, 404, 403, 403), step(World.held_by_z)),
        ],
        ("GET", "/partner/referrals/{referral_id}/note"): [
            Case(ACCEPTED, row(401, 403, 403, OK, 404, 403, 403), step(World.accepted)),
            Case(OFFERED, row(401, 403, 403, 403, 404, 403, 403), step(World.offered)),
            Case(HELD_BY_Z, row(401, 403, 403, 403, 404, 403, 403), step(World.held_by_z)),
        ],
        ("POST", "/partner/referrals/{referral_id}/accept"): [
            Case(OFFERED, row(401, 403, 403, OK, 404, 403, 403), step(World.offered), fresh=True),
            Case(OFFERED_TO_Z, row(401, 403, 403, 403, 404, 403, 403), step(World.offered_to_z)),
        ],
        ("POST", "/partner/referrals/{referral_id}/decline"): [
            Case(
                OFFERED,
                row(401, 403, 403, OK, 404, 403, 403),
                step(World.offered, decline),
                fresh=True,
            ),
            Case(
                OFFERED_TO_Z,
                row(401, 403, 403, 403, 404, 403, 403),
                step(World.offered_to_z, decline),
            ),
        ],
        ("POST", "/partner/referrals/{referral_id}/contact-made"): [
            Case(
                ACCEPTED,
                row(401, 403, 403, OK, 404, 403, 403),
                step(World.accepted, contact_made),
                fresh=True,
            ),
            Case(
                HELD_BY_Z,
                row(401, 403, 403, 403, 404, 403, 403),
                step(World.held_by_z, contact_made),
            ),
        ],
        ("POST", "/partner/referrals/{referral_id}/volunteer"): [
            Case(
                ACCEPTED,
                row(401, 403, 403, OK, 404, 403, 403),
                step(World.accepted, volunteer),
                fresh=True,
            ),
            Case(
                HELD_BY_Z,
                row(401, 403, 403, 403, 404, 403, 403),
                step(World.held_by_z, volunteer),
            ),
        ],
        ("POST", "/partner/referrals/{referral_id}/first-meeting"): [
            Case(
                ACCEPTED,
                row(401, 403, 403, OK, 404, 403, 403),
                step(World.accepted, first_meeting),
                fresh=True,
            ),
            Case(
                HELD_BY_Z,
                row(401, 403, 403, 403, 404, 403, 403),
                step(World.held_by_z, first_meeting),
            ),
        ],
        ("POST", "/partner/referrals/{referral_id}/hold"): [
            Case(
                IN_PROGRESS,
                row(401, 403, 403, OK, 404, 403, 403),
                step(World.in_progress, hold),
                fresh=True,
            )
        ],
        ("POST", "/partner/referrals/{referral_id}/resume"): [
            Case(ON_HOLD, row(401, 403, 403, OK, 404, 403, 403), step(World.on_hold), fresh=True)
        ],
        ("POST", "/partner/referrals/{referral_id}/complete"): [
            Case(
                IN_PROGRESS,
                row(401, 403, 403, OK, 404, 403, 403),
                step(World.in_progress, complete),
                fresh=True,
            ),
            Case(
                HELD_BY_Z, row(401, 403, 403, 403, 404, 403, 403), step(World.held_by_z, complete)
            ),
        ],
        ("POST", "/partner/referrals/{referral_id}/fail"): [
            Case(
                ACCEPTED,
                row(401, 403, 403, OK, 404, 403, 403),
                step(World.accepted, fail),
                fresh=True,
            ),
            Case(HELD_BY_Z, row(401, 403, 403, 403, 404, 403, 403), step(World.held_by_z, fail)),
        ],
        # The follow-ups' cells one after the other: referrals is restarted with a fast
        # clock for those that need a follow-up due, and back once for the rest.
        ("POST", "/partner/referrals/{referral_id}/follow-ups/{number}"): [
            Case(
                HELD_BY_Z,
                row(401, 403, 403, 403, 404, 403, 403),
                first_follow_up(World.held_by_z, participation),
            ),
            Case(
                FOLLOW_UP_DUE,
                row(401, 403, 403, OK, 404, 403, 403),
                first_follow_up(World.follow_up_due, participation),
                fresh=True,
                fast_referrals=True,
            ),
        ],
        ("POST", "/referrals/{referral_id}/follow-ups/{number}"): [
            Case(
                FOLLOW_UP_DUE,
                row(401, OK, 404, 403, 403, 403, 403),
                first_follow_up(World.follow_up_due, wellbeing),
                fresh=True,
                fast_referrals=True,
            ),
        ],
        ("GET", "/referrals/changes"): [
            Case(
                "the care system's changes, of a referral of A's among them",
                row(401, OK, OK, 403, 403, OK, 403),
                listing(World.offered),
            )
        ],
        ("GET", "/reports/outcomes"): [
            Case("today's outcomes", row(401, 403, 403, OK, OK, OK, 403), outcomes_today)
        ],
        ("POST", "/fhir/ServiceRequest"): [
            Case(
                "a new referral of the caller's, as FHIR",
                row(401, OK, OK, 403, 403, 403, 403),
                lambda world: world.fhir_submission(),
                fresh=True,
            )
        ],
        ("GET", "/fhir/ServiceRequest/{resource_id}"): [
            Case(OFFERED, row(401, OK, 404, 403, 403, OK, 403), fhir_read(World.offered))
        ],
        ("GET", "/fhir/Task/{resource_id}"): [
            Case(OFFERED, row(401, OK, 404, 403, 403, OK, 403), fhir_read(World.offered))
        ],
        ("GET", "/fhir/Task"): [
            Case(
                "the care system's Tasks, a referral of A's among them",
                row(401, OK, OK, 403, 403, OK, 403),
                tasks,
            )
        ],
        ("GET", "/fhir/metadata"): [
            Case("the CapabilityStatement", row(401, OK, OK, 403, 403, OK, 403)),
        ],
        ("GET", "/escalations"): [
            Case(
                "the escalated referrals",
                row(401, 403, 403, 403, 403, OK, 403),
                listing(World.escalated),
            )
        ],
        ("POST", "/referrals/{referral_id}/assign"): [
            Case(
                ESCALATED,
                row(401, 403, 403, 403, 403, OK, 403),
                step(
                    World.escalated,
                    lambda: {"service_id": str(WALKING_SERVICE), "reason": "De går tæt på."},
                ),
                fresh=True,
            )
        ],
        ("POST", "/referrals/{referral_id}/consent/withdraw"): [
            Case(OFFERED, row(401, OK, 404, 403, 403, OK, 403), step(World.offered), fresh=True)
        ],
        ("GET", "/referrals/{referral_id}/citizen"): [
            Case(OFFERED, row(401, 403, 403, 403, 403, OK, 403), identity_read),
        ],
        ("POST", "/citizens/erasure"): [
            Case(
                "a citizen of the cell's own, referred by A",
                row(401, 403, 403, 403, 403, OK, 403),
                erasure_of_a_citizen_of_its_own,
                fresh=True,
            )
        ],
        ("GET", "/audit"): [
            Case(
                "the audit log, X's read of a contact among it",
                row(401, 403, 403, 403, 403, OK, 403),
                listing(contact_read),
            )
        ],
    },
    "directory": {
        ("GET", "/"): same_for_everyone("the HSDS API root"),
        ("GET", "/health"): same_for_everyone("liveness"),
        ("GET", "/ready"): same_for_everyone("readiness"),
        ("GET", "/asyncapi.json"): same_for_everyone("the AsyncAPI document"),
        ("GET", "/organizations"): same_for_everyone("every organisation"),
        ("POST", "/organizations"): [
            Case(
                "a new organisation",
                row(401, 403, 403, 403, 403, OK, 403),
                lambda _: Call(json=NEW_ORGANIZATION),
            )
        ],
        ("GET", "/organizations/{id}"): same_for_everyone("X's organisation", x_organization()),
        ("PUT", "/organizations/{id}"): [
            Case(
                "X's organisation, as it is",
                row(401, 403, 403, OK, 403, OK, 403),
                x_organization(json=X_ORGANIZATION),
            )
        ],
        ("PATCH", "/organizations/{id}"): [
            Case(
                "X's organisation, its description as it is",
                row(401, 403, 403, OK, 403, OK, 403),
                x_organization(json={"description": X_ORGANIZATION["description"]}),
            )
        ],
        ("POST", "/locations"): [
            Case(
                "a new location of X's",
                row(401, 403, 403, OK, 403, OK, 403),
                lambda _: Call(json=new_location()),
                fresh=True,
            )
        ],
        ("GET", "/locations/{id}"): same_for_everyone("X's location", x_location()),
        ("PUT", "/locations/{id}"): [
            Case(
                "X's location, as it is",
                row(401, 403, 403, OK, 403, OK, 403),
                x_location(whole=True),
            )
        ],
        ("PATCH", "/locations/{id}"): [
            Case(
                "X's location",
                row(401, 403, 403, OK, 403, OK, 403),
                x_location(json={"description": "Bag gården, 1. sal."}),
            )
        ],
        ("GET", "/services"): same_for_everyone("every service"),
        ("POST", "/services"): [
            Case(
                "a new service of X's, at X's location",
                row(401, 403, 403, OK, 403, OK, 403),
                lambda world: Call(json=new_service(world.x_location()["id"])),
                fresh=True,
            )
        ],
        ("GET", "/services/{id}"): same_for_everyone("X's service", x_service()),
        ("PUT", "/services/{id}"): [
            Case(
                "X's service, as it is",
                row(401, 403, 403, OK, 403, OK, 403),
                x_service(whole=True),
            )
        ],
        ("PATCH", "/services/{id}"): [
            Case(
                "X's service",
                row(401, 403, 403, OK, 403, OK, 403),
                x_service(json={"description": "Aldrig."}),
            )
        ],
        ("GET", "/service_at_locations"): same_for_everyone("every service at a location"),
        ("GET", "/service_at_locations/{id}"): same_for_everyone(
            "X's service at X's location",
            lambda world: Call(path={"id": world.x_service()["service_at_locations"][0]["id"]}),
        ),
        ("GET", "/taxonomies"): same_for_everyone("every taxonomy"),
        ("GET", "/taxonomies/{id}"): same_for_everyone(
            "Brobygger's interests", lambda _: Call(path={"id": taxonomy_id(Taxonomy.INTERESTS)})
        ),
        ("GET", "/taxonomy_terms"): same_for_everyone("every taxonomy term"),
        ("GET", "/taxonomy_terms/{id}"): same_for_everyone(
            "the interest walking",
            lambda _: Call(path={"id": term_id(Taxonomy.INTERESTS, "walking")}),
        ),
        ("GET", "/reports/unmet-need"): [
            Case(
                "today's unmet need, an escalated referral of A's among it",
                row(401, 403, 403, 403, 403, OK, 403),
                unmet_need_today,
            )
        ],
    },
    "grants": {
        ("GET", "/health"): same_for_everyone("liveness"),
        ("GET", "/ready"): same_for_everyone("readiness"),
        ("GET", "/asyncapi.json"): same_for_everyone("the AsyncAPI document"),
        ("POST", "/pools"): [
            Case(
                "a new grant pool",
                row(401, 403, 403, 403, 403, OK, 403),
                lambda world: world.pool_opening(),
                fresh=True,
            )
        ],
        ("GET", "/pools"): same_for_everyone("every grant pool"),
        ("GET", "/pools/{pool_id}"): same_for_everyone("an open grant pool", pool),
        ("POST", "/pools/{pool_id}/close"): [
            Case("an open grant pool", row(401, 403, 403, 403, 403, OK, 403), pool, fresh=True),
        ],
        ("POST", "/pools/{pool_id}/applications"): [
            Case(
                "a new application of the caller's organisation, to an open pool",
                row(401, 403, 403, OK, OK, 403, 403),
                lambda world: world.application_drafting(),
                fresh=True,
            )
        ],
        ("GET", "/applications"): [
            Case(
                "the applications the caller may see, a draft of X's among them",
                row(401, 403, 403, OK, OK, OK, 403),
                listing(World.x_draft),
            )
        ],
        ("GET", "/applications/{application_id}"): [
            Case(X_DRAFT, row(401, 403, 403, OK, 404, OK, 404), application(World.x_draft)),
            Case(X_REJECTED, row(401, 403, 403, OK, 404, OK, 404), application(World.x_rejected)),
            Case(Y_IN_REVIEW, row(401, 403, 403, 404, OK, OK, 403), application(World.y_in_review)),
            Case(Y_DECLARED, row(401, 403, 403, 404, OK, OK, OK), application(World.y_declared)),
        ],
        ("PATCH", "/applications/{application_id}"): [
            Case(
                X_DRAFT,
                row(401, 403, 403, OK, 404, 403, 403),
                application(World.x_draft, {"title": "Gågruppe om torsdagen"}),
            )
        ],
        ("POST", "/applications/{application_id}/submit"): [
            Case(
                X_DRAFT,
                row(401, 403, 403, OK, 404, 403, 403),
                application(World.x_draft),
                fresh=True,
            )
        ],
        ("POST", "/applications/{application_id}/withdraw"): [
            Case(
                X_DRAFT,
                row(401, 403, 403, OK, 404, 403, 403),
                application(World.x_draft),
                fresh=True,
            )
        ],
        ("POST", "/applications/{application_id}/eligibility-override"): [
            Case(
                X_REJECTED,
                row(401, 403, 403, 403, 403, OK, 403),
                application(World.x_rejected, {"note": "Foreningen er ved at skifte form."}),
                fresh=True,
            )
        ],
        ("POST", "/applications/{application_id}/reviewers"): [
            Case(
                "a screened application of X's",
                row(401, 403, 403, 403, 403, OK, 403),
                application(World.screened, {"subjects": ["another-reviewer"]}),
                fresh=True,
            )
        ],
        ("POST", "/applications/{application_id}/conflict-declaration"): [
            Case(
                X_IN_REVIEW, row(401, 403, 403, 403, 403, 403, 404), declaration(World.x_in_review)
            ),
            Case(
                Y_IN_REVIEW,
                row(401, 403, 403, 403, 403, 403, OK),
                declaration(World.y_in_review),
                fresh=True,
            ),
        ],
        ("POST", "/applications/{application_id}/reviews"): [
            Case(X_IN_REVIEW, row(401, 403, 403, 403, 403, 403, 404), review(World.x_in_review)),
            Case(
                Y_DECLARED,
                row(401, 403, 403, 403, 403, 403, OK),
                review(World.y_declared),
                fresh=True,
            ),
        ],
        ("GET", "/pools/{pool_id}/ranking"): [
            Case(
                f"the pool X applies to, {X_REVIEWED} in it",
                row(401, 403, 403, 403, 403, OK, 403),
                application_pool(World.x_reviewed),
            )
        ],
        ("POST", "/pools/{pool_id}/decisions"): [
            Case(
                X_REVIEWED,
                row(401, 403, 403, 403, 403, OK, 403),
                lambda world: world.grant_deciding(),
                fresh=True,
            )
        ],
        ("GET", "/pools/{pool_id}/budget"): [
            Case(
                f"the pool X applies to, {X_GRANTED} in it",
                row(401, 403, 403, 403, 403, OK, 403),
                application_pool(World.x_granted),
            )
        ],
        ("POST", "/applications/{application_id}/agreement"): [
            Case(
                X_GRANTED,
                row(401, 403, 403, OK, 404, 403, 403),
                application(World.x_granted),
                fresh=True,
            )
        ],
        ("POST", "/applications/{application_id}/payments"): [
            Case(
                X_AGREED,
                row(401, 403, 403, 403, 403, OK, 403),
                application(World.x_agreed, payment(GRANTED_DKK)),
                fresh=True,
            )
        ],
        ("POST", "/applications/{application_id}/report"): [
            Case(
                X_PAID,
                row(401, 403, 403, OK, 404, 403, 403),
                application(World.x_paid, grant_report(SPENT_DKK)),
                fresh=True,
            )
        ],
        ("POST", "/applications/{application_id}/repayments"): [
            Case(
                X_REPORTED,
                row(401, 403, 403, 403, 403, OK, 403),
                application(World.x_reported, repayment(GRANTED_DKK - SPENT_DKK)),
                fresh=True,
            )
        ],
        ("GET", "/awards"): same_for_everyone("every grant awarded, the demo's among them"),
        ("GET", "/awards/360giving.json"): same_for_everyone(
            "every grant awarded as a 360Giving package, the demo's among them"
        ),
    },
    "notifications": {
        ("GET", "/health"): same_for_everyone("liveness"),
        ("GET", "/ready"): same_for_everyone("readiness"),
        ("GET", "/asyncapi.json"): same_for_everyone("the AsyncAPI document"),
        ("GET", "/inbox"): [
            Case(
                "the caller's inbox",
                row(401, 403, 403, OK, OK, OK, 403),
                listing(World.x_message),
            )
        ],
        ("POST", "/inbox/{message_id}/read"): [
            Case(
                "a message to X: an offer",
                row(401, 403, 403, OK, 404, 404, 403),
                message(World.x_message),
            ),
            Case(
                "a message to the operators: an escalation",
                row(401, 403, 403, 404, 404, OK, 403),
                message(World.operators_message),
            ),
            Case(
                "a message to every partner: a grant pool opened",
                row(401, 403, 403, OK, OK, 404, 403),
                message(World.broadcast_message),
            ),
        ],
        ("POST", "/webhooks"): [
            Case(
                "a new endpoint of the caller's",
                row(401, OK, OK, OK, OK, 403, 403),
                lambda world: world.webhook_registration(),
            )
        ],
        ("GET", "/webhooks"): [
            Case(
                "the caller's endpoints, X having one",
                row(401, OK, OK, OK, OK, 403, 403),
                x_has_a_webhook,
            )
        ],
        ("GET", "/webhooks/{webhook_id}"): [
            Case("an endpoint of X's", row(401, 404, 404, OK, 404, 403, 403), World.x_webhook)
        ],
        ("PATCH", "/webhooks/{webhook_id}"): [
            Case(
                "an endpoint of X's", row(401, 404, 404, OK, 404, 403, 403), World.x_webhook_change
            )
        ],
        ("DELETE", "/webhooks/{webhook_id}"): [
            Case(
                "an endpoint of X's",
                row(401, 404, 404, OK, 404, 403, 403),
                World.x_new_webhook,
                fresh=True,
            )
        ],
        ("POST", "/webhooks/{webhook_id}/rotate-secret"): [
            Case(
                "an endpoint of X's",
                row(401, 404, 404, OK, 404, 403, 403),
                World.x_webhook_rotation,
            )
        ],
        ("GET", "/partner/volunteers"): [
            Case("the caller's volunteers", row(401, 403, 403, OK, OK, 403, 403), lambda _: Call())
        ],
        ("POST", "/partner/volunteers"): [
            Case(
                "a new volunteer",
                row(401, 403, 403, OK, OK, 403, 403),
                lambda _: Call(json=VOLUNTEER),
            )
        ],
        ("GET", "/partner/volunteers/{volunteer_id}"): [
            Case("a volunteer of X's", row(401, 403, 403, OK, 404, 403, 403), World.x_volunteer)
        ],
        ("PATCH", "/partner/volunteers/{volunteer_id}"): [
            Case("a volunteer of X's", row(401, 403, 403, OK, 404, 403, 403), World.x_volunteer)
        ],
        ("GET", "/preferences"): [
            Case("the caller's own", row(401, OK, OK, OK, OK, OK, 403), lambda _: Call())
        ],
        ("PUT", "/preferences"): [
            Case(
                "the caller's own",
                row(401, OK, OK, OK, OK, OK, 403),
                lambda _: Call(json={"language": "en"}),
            )
        ],
        ("GET", "/deliveries"): [
            Case(
                "every delivery, X's among them",
                row(401, 403, 403, 403, 403, OK, 403),
                listing(World.x_message),
            )
        ],
    },
}


def test_every_caller_gets_the_answer_of_the_matrix_from_every_documented_operation(
    system: System,
) -> None:
    report = run_matrix(system, MATRIX)
    print(report.summary())
    assert not report.failures, report.summary()
