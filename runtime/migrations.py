"""Alembic, driven from code: each service keeps its revisions in `<service>/migrations/`."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Engine, MetaData, text

from runtime.storage import plumbing_metadata


def alembic_config(migrations_dir: Path, engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.attributes["engine"] = engine
    return config


def upgrade(migrations_dir: Path, engine: Engine) -> None:
    """Bring the service's database to the newest revision."""
    with _one_at_a_time(engine):
        command.upgrade(alembic_config(migrations_dir, engine), "head")


@contextlib.contextmanager
def _one_at_a_time(engine: Engine) -> Iterator[None]:
    """Replicas starting together take turns, the later ones finding nothing to do. On
    PostgreSQL the migration's transaction takes an advisory lock (`run_env`); a SQLite
    file is locked here, for the length of the upgrade."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    descriptor = os.open(f"{database}.migrate.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def run_env(service_metadata: MetaData, *more: MetaData) -> None:
    """The body of every service's `migrations/env.py`: its tables plus outbox and inbox,
    and `more` it installs from the runtime (e.g. `runtime.audit.audit_metadata`)."""
    targets: Sequence[MetaData] = [service_metadata, plumbing_metadata, *more]
    engine: Engine = context.config.attributes["engine"]
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=targets,
            # SQLite alters tables by copying them; Alembic's batch mode does that.
            render_as_batch=engine.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            if engine.dialect.name == "postgresql":
                # Replicas starting together take turns; the later ones find nothing to do.
                connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('alembic'))"))
            context.run_migrations()
