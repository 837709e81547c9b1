"""On PostgreSQL, the outbox's `seq` follows commit order, not insert order, so the relay
publishes an aggregate's events in the order their transactions committed.

(SQLite lets one writer at a time hold the database from its first write to its commit.)
"""

import json
import threading
from collections.abc import Callable, Iterator
from uuid import uuid4

import pytest
from sqlalchemy import event, text

from runtime.envelope import OutgoingMessage
from runtime.relay import OutboxRelay
from runtime.storage import make_engine
from tests.kit import wait_for
from tests.runtime.plumbing import PlumbingStore, plumbing_store_on, submitted

WAITING_FOR_AN_ADVISORY_LOCK = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


@pytest.fixture
def store(postgres_urls: dict[str, str]) -> Iterator[PlumbingStore]:
    engine = make_engine(postgres_urls["referrals"])
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    yield plumbing_store_on(engine)
    engine.dispose()


async def test_an_aggregates_events_are_published_in_commit_order_not_insert_order(
    store: PlumbingStore,
) -> None:
    aggregate = uuid4()
    first_is_committing = threading.Event()
    second_committed = threading.Event()
    commit_order: list[str] = []
    failures: list[BaseException] = []

    def second_done_or_blocked() -> bool:
        if second_committed.is_set():
            return True
        with store.engine.connect() as connection:
            return bool(connection.execute(WAITING_FOR_AN_ADVISORY_LOCK).scalar_one())

    def hold_the_first_commit(_session: object) -> None:
        # The first transaction has written all it writes and is about to commit. Let the
        # second one commit meanwhile, and see whether it can.
        first_is_committing.set()
        wait_for(second_done_or_blocked, "the second transaction to wait or commit", 10)
        commit_order.append("first")  # before its commit, which a blocked second awaits

    def first() -> None:
        with store.start_uow() as uow:
            uow.publish(submitted(aggregate, interests=["first"]))
            event.listen(uow.session, "before_commit", hold_the_first_commit)
            uow.commit()

    def second() -> None:
        first_is_committing.wait(timeout=10)
        with store.start_uow() as uow:
            uow.publish(submitted(aggregate, interests=["second"]))
            uow.commit()
        commit_order.append("second")
        second_committed.set()

    def guarded(writer: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                writer()
            except BaseException as error:
                failures.append(error)

        return run

    threads = [threading.Thread(target=guarded(w)) for w in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == []
    assert sorted(commit_order) == ["first", "second"]

    published: list[OutgoingMessage] = []

    async def publish(message: OutgoingMessage) -> None:
        published.append(message)

    async def answers() -> bool:
        return True

    await OutboxRelay(store.session_factory, publish, broker_reachable=answers).publish_pending()
    assert [json.loads(m.value)["interests"][0] for m in published] == commit_order
