"""The embedded database keeps what it acknowledged."""

from pathlib import Path

from sqlalchemy import text

from runtime.storage import make_engine


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
