"""The floors benchmark measures real work: the server's CPU for real requests, and this
process's CPU for real commits that leave their rows in the database."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from benchmarks import floors
from runtime.storage import make_engine


def test_the_http_floor_is_the_cpu_of_a_server_that_answered_every_request_201() -> None:
    per_request = floors.http_floor(requests=50)  # raises on any answer but 201
    assert 0 < per_request < 1000


def test_the_sqlite_floors_commit_every_transaction_they_count(tmp_path: Path) -> None:
    core, orm = floors.sqlite_floors(transactions=20, folder=tmp_path)
    assert core > 0 and orm > 0
    engine = make_engine(f"sqlite:///{tmp_path}/floors.db")
    _, rows = floors.rows_table()
    with engine.connect() as connection:
        # 100 warm-up and 20 counted transactions of each kind, each one row.
        assert connection.scalar(select(func.count()).select_from(rows)) == 240
    engine.dispose()
