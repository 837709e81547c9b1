"""PostgreSQL from a Docker image, through testcontainers, where a Docker engine runs.
Without one (as on the project's own machines) the fixtures use infra/postgres/postgres.sh.
Kafka always comes from infra/kafka/kafka.sh: the broker must authenticate every client and
authorise by ACLs, and the Kafka image testcontainers configures has no way to bootstrap
the SCRAM credentials at format time.

Set BROBYGGER_TEST_DOCKER=0 to use the script even where Docker runs.
"""

from __future__ import annotations

import os
import subprocess

from sqlalchemy import create_engine, text

from tools import SERVICES

POSTGRES_IMAGE = "postgres:15"


def docker_engine_running() -> bool:
    if os.environ.get("BROBYGGER_TEST_DOCKER") == "0":
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=15).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class PostgresContainerDatabases:
    """One role and one database per service, as infra/postgres/postgres.sh makes them."""

    def __init__(self) -> None:
        from testcontainers.community.postgres import PostgresContainer

        self._container = PostgresContainer(POSTGRES_IMAGE, driver="psycopg")
        self._container.start()
        self._admin = create_engine(
            self._container.get_connection_url(), isolation_level="AUTOCOMMIT"
        )
        self._host = self._container.get_container_host_ip()
        self._port = self._container.get_exposed_port(5432)

    def databases(self, suffix: str) -> dict[str, str]:
        urls = {}
        with self._admin.connect() as connection:
            # The referrals key store has a database and role of its own, as postgres.sh makes.
            for service in (*SERVICES, "referrals_keys"):
                role, database = f"brobygger_{service}", f"brobygger_{service}{suffix}"
                password = f"dev-{service}"
                if not connection.execute(
                    text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}
                ).first():
                    connection.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'"))
                if not connection.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": database}
                ).first():
                    connection.execute(text(f"CREATE DATABASE {database} OWNER {role}"))
                    connection.execute(text(f"REVOKE ALL ON DATABASE {database} FROM PUBLIC"))
                    connection.execute(
                        text(f"GRANT CONNECT, TEMPORARY ON DATABASE {database} TO {role}")
                    )
                urls[service] = (
                    f"postgresql+psycopg://{role}:{password}@{self._host}:{self._port}/{database}"
                )
        return urls

    def stop(self) -> None:
        self._admin.dispose()
        self._container.stop()
