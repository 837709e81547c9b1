"""`create_once` on SQLite and PostgreSQL: a key creates once, also under a real race."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
import sqlmodel
from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from runtime.idempotency import IdempotencyConflict, IdempotentRequest, create_once
from runtime.storage import UnitOfWork, idempotency_keys, outbox, plumbing_metadata
from tests.runtime.plumbing import submitted

UowFactory = Callable[[], UnitOfWork]


@dataclass(frozen=True)
class Submit:
    """Stands for a service's command: its fields other than the key are the request."""

    district: str
    idempotency_key: str | None


def request(
    principal: str = "care-system-1", key: str | None = "key-1", district: str = "Nørrebro"
) -> IdempotentRequest | None:
    return IdempotentRequest.of(principal, key, Submit(district, key))


def create(uow: UnitOfWork) -> tuple[UUID, str]:
    """Creates a 'resource' whose only trace is the outbox row of its event."""
    resource_id = uuid4()
    uow.publish(submitted(resource_id))
    return resource_id, str(resource_id)


def load(uow: UnitOfWork, resource_id: str) -> UUID:
    return UUID(resource_id)


@pytest.fixture
def engine(engine_for: Callable[[str], Engine]) -> Engine:
    engine = engine_for("referrals")
    plumbing_metadata.create_all(engine)
    return engine


@pytest.fixture
def start_uow(engine: Engine) -> UowFactory:
    session_factory = sessionmaker(engine, class_=sqlmodel.Session, expire_on_commit=False)
    return lambda: UnitOfWork(session_factory, "/brobygger/test")


def outbox_keys(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(select(outbox.c.key).order_by(outbox.c.seq)).scalars())


def stored_keys(engine: Engine) -> set[tuple[str, str, str, str]]:
    """(principal, key, fingerprint, resource id) of every recorded key."""
    columns = idempotency_keys.c
    query = select(columns.principal, columns.key, columns.fingerprint, columns.resource_id)
    with engine.connect() as connection:
        return {(row[0], row[1], row[2], row[3]) for row in connection.execute(query)}


def test_the_first_request_commits_what_it_created_together_with_its_key(
    engine: Engine, start_uow: UowFactory
) -> None:
    first = request()
    assert first is not None

    resource_id, created = create_once(start_uow, first, create=create, load=load)

    assert created
    assert outbox_keys(engine) == [str(resource_id)]
    assert stored_keys(engine) == {("care-system-1", "key-1", first.fingerprint, str(resource_id))}


def test_a_retry_returns_the_first_result_and_writes_nothing_more(
    engine: Engine, start_uow: UowFactory
) -> None:
    first_id, _ = create_once(start_uow, request(), create=create, load=load)

    again_id, created = create_once(start_uow, request(), create=create, load=load)

    assert not created
    assert again_id == first_id
    assert outbox_keys(engine) == [str(first_id)]
    assert len(stored_keys(engine)) == 1


def test_the_same_key_for_another_request_is_a_conflict_and_writes_nothing(
    engine: Engine, start_uow: UowFactory
) -> None:
    first_id, _ = create_once(start_uow, request(), create=create, load=load)
    keys_before = stored_keys(engine)

    with pytest.raises(IdempotencyConflict):
        create_once(start_uow, request(district="Valby"), create=create, load=load)

    assert outbox_keys(engine) == [str(first_id)]
    assert stored_keys(engine) == keys_before


def test_the_same_key_from_another_principal_is_theirs_alone(
    engine: Engine, start_uow: UowFactory
) -> None:
    mine, _ = create_once(start_uow, request("care-system-1"), create=create, load=load)

    theirs, created = create_once(start_uow, request("care-system-2"), create=create, load=load)

    assert created
    assert theirs != mine
    assert outbox_keys(engine) == [str(mine), str(theirs)]
    assert {row[:2] for row in stored_keys(engine)} == {
        ("care-system-1", "key-1"),
        ("care-system-2", "key-1"),
    }


def test_without_a_key_every_request_creates(engine: Engine, start_uow: UowFactory) -> None:
    first, first_created = create_once(start_uow, request(key=None), create=create, load=load)
    second, second_created = create_once(start_uow, request(key=None), create=create, load=load)

    assert (first_created, second_created) == (True, True)
    assert first != second
    assert outbox_keys(engine) == [str(first), str(second)]
    assert stored_keys(engine) == set()


def test_a_request_that_fails_leaves_its_key_free_for_the_retry(
    engine: Engine, start_uow: UowFactory
) -> None:
    def create_then_fail(uow: UnitOfWork) -> tuple[UUID, str]:
        create(uow)
        raise ValueError("the service refused the request")

    with pytest.raises(ValueError, match="refused"):
        create_once(start_uow, request(), create=create_then_fail, load=load)
    assert (outbox_keys(engine), stored_keys(engine)) == ([], set())

    resource_id, created = create_once(start_uow, request(), create=create, load=load)

    assert created
    assert outbox_keys(engine) == [str(resource_id)]


def test_two_requests_with_the_same_key_at_the_same_moment_create_once(
    engine: Engine, start_uow: UowFactory
) -> None:
    # Both requests wait here, after looking the key up and finding nothing, so neither
    # can see the other's key: only the database's unique key can stop the second.
    both_looked_up = threading.Barrier(2, timeout=10)

    def create_after_both_looked_up(uow: UnitOfWork) -> tuple[UUID, str]:
        both_looked_up.wait()
        return create(uow)

    with ThreadPoolExecutor(max_workers=2) as threads:
        futures = [
            threads.submit(
                create_once, start_uow, request(), create=create_after_both_looked_up, load=load
            )
            for _ in range(2)
        ]
        results = [future.result(timeout=60) for future in futures]

    assert sorted(created for _, created in results) == [False, True]
    assert results[0][0] == results[1][0]
    assert outbox_keys(engine) == [str(results[0][0])]
    assert len(stored_keys(engine)) == 1


def test_the_fingerprint_is_keyed_so_personal_data_in_it_cannot_be_guessed_back() -> None:
    @dataclass
    class Command:
        personal_number: str
        idempotency_key: str | None = None

    def fingerprint(secret: bytes, number: str = "0101401234") -> str:
        request = IdempotentRequest.of("care-1", "key-1", Command(number), secret)
        assert request is not None
        return request.fingerprint

    assert fingerprint(b"k1") == fingerprint(b"k1")
    assert fingerprint(b"k1") != fingerprint(b"k2")
    assert fingerprint(b"k1") != fingerprint(b"k1", "0101401235")


def test_a_conflict_over_something_other_than_the_key_is_not_taken_for_a_retry(
    engine: Engine, start_uow: UowFactory
) -> None:
    def create_clashing(uow: UnitOfWork) -> tuple[UUID, str]:
        row = {
            "event_id": str(uuid4()),
            "topic": "t",
            "key": "k",
            "headers": {},
            "value": b"{}",
            "created_at": datetime.now(UTC),
            "attempts": 0,
        }
        for _ in range(2):  # one event id twice: a unique clash that is not the key's
            uow.session.execute(insert(outbox).values(row))
        return uuid4(), "x"

    with pytest.raises(IntegrityError):
        create_once(start_uow, request(), create=create_clashing, load=load)
    assert stored_keys(engine) == set()
