from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from runtime.storage import make_engine
from tests.conftest import TEST_DB_TAG
from tests.e2e.system import System
from tools import SERVICES


@pytest.fixture(scope="session")
def system(
    kafka: str,
    postgres_databases: Callable[[str], dict[str, str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[System]:
    """Kafka, PostgreSQL and the four services, each in its own process and database
    (the `_e2e` ones, apart from those the store tests empty)."""
    database_urls = postgres_databases(f"_e2e{TEST_DB_TAG}")
    for url in database_urls.values():
        engine = make_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    log_dir: Path = tmp_path_factory.mktemp("service-logs")
    running = System(kafka=kafka, database_urls=database_urls, log_dir=log_dir)
    try:
        for service in SERVICES:
            running.start(service)
        yield running
    finally:
        running.stop_all()
