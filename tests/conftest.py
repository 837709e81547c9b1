"""Shared fixtures. Store tests run on SQLite and on the real PostgreSQL; plumbing and
end-to-end tests on a real Kafka broker.

Where a Docker engine runs, PostgreSQL comes from an image through testcontainers
(tests/containers.py); otherwise `infra/postgres/postgres.sh` starts it (installing Debian's
package if missing). Kafka always comes from `infra/kafka/kafka.sh`, a broker from Maven
Central's jars with logins and ACLs on, as the services meet it everywhere.
Set BROBYGGER_TEST_SKIP_POSTGRES=1 to run without PostgreSQL (a quick local loop; CI never
sets it).
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from runtime.cli import SigningKey, create_signing_key
from runtime.kafka_security import ADMIN_PASSWORD_VARIABLE
from runtime.storage import make_engine
from tests.containers import PostgresContainerDatabases, docker_engine_running
from tools import SERVICES

ROOT = Path(__file__).resolve().parent.parent
# Two test runs on one machine keep apart with their own database names (and broker port).
TEST_DB_TAG = os.environ.get("BROBYGGER_TEST_DB_TAG", "")


def kafka_password_variable(principal: str) -> str:
    """Where a Kafka principal's password is set: KAFKA_ADMIN_PASSWORD,
    KAFKA_CONTROLLER_PASSWORD, or the service's <SERVICE>_KAFKA_PASSWORD."""
    if principal == "admin":
        return ADMIN_PASSWORD_VARIABLE
    if principal == "controller":
        return "KAFKA_CONTROLLER_PASSWORD"
    return f"{principal.upper()}_KAFKA_PASSWORD"


# The test broker's principals (infra/acls.toml's and the two super users) and passwords.
TEST_KAFKA_PASSWORDS = {
    p: f"test-kafka-{p}-password-01" for p in ("admin", "controller", *SERVICES)
}
# What infra/kafka/kafka.sh needs to start the test broker.
TEST_BROKER_SECRETS = {kafka_password_variable(p): pw for p, pw in TEST_KAFKA_PASSWORDS.items()}
TEST_SECRETS = {
    "REFERRALS_MASTER_KEYS": "test-1:3q2nHm9N6Zc0c2i4xZ1jv8mGkQ0yJd3o5cQm0n1xW6E=",
    "REFERRALS_BLIND_INDEX_KEY": "test-blind-index-key-that-is-long-enough-01",
    "REFERRALS_FINGERPRINT_KEY": "test-fingerprint-key-that-is-long-enough-01",
    "NOTIFICATIONS_WEBHOOK_SECRET_KEYS": "test-1:oDI4GAVp4LhEqdxKWZ9xL2SsFiS+MOd8x5IFr3J5trg=",
    # Each service's own Kafka password (a service process gets only its own: e2e/system.py).
    **{kafka_password_variable(s): TEST_KAFKA_PASSWORDS[s] for s in SERVICES},
}

# The session's own token key pair, made at start so no private key is ever committed:
# `tests.kit.token` signs with TEST_SIGNING_KEY, the services under test read TEST_JWKS_FILE.
_TOKEN_KEY_DIR = Path(tempfile.mkdtemp(prefix="brobygger-test-keys-"))
atexit.register(shutil.rmtree, _TOKEN_KEY_DIR, ignore_errors=True)
_TEST_SIGNING_KEY_FILE, TEST_JWKS_FILE = create_signing_key(_TOKEN_KEY_DIR)
TEST_SIGNING_KEY = SigningKey.from_file(_TEST_SIGNING_KEY_FILE)


def log_events(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """What the service logged through structlog, as the event dicts of its JSON lines."""
    return [record.msg for record in caplog.records if isinstance(record.msg, dict)]


@pytest.fixture
def offline_service_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The environment of a service whose Kafka is unreachable: HTTP works, the outbox fills."""
    for name, value in TEST_SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BROBYGGER_JWKS_FILE", str(TEST_JWKS_FILE))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    return monkeypatch


@pytest.fixture(scope="session")
def use_docker() -> bool:
    return docker_engine_running()


@pytest.fixture(scope="session")
def postgres_databases(use_docker: bool) -> Iterator[Callable[[str], dict[str, str]]]:
    """`postgres_databases(suffix)`: `{service: url}` of one database per service, named
    `brobygger_<service><suffix>`, each reachable only by that service's own role; and
    `referrals_keys`, the referrals key store's database, with a role of its own too."""
    if os.environ.get("BROBYGGER_TEST_SKIP_POSTGRES") == "1":
        pytest.skip("BROBYGGER_TEST_SKIP_POSTGRES=1")
    if use_docker:
        container = PostgresContainerDatabases()
        yield container.databases
        container.stop()
    else:
        yield _postgres_from_script


def _postgres_from_script(suffix: str) -> dict[str, str]:
    env = {**os.environ, "PG_DB_SUFFIX": suffix}
    script = ROOT / "infra" / "postgres" / "postgres.sh"
    started = subprocess.run(
        ["bash", str(script), "start"], env=env, capture_output=True, text=True
    )
    if started.returncode != 0:
        pytest.fail(f"PostgreSQL did not start:\n{started.stderr[-3000:]}")
    printed = subprocess.run(
        ["bash", str(script), "urls"], check=True, env=env, capture_output=True, text=True
    ).stdout
    urls = {}
    for line in printed.splitlines():
        name, _, url = line.partition("=")
        if name.endswith("_DATABASE_URL"):
            urls[name.removesuffix("_DATABASE_URL").lower()] = url
        elif name == "REFERRALS_KEYSTORE_URL":
            urls["referrals_keys"] = url
    return urls


@pytest.fixture(scope="session")
def postgres_urls(postgres_databases: Callable[[str], dict[str, str]]) -> dict[str, str]:
    """The `_test` databases, which store tests empty before each test."""
    return postgres_databases(f"_test{TEST_DB_TAG}")


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_for(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], Engine]]:
    """`engine_for("referrals")`: an empty database of that service's own, on each backend."""
    engines: list[Engine] = []

    def make(service: str) -> Engine:
        if request.param == "sqlite":
            engine = make_engine(f"sqlite:///{tmp_path}/{service}.db")
        else:
            engine = make_engine(request.getfixturevalue("postgres_urls")[service])
            with engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


TEST_KAFKA_PORT = int(os.environ.get("BROBYGGER_TEST_KAFKA_PORT", "19092"))


def control_test_broker(command: str, port: int = TEST_KAFKA_PORT) -> None:
    """Run `infra/kafka/kafka.sh <command>` (start, stop, reset) for the session's test
    broker, or for another on `port` (its controller on `port + 1`)."""
    env = {
        **os.environ,
        **TEST_BROKER_SECRETS,
        "KAFKA_PORT": str(port),
        "KAFKA_CONTROLLER_PORT": str(port + 1),
        "PYTHON": sys.executable,
    }
    script = ROOT / "infra" / "kafka" / "kafka.sh"
    done = subprocess.run(["bash", str(script), command], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"kafka.sh {command} failed for the test broker:\n{done.stderr[-3000:]}")


@contextmanager
def script_broker(port: int) -> Iterator[str]:
    """A broker from infra/kafka/kafka.sh on `port`, started with no data, stopped after."""
    control_test_broker("reset", port)
    control_test_broker("start", port)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        control_test_broker("stop", port)


@pytest.fixture(scope="session")
def kafka() -> Iterator[str]:
    """A real single-node Kafka broker for the test session, on its own port and data.

    Started from scratch by infra/kafka/kafka.sh (fetching the jars on first use) and stopped
    at the end: every session begins with no topics' data or offsets. It authenticates every
    client (SASL/SCRAM) and authorises by infra/acls.toml, with TEST_BROKER_SECRETS. Also
    where Docker runs: the testcontainers Kafka image cannot bootstrap SCRAM credentials.
    """
    with script_broker(TEST_KAFKA_PORT) as bootstrap:
        yield bootstrap
