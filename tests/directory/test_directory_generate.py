"""`brobygger directory generate` on SQLite and PostgreSQL: realistic, valid, deterministic
data, saved through `save` in a number of statements that does not grow with the batch."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from directory import generate, services
from directory.app import MIGRATIONS
from directory.geography import DISTRICTS
from directory.hsds import validation
from directory.services.writing import save
from directory.store import DirectoryUnitOfWork, ServiceQuery
from runtime.migrations import upgrade

StartUow = Callable[[], DirectoryUnitOfWork]
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def engine(engine_for: Callable[[str], Engine]) -> Engine:
    engine = engine_for("directory")
    upgrade(MIGRATIONS, engine)
    return engine


@pytest.fixture
def start_uow(engine: Engine) -> StartUow:
    sessions = sessionmaker(engine, class_=Session, expire_on_commit=False)

    def start() -> DirectoryUnitOfWork:
        return DirectoryUnitOfWork(sessions, "/brobygger/directory")

    services.keep_vocabulary(start, lambda: NOW)  # as the service does on start
    return start


def fill(start_uow: StartUow, count: int, seed: int = 7) -> str:
    out = io.StringIO()
    assert generate.fill(start_uow, services=count, seed=seed, clock=lambda: NOW, out=out) == 0
    return out.getvalue()


def test_300_generated_services_are_valid_matchable_and_spread_over_every_district(
    start_uow: StartUow,
) -> None:
    printed = fill(start_uow, 300)
    assert re.search(r"^300 services, \d+ organisations, \d+ locations", printed, re.M)
    with start_uow() as uow:
        matchable = uow.services.all()
        records = uow.records.every()
        organizations = uow.records.count("organization")
        locations = uow.records.count("location")
    assert len(matchable) == 300
    assert {found.location.district for found in matchable} == {d.name for d in DISTRICTS}
    assert validation.check_records([(f"{r.entity} {r.id}", r) for r in records]) == []
    assert 300 / 12 <= organizations <= 300 / 4
    assert 100 <= locations <= 300 / 3 + organizations
    cvr = [r.fields["identifier"] for r in records if r.entity == "organization_identifier"]
    assert len(cvr) == organizations
    assert all(re.fullmatch(r"[1-9]\d{7}", number) for number in cvr)
    accessible = sum(found.location.wheelchair_accessible for found in matchable)
    assert 0.4 < accessible / len(matchable) < 0.8
    assert all("da" in found.service.languages for found in matchable)
    assert all(5 <= found.service.capacity <= 40 for found in matchable)
    assert any(found.service.free_places == 0 for found in matchable)
    assert all(found.service.schedules and found.service.interests for found in matchable)


def test_a_generated_service_is_found_by_the_words_of_its_name_and_its_district(
    start_uow: StartUow,
) -> None:
    fill(start_uow, 40)
    with start_uow() as uow:
        service = uow.services.all()[0]
        by_name, _ = uow.records.services(ServiceQuery(search=service.service.name), 0, 5)
        by_district, total = uow.records.services(
            ServiceQuery(search=service.location.district), 0, None
        )
    assert by_name[0] == str(service.service.id)
    assert str(service.service.id) in by_district and total < 40


def test_generating_again_adds_as_many_new_services(start_uow: StartUow) -> None:
    fill(start_uow, 30)
    fill(start_uow, 30)
    with start_uow() as uow:
        assert len(uow.services.all()) == 60
        assert uow.records.count("service") == 60


def test_the_same_seed_generates_the_same_directory_and_another_seed_another() -> None:
    def generated(seed: int) -> list[Any]:
        return [g.records for g in generate.organizations_of(50, seed, NOW)]

    assert generated(3) == generated(3)
    assert generated(3) != generated(4)
    assert sum(g.services for g in generate.organizations_of(50, 3, NOW)) == 50


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements executed meanwhile (an executemany counting once)."""
    seen: list[str] = []

    def count(_: Any, clause: Any, *__: Any) -> None:
        seen.append(str(clause))

    event.listen(engine, "before_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_execute", count)


def test_saving_100_services_takes_as_many_statements_as_saving_10(
    engine: Engine, start_uow: StartUow
) -> None:
    def saved(count: int, first: int) -> int:
        records = [
            record
            for organization in generate.organizations_of(count, 1, NOW, first=first)
            for record in organization.records
        ]
        with start_uow() as uow, statements(engine) as seen:
            saving = save(records, generate.GENERATOR, uow, NOW)
            uow.commit()
        assert len(saving.services) == count
        return len(seen)

    few, many = saved(10, 0), saved(100, 1000)
    # Chunks of ids (500 per IN list) may add a statement or two; per record would be 1000s.
    assert few <= many <= few + 5
