"""The money of a grant over HTTP: an operator ranks a pool's reviewed applications, decides
them in batch within its budget and reads the budget; the organisation accepts its agreement
and reports; operators record payments and repayments. Every refusal is problem+json, echoes
nothing of the request and changes nothing."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from runtime.auth import Role
from tests.grants import test_grants_api as pools_api
from tests.grants.test_grants_api import OPERATOR, event_types, open_pool
from tests.grants.test_grants_application_api import (
    PARTNER_X,
    PARTNER_Y,
    SHORT,
    assert_problem,
    drafting,
)
from tests.kit import auth_header

database_url, clock, client, engine = (
    pools_api.database_url,
    pools_api.clock,
    pools_api.client,
    pools_api.engine,
)
RUBRIC = [{"name": "reach", "weight": 3}, {"name": "feasibility", "weight": 1}]
SECRET = "Hemmelig-begrundelse-4471"
"""Words of a request that no refusal may echo."""
FULL_FORM = {
    "target_groups": ["older_people"],
    "districts": ["Nørrebro"],
    "expected_participants": 12,
    "starts_on": "2026-06-01",
    "ends_on": "2026-12-31",
}
"""What an application above the pool's short-form limit (25 000 kroner) fills in besides."""
REPORT_DUE = "2027-06-01"
"""The default day of the pools' reports: 1 June of the year after they close (2026)."""
REVIEWER = auth_header(Role.REVIEWER, subject="reviewer-1")
DECIDED = "application.decided.v1"


def pool(client: TestClient, **changes: Any) -> str:
    """An open pool whose reviewers score RUBRIC."""
    return str(open_pool(client, rubric=RUBRIC, **changes)["id"])


def applied(
    client: TestClient,
    pool_id: str,
    amount_dkk: int = 15_000,
    headers: dict[str, str] = PARTNER_X,
    title: str = "Gågruppe",
) -> str:
    """A screened application asking `amount_dkk` (the full form above 25 000 kroner)."""
    body = {
        **SHORT,
        **(FULL_FORM if amount_dkk > 25_000 else {}),
        "title": title,
        "amount_dkk": amount_dkk,
        "budget_lines": [{"label": "Aktiviteter", "amount_dkk": amount_dkk}],
    }
    drafted = client.post(f"/pools/{pool_id}/applications", json=body, headers=drafting(headers))
    assert drafted.status_code == 201, drafted.text
    application_id: str = drafted.json()["id"]
    submitted = client.post(f"/applications/{application_id}/submit", headers=headers)
    assert submitted.json()["status"] == "screened", submitted.text
    return application_id


def reviewed(client: TestClient, application_id: str, *scores: tuple[int, int]) -> None:
    """In review by one reviewer for each (reach, feasibility) given, who scores it so; with
    none given, by one reviewer who has not scored."""
    subjects = [f"reviewer-{n}" for n in range(1, max(len(scores), 1) + 1)]
    path = f"/applications/{application_id}"
    assigned = client.post(f"{path}/reviewers", json={"subjects": subjects}, headers=OPERATOR)
    assert assigned.status_code == 200, assigned.text
    for subject, (reach, feasibility) in zip(subjects, scores, strict=False):
        headers = auth_header(Role.REVIEWER, subject=subject)
        declared = client.post(
            f"{path}/conflict-declaration", json={"conflict": False}, headers=headers
        )
        assert declared.status_code == 200, declared.text
        body = {
            "scores": [
                {"criterion": "reach", "score": reach, "comment": "Når mange."},
                {"criterion": "feasibility", "score": feasibility, "comment": "Kan lade sig gøre."},
            ]
        }
        scored = client.post(f"{path}/reviews", json=body, headers=headers)
        assert scored.status_code == 200, scored.text


def in_review(client: TestClient, pool_id: str, amount_dkk: int = 15_000, **kw: Any) -> str:
    """A short-form application (unless `amount_dkk` asks for the full form) with the one
    review it needs."""
    application_id = applied(client, pool_id, amount_dkk, **kw)
    reviewed(client, application_id, (4, 4), *([(3, 3)] if amount_dkk > 25_000 else []))
    return application_id


def decision(
    application_id: str, outcome: str = "approved", amount_dkk: int = 15_000, **changes: Any
) -> dict[str, Any]:
    return {
        "application_id": application_id,
        "outcome": outcome,
        "amount_dkk": amount_dkk,
        "reasons": "Aktiviteten passer til puljens formål.",
        **changes,
    }


def decide(client: TestClient, pool_id: str, *decisions: dict[str, Any]) -> Any:
    return client.post(
        f"/pools/{pool_id}/decisions", json={"decisions": list(decisions)}, headers=OPERATOR
    )


def budget(client: TestClient, pool_id: str) -> dict[str, Any]:
    response = client.get(f"/pools/{pool_id}/budget", headers=OPERATOR)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def read(client: TestClient, application_id: str) -> dict[str, Any]:
    response = client.get(f"/applications/{application_id}", headers=PARTNER_X)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def granted(client: TestClient, pool_id: str) -> str:
    """An application of X's approved for the 15 000 kroner it asks, its agreement not yet
    accepted."""
    application_id = in_review(client, pool_id)
    answer = decide(client, pool_id, decision(application_id))
    assert answer.status_code == 200, answer.text
    return application_id


def accepted(client: TestClient, pool_id: str) -> str:
    application_id = granted(client, pool_id)
    answer = client.post(f"/applications/{application_id}/agreement", headers=PARTNER_X)
    assert answer.status_code == 200, answer.text
    return application_id


def payment(amount_dkk: int, reference: str = "UDB-2026-0001") -> dict[str, Any]:
    return {"amount_dkk": amount_dkk, "paid_on": "2026-05-04", "reference": reference}


def pay(client: TestClient, application_id: str, amount_dkk: int, **kw: Any) -> Any:
    return client.post(
        f"/applications/{application_id}/payments",
        json=payment(amount_dkk, **kw),
        headers=OPERATOR,
    )


def paid(client: TestClient, pool_id: str) -> str:
    """An application of X's granted 15 000 kroner and paid all of it."""
    application_id = accepted(client, pool_id)
    answer = pay(client, application_id, 15_000)
    assert answer.status_code == 200, answer.text
    return application_id


def report(spent_dkk: int) -> dict[str, Any]:
    return {
        "participants": 40,
        "activities": 22,
        "spent_dkk": spent_dkk,
        "summary": "Gåturen samlede fyrre faste deltagere.",
    }


def repayment(amount_dkk: int) -> dict[str, Any]:
    return {"amount_dkk": amount_dkk, "repaid_on": "2027-07-01", "reference": "IND-2027-0042"}


# --- ranking and decisions ---------------------------------------------------------------


def test_the_operator_sees_the_ranking_best_weighted_mean_first_with_each_ones_reviews(
    client: TestClient,
) -> None:
    pool_id = pool(client)
    # Weighted (3 to 1) the first is the better; unweighted it would be the worse.
    reach = applied(client, pool_id, title="Rækkevidde")
    reviewed(client, reach, (5, 0))  # (3*5 + 0) / 4 = 3.75; unweighted 2.5
    sure = applied(client, pool_id, 40_000, headers=PARTNER_Y, title="Sikker")
    reviewed(client, sure, (2, 5), (2, 5))  # (3*2 + 5) / 4 = 2.75; unweighted 3.5
    waiting = applied(client, pool_id, title="Venter")
    reviewed(client, waiting)
    applied(client, pool_id, title="Screenet")  # not in review: not ranked

    response = client.get(f"/pools/{pool_id}/ranking", headers=OPERATOR)

    assert response.status_code == 200, response.text
    ranking = response.json()
    assert [r["application_id"] for r in ranking] == [reach, sure, waiting]
    assert [(r["title"], r["amount_dkk"], r["short_form"]) for r in ranking] == [
        ("Rækkevidde", 15_000, True),
        ("Sikker", 40_000, False),
        ("Venter", 15_000, True),
    ]
    assert ranking[0]["organization_name"] == "Ældre Sagen Nørrebro"
    assert ranking[0]["reviews"] == {
        "needed": 1,
        "reviews": 1,
        "mean": 3.75,
        "spread": 0.0,
        "reviewers": [{"subject": "reviewer-1", "conflict": False, "reviewed": True}],
    }
    assert (ranking[1]["reviews"]["needed"], ranking[1]["reviews"]["mean"]) == (2, 2.75)
    assert ranking[2]["reviews"]["reviews"] == 0 and ranking[2]["reviews"]["mean"] is None
    assert_problem(client.get(f"/pools/{uuid4()}/ranking", headers=OPERATOR), 404)


def test_a_batch_decision_approves_one_partly_approves_another_and_answers_the_budget_after_it(
    client: TestClient, engine: Engine
) -> None:
    pool_id = pool(client)
    whole, part = in_review(client, pool_id), in_review(client, pool_id, 40_000)

    response = decide(
        client,
        pool_id,
        decision(whole),
        decision(part, "partly_approved", 30_000, reasons="Halvdelen af kaffen."),
    )

    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["budget"] == {
        "budget_dkk": 500_000,
        "committed_dkk": 45_000,
        "paid_dkk": 0,
        "repaid_dkk": 0,
        "remaining_dkk": 455_000,
    }
    assert [a["id"] for a in answer["decided"]] == [whole, part]
    for application_id, outcome, amount in (
        (whole, "approved", 15_000),
        (part, "partly_approved", 30_000),
    ):
        found = read(client, application_id)
        assert found["status"] == "decided"
        assert (found["decision"]["outcome"], found["decision"]["amount_dkk"]) == (outcome, amount)
        assert found["grant"]["granted_dkk"] == amount
        assert found["grant"]["report_due_on"] == REPORT_DUE
        assert (found["grant"]["paid_dkk"], found["grant"]["agreement_accepted_at"]) == (0, None)
    assert read(client, part)["decision"]["reasons"] == "Halvdelen af kaffen."
    assert event_types(engine)[-2:] == [DECIDED, DECIDED]
    assert budget(client, pool_id) == answer["budget"]


def test_a_rejection_grants_nothing_and_the_application_has_no_grant(client: TestClient) -> None:
    pool_id = pool(client)
    rejected = in_review(client, pool_id)

    response = decide(client, pool_id, decision(rejected, "rejected", 0))

    assert response.status_code == 200, response.text
    assert response.json()["budget"]["committed_dkk"] == 0
    found = read(client, rejected)
    assert (found["status"], found["decision"]["outcome"], found["grant"]) == (
        "decided",
        "rejected",
        None,
    )


def test_a_batch_that_would_pass_the_budget_is_409_and_decides_nothing(
    client: TestClient, engine: Engine
) -> None:
    pool_id = pool(client, budget_dkk=40_000)
    first, second, third = (in_review(client, pool_id) for _ in range(3))

    over = decide(client, pool_id, decision(first), decision(second), decision(third))

    assert_problem(over, 409)
    assert "45000 kroner" in over.json()["detail"]
    assert [read(client, a)["status"] for a in (first, second, third)] == ["in_review"] * 3
    assert budget(client, pool_id)["committed_dkk"] == 0
    assert DECIDED not in event_types(engine)
    # What earlier batches granted counts: 30 000 of 40 000 are committed, 15 000 is too much.
    assert decide(client, pool_id, decision(first), decision(second)).status_code == 200
    assert_problem(decide(client, pool_id, decision(third)), 409)
    assert read(client, third)["status"] == "in_review"
    partly = decide(client, pool_id, decision(third, "partly_approved", 10_000))
    assert partly.json()["budget"]["remaining_dkk"] == 0


def test_an_application_lacking_its_reviews_is_409_and_nothing_in_its_batch_is_decided(
    client: TestClient,
) -> None:
    pool_id = pool(client)
    ready = in_review(client, pool_id)
    half = applied(client, pool_id, 40_000)
    reviewed(client, half, (4, 4))  # the full form needs two reviews

    response = decide(client, pool_id, decision(ready), decision(half, amount_dkk=40_000))

    assert_problem(response, 409)
    assert "1 of the 2 reviews" in response.json()["detail"]
    assert [read(client, a)["status"] for a in (ready, half)] == ["in_review", "in_review"]


def test_an_application_not_in_review_is_409_one_of_another_pool_422_and_an_unknown_pool_404(
    client: TestClient,
) -> None:
    pool_id, other_pool_id = pool(client), pool(client)
    ready = in_review(client, pool_id)
    screened = applied(client, pool_id)
    elsewhere = in_review(client, other_pool_id)

    assert_problem(decide(client, pool_id, decision(ready), decision(screened)), 409)
    # The pool addressed exists: an id its body names that is not the pool's is the body's fault.
    not_its = decide(client, pool_id, decision(ready), decision(elsewhere))
    assert_problem(not_its, 422)
    assert f"has no application {elsewhere}" in not_its.json()["detail"]
    assert_problem(decide(client, pool_id, decision(str(uuid4()))), 422)
    assert_problem(decide(client, str(uuid4()), decision(ready)), 404)
    assert [read(client, a)["status"] for a in (ready, screened, elsewhere)] == [
        "in_review",
        "screened",
        "in_review",
    ]
    assert decide(client, pool_id, decision(ready)).status_code == 200
    assert_problem(decide(client, pool_id, decision(ready)), 409)  # decided once


@pytest.mark.parametrize(
    ("outcome", "amount_dkk"),
    [
        ("approved", 14_999),  # an approval grants the amount asked
        ("approved", 15_001),
        ("partly_approved", 15_000),  # a part is less than asked
        ("partly_approved", 0),
        ("rejected", 1),  # a rejection grants nothing
    ],
)
def test_a_decision_whose_amount_does_not_fit_its_outcome_is_422_and_decides_nothing(
    client: TestClient, engine: Engine, outcome: str, amount_dkk: int
) -> None:
    pool_id = pool(client)
    other, application_id = in_review(client, pool_id), in_review(client, pool_id)

    response = decide(
        client,
        pool_id,
        decision(other),
        decision(application_id, outcome, amount_dkk, reasons=SECRET),
    )

    assert_problem(response, 422)
    assert "amount_dkk" in response.json()["detail"] and SECRET not in response.text
    assert [read(client, a)["status"] for a in (other, application_id)] == ["in_review"] * 2
    assert DECIDED not in event_types(engine)


def test_the_same_application_twice_in_a_batch_is_422_and_decides_nothing(
    client: TestClient,
) -> None:
    pool_id = pool(client)
    application_id = in_review(client, pool_id)

    response = decide(
        client, pool_id, decision(application_id), decision(application_id, "rejected", 0)
    )

    assert_problem(response, 422)
    assert "decided once" in response.json()["detail"]
    assert read(client, application_id)["status"] == "in_review"


@pytest.mark.parametrize(
    "changes",
    [
        {"outcome": "maybe"},
        {"amount_dkk": -1},
        {"amount_dkk": "15000"},
        {"amount_dkk": 15_000.5},
        {"amount_dkk": 10**13},
        {"reasons": ""},
        {"reasons": None},
        {"reasons": f" {SECRET}"},
        {"application_id": SECRET},
        {"decided_by": SECRET},
    ],
)
def test_a_decision_that_breaks_the_schema_is_422_and_decides_nothing(
    client: TestClient, engine: Engine, changes: dict[str, Any]
) -> None:
    pool_id = pool(client)
    application_id = in_review(client, pool_id)

    response = decide(client, pool_id, {**decision(application_id), **changes})

    assert_problem(response, 422)
    assert SECRET not in response.text
    assert read(client, application_id)["status"] == "in_review"
    assert budget(client, pool_id)["committed_dkk"] == 0
    assert DECIDED not in event_types(engine)


def test_an_empty_or_oversized_batch_is_422(client: TestClient) -> None:
    pool_id = pool(client)
    application_id = in_review(client, pool_id)
    path = f"/pools/{pool_id}/decisions"

    bodies: list[Any] = [{}, {"decisions": []}, {"decisions": "alle"}, [decision(application_id)]]
    for body in bodies:
        assert_problem(client.post(path, json=body, headers=OPERATOR), 422)
    assert_problem(decide(client, pool_id, *[decision(str(uuid4())) for _ in range(201)]), 422)
    assert read(client, application_id)["status"] == "in_review"


# --- agreement, payments, report, repayment ----------------------------------------------


def test_the_partner_accepts_its_agreement_and_the_operator_records_two_payments(
    client: TestClient,
) -> None:
    pool_id = pool(client)
    application_id = granted(client, pool_id)
    path = f"/applications/{application_id}"
    assert_problem(pay(client, application_id, 5_000), 409)  # not before the agreement
    assert_problem(client.post(f"{path}/agreement", headers=PARTNER_Y), 404)

    agreed = client.post(f"{path}/agreement", headers=PARTNER_X)

    assert agreed.status_code == 200, agreed.text
    assert agreed.json()["status"] == "agreement_accepted"
    assert agreed.json()["grant"]["agreement_accepted_at"] is not None
    assert_problem(client.post(f"{path}/agreement", headers=PARTNER_X), 409)  # once

    first = pay(client, application_id, 10_000, reference="UDB-1")
    assert first.status_code == 200, first.text
    assert (first.json()["status"], first.json()["grant"]["paid_dkk"]) == ("paid", 10_000)
    too_much = pay(client, application_id, 5_001, reference=SECRET)
    assert_problem(too_much, 422)
    assert "amount_dkk" in too_much.json()["detail"] and SECRET not in too_much.text
    second = pay(client, application_id, 5_000, reference="UDB-2")
    assert second.status_code == 200, second.text

    grant = read(client, application_id)["grant"]
    assert grant["paid_dkk"] == 15_000
    assert grant["payments"] == [
        {"amount_dkk": 10_000, "paid_on": "2026-05-04", "reference": "UDB-1"},
        {"amount_dkk": 5_000, "paid_on": "2026-05-04", "reference": "UDB-2"},
    ]
    assert budget(client, pool_id) == {
        "budget_dkk": 500_000,
        "committed_dkk": 15_000,
        "paid_dkk": 15_000,
        "repaid_dkk": 0,
        "remaining_dkk": 485_000,
    }


def test_a_rejected_application_has_no_agreement_to_accept_and_cannot_be_paid(
    client: TestClient,
) -> None:
    pool_id = pool(client)
    rejected = in_review(client, pool_id)
    assert decide(client, pool_id, decision(rejected, "rejected", 0)).status_code == 200

    assert_problem(client.post(f"/applications/{rejected}/agreement", headers=PARTNER_X), 409)
    assert_problem(pay(client, rejected, 1), 409)
    assert_problem(client.post(f"/applications/{uuid4()}/agreement", headers=PARTNER_X), 404)
    assert_problem(pay(client, str(uuid4()), 1), 404)
    assert read(client, rejected)["status"] == "decided"


def test_a_report_spending_less_than_paid_claims_the_difference_and_its_repayment_closes_the_grant(
    client: TestClient,
) -> None:
    pool_id = pool(client)
    application_id = paid(client, pool_id)
    path = f"/applications/{application_id}"
    assert_problem(client.post(f"{path}/report", json=report(11_000), headers=PARTNER_Y), 404)
    assert_problem(client.post(f"{path}/repayments", json=repayment(1), headers=OPERATOR), 409)

    reported = client.post(f"{path}/report", json=report(11_000), headers=PARTNER_X)

    assert reported.status_code == 200, reported.text
    answer = reported.json()
    assert answer["status"] == "report_received"
    assert answer["grant"]["repayment_claim_dkk"] == 4_000
    assert answer["grant"]["report"]["spent_dkk"] == 11_000
    assert (answer["grant"]["report"]["participants"], answer["grant"]["report"]["activities"]) == (
        40,
        22,
    )
    assert_problem(client.post(f"{path}/report", json=report(15_000), headers=PARTNER_X), 409)
    assert budget(client, pool_id)["remaining_dkk"] == 485_000

    too_much = client.post(f"{path}/repayments", json=repayment(4_001), headers=OPERATOR)
    assert_problem(too_much, 422)
    assert "amount_dkk" in too_much.json()["detail"]
    part = client.post(f"{path}/repayments", json=repayment(1_000), headers=OPERATOR)
    assert part.json()["status"] == "report_received", part.text
    rest = client.post(f"{path}/repayments", json=repayment(3_000), headers=OPERATOR)

    assert rest.status_code == 200, rest.text
    assert rest.json()["status"] == "closed"
    assert rest.json()["grant"]["repaid_dkk"] == 4_000
    assert [r["amount_dkk"] for r in rest.json()["grant"]["repayments"]] == [1_000, 3_000]
    assert budget(client, pool_id) == {
        "budget_dkk": 500_000,
        "committed_dkk": 15_000,
        "paid_dkk": 15_000,
        "repaid_dkk": 4_000,
        "remaining_dkk": 489_000,
    }
    assert_problem(client.post(f"{path}/repayments", json=repayment(1), headers=OPERATOR), 409)


def test_a_report_spending_everything_closes_the_grant_at_once(client: TestClient) -> None:
    application_id = paid(client, pool(client))

    reported = client.post(
        f"/applications/{application_id}/report", json=report(15_000), headers=PARTNER_X
    )

    assert reported.status_code == 200, reported.text
    answer = reported.json()
    assert (answer["status"], answer["grant"]["repayment_claim_dkk"]) == ("closed", 0)
    assert [step["status"] for step in answer["history"]][-2:] == ["report_received", "closed"]


def test_a_grant_is_reported_on_only_once_it_is_paid(client: TestClient) -> None:
    application_id = accepted(client, pool(client))

    response = client.post(
        f"/applications/{application_id}/report", json=report(0), headers=PARTNER_X
    )

    assert_problem(response, 409)
    assert read(client, application_id)["status"] == "agreement_accepted"


# --- who may ----------------------------------------------------------------------------


def test_only_operators_rank_decide_pay_repay_and_read_the_budget(client: TestClient) -> None:
    pool_id = pool(client)
    application_id = in_review(client, pool_id)
    calls = [
        ("GET", f"/pools/{pool_id}/ranking", None),
        ("POST", f"/pools/{pool_id}/decisions", {"decisions": [decision(application_id)]}),
        ("GET", f"/pools/{pool_id}/budget", None),
        ("POST", f"/applications/{application_id}/payments", payment(15_000)),
        ("POST", f"/applications/{application_id}/repayments", repayment(1)),
    ]

    for method, path, body in calls:
        for headers in (PARTNER_X, PARTNER_Y, REVIEWER, auth_header(Role.CARE_SYSTEM)):
            assert_problem(client.request(method, path, json=body, headers=headers), 403)
        assert_problem(client.request(method, path, json=body), 401)
    assert read(client, application_id)["status"] == "in_review"


def test_only_the_organisations_partner_accepts_its_agreement_and_reports(
    client: TestClient,
) -> None:
    pool_id = pool(client)
    agreeing, reporting = granted(client, pool_id), paid(client, pool_id)
    calls = [
        (f"/applications/{agreeing}/agreement", None),
        (f"/applications/{reporting}/report", report(15_000)),
    ]

    for path, body in calls:
        for headers in (OPERATOR, REVIEWER, auth_header(Role.CARE_SYSTEM)):
            assert_problem(client.post(path, json=body, headers=headers), 403)
        assert_problem(client.post(path, json=body), 401)
        assert_problem(client.post(path, json=body, headers=PARTNER_Y), 404)
    assert [read(client, a)["status"] for a in (agreeing, reporting)] == ["decided", "paid"]


# --- bad bodies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"amount_dkk": 0},
        {"amount_dkk": -5},
        {"amount_dkk": "5000"},
        {"amount_dkk": 10**13},
        {"paid_on": "4. maj"},
        {"paid_on": 20260504},
        {"reference": ""},
        {"reference": f"{SECRET} "},
        {"reference": None},
        {"recorded_by": SECRET},
    ],
)
def test_a_payment_that_breaks_the_schema_is_422_and_pays_nothing(
    client: TestClient, changes: dict[str, Any]
) -> None:
    pool_id = pool(client)
    application_id = accepted(client, pool_id)
    before = read(client, application_id)

    response = client.post(
        f"/applications/{application_id}/payments",
        json={**payment(5_000), **changes},
        headers=OPERATOR,
    )

    assert_problem(response, 422)
    assert SECRET not in response.text
    assert read(client, application_id) == before
    assert budget(client, pool_id)["paid_dkk"] == 0


@pytest.mark.parametrize(
    "changes",
    [
        {"participants": -1},
        {"activities": 1.5},
        {"activities": None},
        {"spent_dkk": -1},
        {"spent_dkk": "15000"},
        {"spent_dkk": 10**13},
        {"summary": f"{SECRET}\x00"},
        {"summary": f" {SECRET}"},
        {"received_at": SECRET},
    ],
)
def test_a_report_that_breaks_the_schema_is_422_and_reports_nothing(
    client: TestClient, changes: dict[str, Any]
) -> None:
    application_id = paid(client, pool(client))
    before = read(client, application_id)

    response = client.post(
        f"/applications/{application_id}/report",
        json={**report(10_000), **changes},
        headers=PARTNER_X,
    )

    assert_problem(response, 422)
    assert SECRET not in response.text
    assert read(client, application_id) == before


@pytest.mark.parametrize(
    "changes",
    [
        {"amount_dkk": 0},
        {"amount_dkk": True},
        {"repaid_on": "2027-02-30"},
        {"reference": ""},
        {"reference": SECRET * 10},  # over 100 characters
    ],
)
def test_a_repayment_that_breaks_the_schema_is_422_and_repays_nothing(
    client: TestClient, changes: dict[str, Any]
) -> None:
    pool_id = pool(client)
    application_id = paid(client, pool_id)
    client.post(f"/applications/{application_id}/report", json=report(10_000), headers=PARTNER_X)
    before = read(client, application_id)

    response = client.post(
        f"/applications/{application_id}/repayments",
        json={**repayment(5_000), **changes},
        headers=OPERATOR,
    )

    assert_problem(response, 422)
    assert SECRET not in response.text
    assert read(client, application_id) == before
    assert budget(client, pool_id)["repaid_dkk"] == 0


def test_the_document_names_who_may_call_each_money_route_once(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    roles = {
        ("get", "/pools/{pool_id}/ranking"): ["operator"],
        ("post", "/pools/{pool_id}/decisions"): ["operator"],
        ("get", "/pools/{pool_id}/budget"): ["operator"],
        ("post", "/applications/{application_id}/agreement"): ["partner"],
        ("post", "/applications/{application_id}/payments"): ["operator"],
        ("post", "/applications/{application_id}/report"): ["partner"],
        ("post", "/applications/{application_id}/repayments"): ["operator"],
    }

    # Named twice, an operation is run twice by tools that go by roles (schemathesis: an error).
    assert {(m, p): paths[p][m]["x-roles"] for m, p in roles} == roles
