"""Autogenerate a service's next Alembic revision from its models.

    python -m tools.makemigrations referrals "add offer expiry"

Compares the models with a scratch SQLite database brought to the current head.
"""

from __future__ import annotations

import argparse
import importlib
import tempfile
from pathlib import Path

from alembic import command

from runtime.migrations import alembic_config, upgrade
from runtime.storage import make_engine
from tools import SERVICES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("service", choices=SERVICES)
    parser.add_argument("message")
    args = parser.parse_args()
    migrations = Path(importlib.import_module(f"{args.service}.app").MIGRATIONS)
    versions = migrations / "versions"
    versions.mkdir(exist_ok=True)
    rev_id = f"{len(list(versions.glob('[0-9]*.py'))) + 1:04d}"
    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(f"sqlite:///{scratch}/scratch.db")
        upgrade(migrations, engine)
        command.revision(
            alembic_config(migrations, engine),
            message=args.message,
            autogenerate=True,
            rev_id=rev_id,
        )


if __name__ == "__main__":
    main()
