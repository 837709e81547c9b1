"""`GET /reports/outcomes` over HTTP: who may read it, what it refuses, and its figures.
SQLite, an unreachable broker, and a clock the tests set."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi.testclient import TestClient

from referrals.app import create_app
from referrals.config import Settings
from referrals.domain import Accompaniment, Participation, ParticipationStatus, Referral, Scores
from runtime.auth import Role
from tests.fakes import FakeClock
from tests.kit import auth_header
from tests.referrals.test_referrals_reports import ucla3, who5
from tests.referrals.test_referrals_reports_store import (
    VISITORS,
    WALKERS,
    Report,
    journey,
    store,
)

OPERATOR = auth_header(Role.OPERATOR, subject="operator-anna")
HALF_YEAR = {"from": "2026-01-01", "to": "2026-06-30"}
FOLLOW_UP_1 = datetime(2026, 3, 2, 10, tzinfo=UTC)
FOLLOW_UP_2 = datetime(2026, 5, 4, 10, tzinfo=UTC)
"""When the partner and the care system answer: after either follow-up fell due for every
first meeting in January."""
COMPLETED_ON = date(2026, 2, 2)


@pytest.fixture
def client(
    offline_service_env: pytest.MonkeyPatch, tmp_path: Path, clock: FakeClock
) -> Iterator[TestClient]:
    offline_service_env.setenv("REFERRALS_DATABASE_URL", f"sqlite:///{tmp_path}/referrals.db")
    with TestClient(create_app(Settings(), clock=clock)) as test_client:
        yield test_client


def partner(organization_id: UUID) -> dict[str, str]:
    return auth_header(
        Role.PARTNER, subject=f"coordinator-{organization_id}", organization_id=organization_id
    )


def keep(client: TestClient, *referrals: Referral) -> None:
    """Store the referrals in the service's own database."""
    store(client.app.state.start_uow, *referrals)  # type: ignore[attr-defined]


def report(client: TestClient, headers: dict[str, str], **params: str) -> dict[str, Any]:
    response = client.get("/reports/outcomes", params={**HALF_YEAR, **params}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def completed_without_follow_ups(accepted_by: Any = WALKERS, **changes: Any) -> Referral:
    """Met in January, completed on COMPLETED_ON before any follow-up: outcome unknown."""
    return journey(
        accepted_by=accepted_by,
        completed_at=datetime.combine(COMPLETED_ON, datetime.min.time(), UTC),
        **changes,
    )


SUPPRESSED_MEAN = {"n": None, "suppressed": True, "mean": None, "low": None, "high": None}


def test_an_operator_reads_the_figures_computed_by_hand(client: TestClient) -> None:
    def followed_up(
        met_on: date,
        accompanied_by: Accompaniment,
        baseline: Scores,
        first: tuple[ParticipationStatus, Scores],
        second: tuple[ParticipationStatus, Scores],
    ) -> Referral:
        return journey(
            met_on=met_on,
            accompanied_by=accompanied_by,
            baseline=baseline,
            reports=[
                Report(FOLLOW_UP_1, Participation(first[0], 1), first[1]),
                Report(FOLLOW_UP_2, Participation(second[0], 1), second[1]),
            ],
        )

    taking_part, paused, stopped = (
        ParticipationStatus.TAKING_PART,
        ParticipationStatus.PAUSED,
        ParticipationStatus.STOPPED,
    )
    # All referred on 2 January; the last answer completes each, in May.
    keep(
        client,
        followed_up(
            date(2026, 1, 5),
            Accompaniment.VOLUNTEER,
            Scores(ucla3(9), who5(20)),
            (taking_part, Scores(ucla3(7), who5(40))),
            (taking_part, Scores(ucla3(6), who5(48))),  # UCLA-3 -3, WHO-5 +28
        ),
        followed_up(
            date(2026, 1, 6),
            Accompaniment.NOBODY,
            Scores(ucla3(8), who5(32)),
            (stopped, Scores(ucla3(8), who5(32))),
            (taking_part, Scores(ucla3(9), who5(28))),  # +1, -4
        ),
        followed_up(
            date(2026, 1, 8),
            Accompaniment.VOLUNTEER,
            Scores(ucla3(7), who5(40)),
            (paused, Scores(ucla3(6), who5(44))),
            (taking_part, Scores()),  # -1, +4: the first follow-up's answers are the last
        ),
        followed_up(
            date(2026, 1, 12),
            Accompaniment.RELATIVE,
            Scores(ucla3(9), who5(12)),
            (taking_part, Scores(ucla3(5), who5(60))),
            (paused, Scores(ucla3(5))),  # -4, +48
        ),
        followed_up(
            date(2026, 1, 20),
            Accompaniment.NOBODY,
            Scores(ucla3(6), who5(52)),
            (taking_part, Scores(ucla3(6), who5(52))),
            (taking_part, Scores(ucla3(6), who5(56))),  # 0, +4
        ),
        journey(met_on=None),  # accepted, not met yet
    )

    assert report(client, OPERATOR) == {
        "from": "2026-01-01",
        "to": "2026-06-30",
        "district": None,
        "organization_id": None,
        "service_id": None,
        "completed": {
            "n": 5,
            "suppressed": False,
            "outcomes": {
                "participating": 5,
                "stopped": None,
                "never_started": None,
                "unknown": None,
            },
        },
        "follow_ups": [
            {"number": 1, "n": 5, "suppressed": False, "still_participating": 0.8},
            {"number": 2, "n": 5, "suppressed": False, "still_participating": 1.0},
        ],
        # -3, 1, -1, -4, 0: mean -1.4, s = sqrt(17.2 / 4) = 2.0736, t(4) = 2.776: ± 2.57
        "ucla3_change": {"n": 5, "suppressed": False, "mean": -1.4, "low": -3.97, "high": 1.17},
        # 28, -4, 4, 48, 4: mean 16, s = sqrt(1856 / 4) = 21.541, t(4) = 2.776: ± 26.74
        "who5_change": {"n": 5, "suppressed": False, "mean": 16.0, "low": -10.74, "high": 42.74},
        # volunteer, nobody, volunteer, relative, nobody
        "accompanied_at_first_meeting": {"n": 5, "suppressed": False, "share": 0.6},
        # 3, 4, 6, 10 and 18 days after 2 January
        "days_to_first_meeting": {"n": 5, "suppressed": False, "median": 6.0},
    }


def test_a_figure_of_four_is_suppressed_and_of_five_shown(client: TestClient) -> None:
    keep(client, *(completed_without_follow_ups() for _ in range(4)))
    four = report(client, OPERATOR)
    assert four["completed"] == {
        "n": None,
        "suppressed": True,
        "outcomes": {
            "participating": None,
            "stopped": None,
            "never_started": None,
            "unknown": None,
        },
    }
    assert four["accompanied_at_first_meeting"] == {"n": None, "suppressed": True, "share": None}
    assert four["days_to_first_meeting"] == {"n": None, "suppressed": True, "median": None}
    assert four["ucla3_change"] == four["who5_change"] == SUPPRESSED_MEAN
    assert four["follow_ups"] == []

    keep(client, completed_without_follow_ups())
    five = report(client, OPERATOR)
    assert five["completed"] == {
        "n": 5,
        "suppressed": False,
        "outcomes": {"participating": None, "stopped": None, "never_started": None, "unknown": 5},
    }
    assert five["accompanied_at_first_meeting"] == {"n": 5, "suppressed": False, "share": 1.0}
    assert five["days_to_first_meeting"] == {"n": 5, "suppressed": False, "median": 10.0}


def test_a_partner_reads_the_figures_of_its_own_organisations_referrals_only(
    client: TestClient,
) -> None:
    keep(
        client,
        *(completed_without_follow_ups(WALKERS) for _ in range(5)),
        *(
            completed_without_follow_ups(VISITORS, declined_by=WALKERS, district="Østerbro")
            for _ in range(4)
        ),
    )
    assert report(client, OPERATOR)["completed"]["n"] == 9
    walkers = report(client, partner(WALKERS.organization_id))
    assert walkers["organization_id"] == str(WALKERS.organization_id)
    assert walkers["completed"]["n"] == 5
    named = report(
        client, partner(WALKERS.organization_id), organization_id=str(WALKERS.organization_id)
    )
    assert named == walkers
    visitors = report(client, partner(VISITORS.organization_id))
    assert visitors["completed"]["n"] is None  # four: the one WALKERS declined is not its
    assert report(client, OPERATOR, service_id=str(WALKERS.service_id)) == {
        **walkers,
        "organization_id": None,
        "service_id": str(WALKERS.service_id),
    }
    assert report(client, OPERATOR, district="NØRREBRO")["completed"]["n"] == 5
    assert report(client, OPERATOR, district="østerbro")["completed"]["n"] is None


def test_a_partner_naming_another_organisation_is_refused(client: TestClient) -> None:
    keep(client, *(completed_without_follow_ups(VISITORS) for _ in range(5)))
    refused = client.get(
        "/reports/outcomes",
        params={**HALF_YEAR, "organization_id": str(VISITORS.organization_id)},
        headers=partner(WALKERS.organization_id),
    )
    body = problem(refused, 403)
    assert "own organisation" in body["detail"]


@pytest.mark.parametrize("role", [Role.CARE_SYSTEM, Role.REVIEWER])
def test_care_systems_and_reviewers_may_not_read_the_report(client: TestClient, role: Role) -> None:
    refused = client.get(
        "/reports/outcomes", params=HALF_YEAR, headers=auth_header(role, subject="care-1")
    )
    problem(refused, 403)


def test_the_report_needs_a_token(client: TestClient) -> None:
    problem(client.get("/reports/outcomes", params=HALF_YEAR), 401)


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"from": "2026-03-02", "to": "2026-03-01"}, "before it begins"),
        ({"from": "2021-01-01", "to": "2026-01-01"}, "longer than 5 years"),
        ({"from": "0001-01-01", "to": "9999-12-31"}, "longer than 5 years"),
        ({"to": "2026-03-01"}, "query.from"),
        ({"from": "2026-03-01"}, "query.to"),
        ({"from": "2026-3-1", "to": "2026-03-31"}, "query.from"),
        ({"from": "2026-02-30", "to": "2026-03-31"}, "query.from"),
        ({**HALF_YEAR, "organization_id": "walkers"}, "query.organization_id"),
        ({**HALF_YEAR, "service_id": "visiting-friends"}, "query.service_id"),
        ({**HALF_YEAR, "district": " Nørrebro"}, "query.district"),
    ],
)
def test_a_bad_period_or_filter_is_refused_with_422(
    client: TestClient, params: dict[str, str], says: str
) -> None:
    refused = client.get("/reports/outcomes", params=params, headers=OPERATOR)
    body = problem(refused, 422)
    assert says in f"{body['detail']} {body.get('errors')}"
    assert not [value for value in params.values() if value in refused.text]  # nothing echoed


def test_the_longest_period_and_the_calendars_ends_are_answered(client: TestClient) -> None:
    keep(client, *(completed_without_follow_ups() for _ in range(5)))
    assert (
        report(client, OPERATOR, **{"from": "2021-07-01", "to": "2026-06-30"})["completed"]["n"]
        == 5
    )
    for first, last in (("0001-01-01", "0001-12-31"), ("9999-01-01", "9999-12-31")):
        assert report(client, OPERATOR, **{"from": first, "to": last})["completed"]["n"] is None


def test_the_document_describes_the_report_its_roles_and_its_refusals(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/reports/outcomes"]["get"]
    assert operation["x-roles"] == ["operator", "partner"]
    assert {"200", "401", "403", "422", "503"} <= set(operation["responses"])
    assert "another organisation" in operation["responses"]["403"]["description"]
    assert operation["responses"]["422"]["x-rules"]
    assert "suppressed" in operation["description"]
