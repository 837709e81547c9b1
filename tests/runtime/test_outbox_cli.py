"""`brobygger outbox failed|retry <service>`: what an operator sees of set-aside events, and
how they go back to the relay."""

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest
from sqlalchemy import Engine, insert, select

from runtime.cli import main
from runtime.storage import make_engine, outbox, plumbing_metadata

FAILED_AT = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)


def outbox_row(**values: object) -> dict[str, object]:
    return {
        "event_id": str(uuid4()),
        "topic": "referrals.referral.v1",
        "key": str(uuid4()),
        "headers": {"ce_type": "dk.brobygger.referrals.referral.submitted.v1"},
        "value": b'{"citizen_ref": "cit_1"}',
        "created_at": FAILED_AT,
        "attempts": 0,
        "last_error": None,
        "published_at": None,
        "failed_at": None,
        **values,
    }


def fill(engine: Engine) -> dict[str, object]:
    """One row set aside, one waiting, one published; returns the set-aside one."""
    plumbing_metadata.create_all(engine)
    set_aside = outbox_row(
        attempts=5,
        failed_at=FAILED_AT,
        last_error="[Error 10] MessageSizeTooLargeError",
        topic="referrals.big.v1",
    )
    with engine.begin() as connection:
        connection.execute(
            insert(outbox),
            [set_aside, outbox_row(), outbox_row(published_at=FAILED_AT)],
        )
    return set_aside


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture(autouse=True)
def elsewhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A working directory without .cache/local.env or .data/, and no database setting."""
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    monkeypatch.delenv("REFERRALS_DATABASE_URL", raising=False)
    return workdir


def test_failed_lists_the_set_aside_rows_and_retry_puts_them_back(
    engine_for: Callable[[str], Engine],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine = engine_for("referrals")
    row = fill(engine)
    monkeypatch.setenv("REFERRALS_DATABASE_URL", url_of(engine))

    main(["outbox", "failed", "referrals"])
    shown = capsys.readouterr()
    [line] = shown.out.splitlines()
    assert line.startswith("#1 dk.brobygger.referrals.referral.submitted.v1 ")
    for part in [
        f"id={row['event_id']}",
        "topic=referrals.big.v1",
        f"key={row['key']}",
        "set aside 2026-11-30T09:15:00+00:00",
        "after 5 attempt(s): [Error 10] MessageSizeTooLargeError",
    ]:
        assert part in line
    assert "cit_1" not in shown.out, "never the payload"
    assert "1 outbox row(s) of referrals set aside" in shown.err
    assert "brobygger outbox retry referrals" in shown.err

    main(["outbox", "retry", "referrals"])
    retried = capsys.readouterr()
    assert retried.out.startswith("put back: #1 ")
    assert "1 outbox row(s) of referrals put back" in retried.err
    with engine.connect() as connection:
        first = connection.execute(select(outbox).where(outbox.c.seq == 1)).one()
    assert (first.failed_at, first.attempts, first.published_at) == (None, 0, None)

    main(["outbox", "failed", "referrals"])
    assert capsys.readouterr().err.startswith("0 outbox row(s) of referrals set aside")


@pytest.mark.parametrize("found_in", ["local.env", "data-dir"])
def test_the_database_is_found_where_the_service_finds_it(
    elsewhere: Path, found_in: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if found_in == "local.env":
        engine = make_engine(f"sqlite:///{elsewhere.parent}/somewhere.db")
        (elsewhere / ".cache").mkdir()
        (elsewhere / ".cache" / "local.env").write_text(
            f"BROBYGGER_JWKS_FILE=.cache/keys/jwks.json\nREFERRALS_DATABASE_URL={url_of(engine)}\n"
        )
    else:
        (elsewhere / ".data").mkdir()
        engine = make_engine(f"sqlite:///{elsewhere}/.data/referrals.db")
    try:
        fill(engine)
        main(["outbox", "failed", "referrals"])
    finally:
        engine.dispose()
    assert len(capsys.readouterr().out.splitlines()) == 1


def test_without_a_database_it_says_where_it_looked() -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["outbox", "failed", "referrals"])
    message = str(exit_.value.code)
    assert "REFERRALS_DATABASE_URL" in message
    assert ".data/referrals.db" in message
    assert not Path(".data").exists(), "nothing created"


def test_a_database_without_an_outbox_gets_a_clear_message(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REFERRALS_DATABASE_URL", f"sqlite:///{elsewhere}/empty.db")
    with pytest.raises(SystemExit) as exit_:
        main(["outbox", "retry", "referrals"])
    assert "migrates" in str(exit_.value.code)
