"""The audit log: appended in the caller's transaction, chained by hashes, refused any change
by the database, checked by `verify` and `brobygger audit verify`, read by operators."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, Executable, delete, inspect, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from runtime.audit import (
    GENESIS_HASH,
    SINCE_BEFORE_UNTIL,
    AuditEntry,
    AuditRecord,
    Verification,
    append,
    audit_log,
    audit_metadata,
    audit_router,
    install_audit_log,
    uninstall_audit_log,
    verify,
)
from runtime.auth import Role
from runtime.cli import main
from runtime.config import ServiceSettings
from runtime.service import ServiceRuntime
from runtime.storage import UnitOfWork, make_engine
from tests.kit import auth_header

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
REFERRAL = UUID("6f1c1a4e-2f0b-4c55-9a39-3f1f6d2c9b01")
OTHER_REFERRAL = UUID("0b7e2d1c-5a4f-4e3b-8c2d-1e0f9a8b7c6d")
PARTNER_ORG = UUID("081b0fc4-6bc5-515b-a92d-10b4ebe1a4cd")


def entry(**changes: Any) -> AuditEntry:
    """A partner reading a referral's contact details, as the referrals service audits it."""
    base = AuditEntry(
        at=AT,
        subject="coordinator-7",
        role="partner",
        organization_id=PARTNER_ORG,
        action="contact_details.read",
        referral_id=REFERRAL,
        fields=("name", "phone"),
        purpose="first_contact",
    )
    return replace(base, **changes)


def installed(engine: Engine) -> Engine:
    """`engine`'s database with the audit log, made as a service's Alembic revision makes it."""
    with engine.begin() as connection, Operations.context(MigrationContext.configure(connection)):
        install_audit_log()
    return engine


def uninstalled(engine: Engine) -> None:
    with engine.begin() as connection, Operations.context(MigrationContext.configure(connection)):
        uninstall_audit_log()


def write(engine: Engine, *entries: AuditEntry) -> list[AuditRecord]:
    """Append each entry in a transaction of its own."""
    records = []
    for one in entries:
        with Session(engine) as session:
            records.append(append(session, one))
            session.commit()
    return records


def verified(engine: Engine) -> Verification:
    with Session(engine) as session:
        return verify(session)


def tamper(engine: Engine, *statements: str | Executable) -> None:
    """Change the log as someone with DDL rights can: drop the guarding triggers first."""
    drop = (
        [
            "DROP TRIGGER audit_log_refuse_change ON audit_log",
            "DROP TRIGGER audit_log_refuse_truncate ON audit_log",
        ]
        if engine.dialect.name == "postgresql"
        else ["DROP TRIGGER audit_log_refuse_update", "DROP TRIGGER audit_log_refuse_delete"]
    )
    with engine.begin() as connection:
        for statement in [*drop, *statements]:
            connection.execute(text(statement) if isinstance(statement, str) else statement)


def seqs(engine: Engine) -> list[int]:
    with engine.connect() as connection:
        return list(connection.execute(select(audit_log.c.seq).order_by("seq")).scalars())


@pytest.fixture
def audited(engine_for: Callable[[str], Engine]) -> Engine:
    """A service database with an empty audit log, on SQLite and on PostgreSQL."""
    return installed(engine_for("referrals"))


@pytest.fixture
def postgres(postgres_urls: dict[str, str]) -> Iterator[Engine]:
    """An empty PostgreSQL database with the audit log, and room for eight writers."""
    engine = make_engine(postgres_urls["referrals"], pool_size=8)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    yield installed(engine)
    engine.dispose()


# -- the entry ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"fields": ("Inger Jensen",)},
        {"fields": ("phone", "phone")},
        {"purpose": "called her at 12 34 56 78"},
        {"action": "read"},
        {"role": "Operator"},
        {"subject": "line\nbreak"},
        {"at": datetime(2026, 11, 22, 9, 30)},  # naive
    ],
    ids=lambda change: next(iter(change)),
)
def test_an_entry_takes_names_and_codes_only_and_never_repeats_a_refused_value(
    change: dict[str, Any],
) -> None:
    with pytest.raises(ValueError, match="audit entry") as refused:
        entry(**change)
    assert "Inger" not in str(refused.value)
    assert "12 34" not in str(refused.value)


# -- the table ------------------------------------------------------------------------------


def test_the_installed_table_is_the_model_and_uninstalling_removes_it_all(audited: Engine) -> None:
    with audited.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), audit_metadata)
    assert differences == []

    uninstalled(audited)
    assert not inspect(audited).has_table("audit_log")
    installed(audited)  # nothing of the first install (a PostgreSQL function) was left behind
    assert write(audited, entry())[0].seq == 1


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET purpose = 'other'",
        "UPDATE audit_log SET entry_hash = prev_hash WHERE seq = 2",
        "DELETE FROM audit_log WHERE seq = 1",
        "DELETE FROM audit_log",
    ],
)
def test_the_database_refuses_to_update_or_delete_an_entry(audited: Engine, statement: str) -> None:
    write(audited, entry(), entry(purpose="follow_up"))
    with pytest.raises(DBAPIError, match="append-only"), audited.begin() as connection:
        connection.execute(text(statement))
    assert seqs(audited) == [1, 2]
    assert verified(audited).ok


def test_postgresql_also_refuses_to_truncate_the_log(postgres: Engine) -> None:
    write(postgres, entry())
    with pytest.raises(DBAPIError, match="append-only"), postgres.begin() as connection:
        connection.execute(text("TRUNCATE audit_log"))
    assert seqs(postgres) == [1]


# -- appending and verifying ----------------------------------------------------------------


def test_each_entry_carries_the_hash_of_the_one_before_and_the_chain_verifies(
    audited: Engine,
) -> None:
    assert verified(audited) == Verification(ok=True, entries=0, head=GENESIS_HASH)
    records = write(
        audited,
        entry(),
        entry(at=AT + timedelta(minutes=5), action="consent.withdrawn", fields=()),
        entry(action="citizen.erased", referral_id=None, organization_id=None, role="operator"),
    )

    assert [record.seq for record in records] == [1, 2, 3]
    assert records[0].prev_hash == GENESIS_HASH
    assert [r.prev_hash for r in records[1:]] == [r.entry_hash for r in records[:-1]]
    assert len({record.entry_hash for record in records}) == 3
    with audited.connect() as connection:
        stored = connection.execute(select(audit_log).order_by("seq")).all()
    assert [AuditRecord(**row._mapping) for row in stored] == records, "read back as written"
    assert verified(audited) == Verification(ok=True, entries=3, head=records[-1].entry_hash)


def test_an_entry_is_hashed_over_the_hash_before_it_and_its_canonical_json(
    audited: Engine,
) -> None:
    # The encoding is in every stored hash: a change would break every chain written before,
    # so it is spelt out here, for anyone checking the log with other tools too.
    canonical = (
        '{"action":"contact_details.read","at":"2026-11-22T09:30:00.000000+00:00",'
        '"fields":["name","phone"],"organization_id":"081b0fc4-6bc5-515b-a92d-10b4ebe1a4cd",'
        '"purpose":"first_contact","referral_id":"6f1c1a4e-2f0b-4c55-9a39-3f1f6d2c9b01",'
        '"role":"partner","seq":1,"subject":"coordinator-7"}'
    )
    [record] = write(audited, entry())
    assert record.entry_hash == hashlib.sha256(f"{GENESIS_HASH}{canonical}".encode()).hexdigest()


def test_an_entry_is_written_with_its_transaction_or_not_at_all(audited: Engine) -> None:
    with Session(audited) as session:
        append(session, entry())
        session.rollback()
    [record] = write(audited, entry(purpose="follow_up"))
    assert (record.seq, record.prev_hash) == (1, GENESIS_HASH)
    assert verified(audited).ok


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE audit_log SET purpose = 'curiosity' WHERE seq = 2",
        'UPDATE audit_log SET fields = \'["name", "phone", "address"]\' WHERE seq = 2',
        "UPDATE audit_log SET subject = 'someone-else' WHERE seq = 2",
        "UPDATE audit_log SET referral_id = NULL WHERE seq = 2",
        "UPDATE audit_log SET at = (SELECT at FROM audit_log WHERE seq = 1) WHERE seq = 2",
    ],
    ids=["purpose", "fields", "subject", "referral", "time"],
)
def test_verify_finds_the_first_changed_entry(audited: Engine, change: str) -> None:
    write(audited, *[entry(at=AT + timedelta(minutes=n)) for n in range(4)])
    tamper(audited, change)
    found = verified(audited)
    assert (found.ok, found.first_broken_seq, found.entries) == (False, 2, 1)
    assert "changed" in (found.reason or "")


def test_verify_finds_entries_put_in_another_order(audited: Engine) -> None:
    write(audited, *[entry(at=AT + timedelta(minutes=n)) for n in range(4)])
    tamper(
        audited,
        "UPDATE audit_log SET seq = 0 WHERE seq = 2",
        "UPDATE audit_log SET seq = 2 WHERE seq = 3",
        "UPDATE audit_log SET seq = 3 WHERE seq = 0",
    )
    found = verified(audited)
    assert (found.ok, found.first_broken_seq, found.entries) == (False, 2, 1)


@pytest.mark.parametrize(("removed", "broken_at"), [(1, 2), (2, 3), (3, 4)])
def test_verify_finds_a_removed_entry_at_the_one_after_it(
    audited: Engine, removed: int, broken_at: int
) -> None:
    records = write(audited, *[entry(at=AT + timedelta(minutes=n)) for n in range(4)])
    tamper(audited, delete(audit_log).where(audit_log.c.seq == removed))
    found = verified(audited)
    assert (found.ok, found.first_broken_seq, found.entries) == (False, broken_at, removed - 1)
    assert "removed" in (found.reason or "")
    assert found.head == ([GENESIS_HASH] + [r.entry_hash for r in records])[removed - 1]


def test_removing_the_newest_entries_shows_only_in_the_count_and_head(audited: Engine) -> None:
    records = write(audited, *[entry(at=AT + timedelta(minutes=n)) for n in range(3)])
    tamper(audited, delete(audit_log).where(audit_log.c.seq == 3))
    assert verified(audited) == Verification(ok=True, entries=2, head=records[1].entry_hash)


def test_concurrent_appenders_on_postgresql_leave_one_unbroken_chain(postgres: Engine) -> None:
    writers, rounds = 8, 10
    start = threading.Barrier(writers)
    failures: list[BaseException] = []

    def appender(number: int) -> None:
        try:
            start.wait(timeout=30)
            for _ in range(rounds):
                with Session(postgres) as session:
                    append(session, entry(subject=f"coordinator-{number}"))
                    session.commit()
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=appender, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert verified(postgres).entries == writers * rounds
    assert verified(postgres).ok
    assert seqs(postgres) == list(range(1, writers * rounds + 1))


# -- GET /audit -----------------------------------------------------------------------------


@pytest.fixture
def operators_api(audited: Engine, offline_service_env: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """A service's HTTP app with the audit router, on `audited`; six entries, an hour apart:
    seq n at AT + (n - 1) h; odd ones about REFERRAL by coordinator-7, even ones about
    OTHER_REFERRAL by operator-1."""
    write(
        audited,
        *[
            entry(at=AT + timedelta(hours=n))
            if n % 2 == 0
            else entry(
                at=AT + timedelta(hours=n),
                subject="operator-1",
                role="operator",
                organization_id=None,
                referral_id=OTHER_REFERRAL,
                fields=("personal_number",),
                purpose="identity_check",
            )
            for n in range(6)
        ],
    )
    runtime = ServiceRuntime(
        ServiceSettings(
            service_name="probe",
            http_port=0,
            database_url="sqlite://",
            relay_enabled=False,
            migrate_on_start=False,
            kafka_password="unused-no-broker-in-this-test",
        ),
        migrations_dir=Path("unused"),
        publishes=[],
    )
    app = runtime.create_app(audit_router(), description="The audit log alone.")
    sessions = sessionmaker(audited, class_=Session, expire_on_commit=False)
    app.state.start_uow = lambda: UnitOfWork(sessions, "/brobygger/probe")
    yield TestClient(app)
    runtime.engine.dispose()


def operator() -> dict[str, str]:
    return auth_header(Role.OPERATOR)


def listed(client: TestClient, **params: Any) -> tuple[list[int], int]:
    response = client.get("/audit", params=params, headers=operator())
    assert response.status_code == 200, response.text
    page = response.json()
    assert (page["offset"], page["limit"]) == (params.get("offset", 0), params.get("limit", 50))
    return [item["seq"] for item in page["data"]], page["total"]


def test_operators_read_the_log_newest_first_a_page_at_a_time(
    operators_api: TestClient,
) -> None:
    assert listed(operators_api) == ([6, 5, 4, 3, 2, 1], 6)
    assert listed(operators_api, offset=1, limit=2) == ([5, 4], 6)
    assert listed(operators_api, offset=6) == ([], 6)
    newest = operators_api.get("/audit", params={"limit": 1}, headers=operator()).json()["data"][0]
    assert newest == {
        "seq": 6,
        "at": "2026-11-22T14:30:00Z",
        "subject": "operator-1",
        "role": "operator",
        "organization_id": None,
        "action": "contact_details.read",
        "referral_id": str(OTHER_REFERRAL),
        "fields": ["personal_number"],
        "purpose": "identity_check",
        "prev_hash": newest["prev_hash"],
        "entry_hash": newest["entry_hash"],
    }
    assert len(newest["entry_hash"]) == 64


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"referral_id": str(REFERRAL)}, ([5, 3, 1], 3)),
        ({"subject": "operator-1"}, ([6, 4, 2], 3)),
        ({"subject": "nobody"}, ([], 0)),
        ({"since": "2026-11-22T11:30:00Z"}, ([6, 5, 4, 3], 4)),
        ({"until": "2026-11-22T11:30:00Z"}, ([2, 1], 2)),
        # The offset is honoured: 13:30+02:00 is 11:30 UTC.
        ({"since": "2026-11-22T13:30:00+02:00", "until": "2026-11-22T13:30:00Z"}, ([4, 3], 2)),
        (
            {"referral_id": str(OTHER_REFERRAL), "since": "2026-11-22T11:30:00Z", "limit": 1},
            ([6], 2),
        ),
    ],
)
def test_operators_filter_by_referral_subject_and_time(
    operators_api: TestClient, params: dict[str, Any], expected: tuple[list[int], int]
) -> None:
    assert listed(operators_api, **params) == expected


@pytest.mark.parametrize(
    ("params", "location"),
    [
        ({"since": "2026-11-22T11:30:00"}, "query.since"),
        ({"until": "yesterday"}, "query.until"),
        ({"referral_id": "42"}, "query.referral_id"),
        ({"limit": 0}, "query.limit"),
        ({"limit": 201}, "query.limit"),
        ({"offset": -1}, "query.offset"),
    ],
)
def test_a_bad_filter_is_a_422_problem_naming_it(
    operators_api: TestClient, params: dict[str, Any], location: str
) -> None:
    response = operators_api.get("/audit", params=params, headers=operator())
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [error["location"] for error in response.json()["errors"]] == [location]


def test_a_time_range_that_holds_no_time_is_a_422_problem(operators_api: TestClient) -> None:
    at = "2026-11-22T11:30:00Z"
    response = operators_api.get("/audit", params={"since": at, "until": at}, headers=operator())
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert SINCE_BEFORE_UNTIL in response.json()["detail"]


@pytest.mark.parametrize(
    ("role", "status"),
    [(None, 401), (Role.PARTNER, 403), (Role.CARE_SYSTEM, 403), (Role.REVIEWER, 403)],
)
def test_only_operators_read_the_log(
    operators_api: TestClient, role: Role | None, status: int
) -> None:
    headers = auth_header(role, organization_id=PARTNER_ORG) if role else {}
    response = operators_api.get("/audit", headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"


def test_the_api_document_describes_the_audit_endpoint(operators_api: TestClient) -> None:
    app: FastAPI = operators_api.app  # type: ignore[assignment]
    operation = app.openapi()["paths"]["/audit"]["get"]
    assert operation["x-roles"] == ["operator"]
    assert list(operation["responses"]) == ["200", "401", "403", "422", "503"]
    assert operation["responses"]["422"]["x-rules"] == [SINCE_BEFORE_UNTIL]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert list(parameters) == ["referral_id", "subject", "since", "until", "offset", "limit"]
    assert all(p["description"] for p in parameters.values())
    since = parameters["since"]["schema"]["anyOf"][0]
    assert since == {"type": "string", "format": "date-time"}
    schemas = app.openapi()["components"]["schemas"]
    assert all(p.get("description") for p in schemas["AuditEntryPublic"]["properties"].values())


# -- brobygger audit verify <service> -------------------------------------------------------


@pytest.fixture
def elsewhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A working directory without .cache/local.env or .data/, and no database setting."""
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    monkeypatch.delenv("REFERRALS_DATABASE_URL", raising=False)
    return workdir


def audit_verify(engine: Engine, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`brobygger audit verify referrals` run as an operator runs it, in a process."""
    env = {
        **os.environ,
        "REFERRALS_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", "audit", "verify", "referrals"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_audit_verify_exits_0_on_an_intact_chain_and_1_where_it_breaks(
    audited: Engine, elsewhere: Path
) -> None:
    records = write(audited, *[entry(at=AT + timedelta(minutes=n)) for n in range(3)])
    intact = audit_verify(audited, elsewhere)
    assert intact.returncode == 0, intact.stderr
    assert intact.stdout == (
        f"3 audit entries of referrals: chain OK, head {records[-1].entry_hash}\n"
    )

    tamper(audited, "UPDATE audit_log SET purpose = 'curiosity' WHERE seq = 2")
    broken = audit_verify(audited, elsewhere)
    assert broken.returncode == 1
    assert broken.stdout == ""
    assert "The audit log of referrals is broken at seq 2: its content was changed" in (
        broken.stderr
    )


def test_audit_verify_on_a_database_without_the_log_says_what_to_do(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REFERRALS_DATABASE_URL", f"sqlite:///{elsewhere}/empty.db")
    with pytest.raises(SystemExit) as exit_:
        main(["audit", "verify", "referrals"])
    assert "Could not use the audit log of referrals" in str(exit_.value.code)
    assert "migrates" in str(exit_.value.code)
