"""Every error an API returns is RFC 9457 problem+json."""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from runtime.logs import configure_logging
from runtime.problems import Problem, install_problem_handlers
from tests.conftest import log_events

CPR = "0101401234"


class Thing(BaseModel):
    size: int


@pytest.fixture
def client() -> TestClient:
    configure_logging("test")  # structlog through the standard library, as in a service
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/things")
    def create(thing: Thing) -> Thing:
        return thing

    @app.get("/teapot")
    def teapot() -> None:
        raise Problem(418, "Short and stout.", hint="tip me over")

    @app.get("/race")
    def race() -> None:
        raise IntegrityError(
            "INSERT ...",
            {"personal_number": CPR},
            Exception(f"duplicate key\nDETAIL: Key (personal_number)=({CPR}) already exists."),
        )

    @app.get("/unstorable")
    def unstorable() -> None:
        raise DataError("INSERT ...", {"name": CPR}, Exception(f"NUL character in {CPR}"))

    @app.get("/database-down")
    def database_down() -> None:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    @app.get("/database-busy")
    def database_busy() -> None:
        raise PoolTimeoutError("QueuePool limit of size 1 overflow 0 reached, timeout 0.50")

    @app.get("/bug")
    def bug() -> None:
        raise RuntimeError("secret internals")

    return TestClient(app, raise_server_exceptions=False)


def problem(response: object) -> dict[str, object]:
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert body["status"] == response.status_code  # type: ignore[attr-defined]
    return body


def test_a_raised_problem_keeps_its_status_detail_and_extensions(client: TestClient) -> None:
    body = problem(client.get("/teapot"))
    assert body["detail"] == "Short and stout."
    assert body["hint"] == "tip me over"
    assert body["instance"] == "/teapot"


def test_an_invalid_body_lists_each_error_with_its_location(client: TestClient) -> None:
    body = problem(client.post("/things", json={"size": "big"}))
    assert body["errors"] == [
        {
            "location": "body.size",
            "message": "Input should be a valid integer, unable to parse string as an integer",
        }
    ]


def test_an_unknown_route_and_a_wrong_method_are_problems(client: TestClient) -> None:
    assert problem(client.get("/nowhere"))["status"] == 404
    assert problem(client.delete("/things"))["status"] == 405


def test_a_write_conflict_is_a_409_not_a_500(client: TestClient) -> None:
    assert problem(client.get("/race"))["status"] == 409


def test_a_value_the_database_cannot_store_is_a_422_not_a_500(client: TestClient) -> None:
    assert problem(client.get("/unstorable"))["status"] == 422


def test_a_database_outage_is_a_503_with_a_retry_hint(client: TestClient) -> None:
    response = client.get("/database-down")
    assert problem(response)["status"] == 503
    assert response.headers["retry-after"] == "5"


def test_a_connection_pool_that_stays_busy_is_a_503_with_a_retry_hint(
    client: TestClient,
) -> None:
    response = client.get("/database-busy")
    assert problem(response)["status"] == 503
    assert response.headers["retry-after"] == "2"
    assert "QueuePool" not in response.text


def test_an_unexpected_error_is_a_500_problem_that_leaks_nothing(client: TestClient) -> None:
    response = client.get("/bug")
    assert problem(response)["status"] == 500
    assert "secret" not in response.text


@pytest.mark.parametrize("path", ["/race", "/unstorable", "/database-down"])
def test_a_database_error_is_logged_without_the_values_it_quotes(
    client: TestClient, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    client.get(path)
    logged = log_events(caplog)
    assert [event["path"] for event in logged] == [path]
    assert CPR not in str(logged)
