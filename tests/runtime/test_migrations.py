"""Migrations when replicas start at the same moment (PostgreSQL: the production shape;
SQLite is one process's embedded database)."""

import subprocess
import sys
import time

from sqlalchemy import inspect, text

from runtime.storage import make_engine
from tests.conftest import ROOT

REPLICA = """
import sys, time
from referrals.app import MIGRATIONS
from runtime.migrations import upgrade
from runtime.storage import make_engine
engine = make_engine(sys.argv[1])
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # start together, imports done
upgrade(MIGRATIONS, engine)
"""


def test_replicas_migrating_the_same_database_at_once_all_succeed(
    postgres_urls: dict[str, str],
) -> None:
    url = postgres_urls["referrals"]
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    start_at = str(time.time() + 4)
    replicas = [
        subprocess.Popen(
            [sys.executable, "-c", REPLICA, url, start_at],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    failures = [r.communicate(timeout=60)[1] for r in replicas if r.wait(timeout=60) != 0]
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert failures == []
    assert {"referral", "offer", "outbox", "inbox", "idempotency_key"} <= tables
