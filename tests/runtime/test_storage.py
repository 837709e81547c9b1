"""The embedded database keeps what it acknowledged, and takes one writer at a time."""

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from runtime.storage import make_engine
from tests.kit import wait_for


def test_a_sqlite_commit_is_fsynced_before_it_returns(tmp_path: Path) -> None:
    # WAL with synchronous=NORMAL may lose the last commits on power loss; FULL does not.
    engine = make_engine(f"sqlite:///{tmp_path}/durable.db")
    try:
        with engine.connect() as connection:
            journal = connection.execute(text("PRAGMA journal_mode")).scalar()
            synchronous = connection.execute(text("PRAGMA synchronous")).scalar()
    finally:
        engine.dispose()
    assert (journal, synchronous) == ("wal", 2)  # 2 is FULL


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path}/writers.db")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
    yield engine
    engine.dispose()


def write(engine: Engine, row: int) -> None:
    with engine.connect() as connection:
        connection.execute(text("INSERT INTO t VALUES (:id)"), {"id": row})
        connection.commit()


def functions_running_in(thread: threading.Thread) -> set[str]:
    assert thread.ident is not None
    frame = sys._current_frames().get(thread.ident)
    names = set()
    while frame is not None:
        names.add(frame.f_code.co_name)
        frame = frame.f_back
    return names


def test_a_second_writer_of_the_process_queues_for_the_first_not_in_sqlites_busy_sleep(
    engine: Engine,
) -> None:
    with engine.connect() as first:
        first.execute(text("INSERT INTO t VALUES (1)"))  # holds SQLite's write lock
        second = threading.Thread(target=write, args=(engine, 2))
        second.start()
        wait_for(lambda: "before" in functions_running_in(second), "the second writer to queue", 10)
        first.commit()
    second.join(timeout=10)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT id FROM t ORDER BY id")).scalars().all() == [1, 2]


def test_a_write_that_failed_lets_the_next_writer_in(engine: Engine) -> None:
    write(engine, 1)
    with pytest.raises(IntegrityError):
        write(engine, 1)
    started = time.monotonic()
    write(engine, 2)
    assert time.monotonic() - started < 5, "the failed writer kept the lock"
