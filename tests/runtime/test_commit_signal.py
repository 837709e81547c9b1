"""A commit that writes the outbox wakes the leading replica's relay at once, whichever
replica committed it: on PostgreSQL by NOTIFY, on SQLite by a datagram to the leader."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runtime.commit_signal import SqliteCommits, wake_on_commits
from runtime.storage import UnitOfWork, make_engine, plumbing_metadata
from tests.kit import eventually
from tests.runtime.plumbing import plumbing_store_on, submitted
from tests.runtime.test_health import bare_service


async def test_a_commit_by_another_replica_wakes_the_relay_without_waiting_for_a_poll(
    postgres_urls: dict[str, str],
) -> None:
    store = plumbing_store_on(make_engine(postgres_urls["referrals"]))
    listening = make_engine(postgres_urls["referrals"])  # the leading replica's own
    wakes: list[int] = []
    listener = asyncio.create_task(wake_on_commits(listening, lambda: wakes.append(1)))
    try:
        await eventually(lambda: len(wakes) == 1)  # once, as it starts listening
        await asyncio.to_thread(store.commit_events, submitted())
        await eventually(lambda: len(wakes) == 2, timeout=5)

        with store.start_uow() as uow:  # nothing for the outbox: no signal
            uow.commit()
        await asyncio.to_thread(store.commit_events, submitted())
        await eventually(lambda: len(wakes) >= 3, timeout=5)
        # Notifications arrive in commit order: one for the empty commit would be here too.
        assert len(wakes) == 3
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        store.engine.dispose()
        listening.dispose()


async def test_the_postgresql_listener_returns_at_once_on_sqlite() -> None:
    engine = make_engine("sqlite://")
    await asyncio.wait_for(wake_on_commits(engine, lambda: None), timeout=1)


@contextlib.asynccontextmanager
async def leader_listening(database: Path) -> AsyncIterator[list[int]]:
    """The leading replica's listener on `database`, its wake-ups counted; yields once it
    listens (it wakes once as it starts)."""
    engine = make_engine(f"sqlite:///{database}")
    wakes: list[int] = []
    listener = asyncio.create_task(SqliteCommits(engine).listen(lambda: wakes.append(1)))
    try:
        await eventually(lambda: wakes == [1])
        yield wakes
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        engine.dispose()


async def test_a_sqlite_replicas_commit_wakes_the_leading_replica_of_its_database(
    tmp_path: Path,
) -> None:
    async with leader_listening(tmp_path / "referrals.db") as wakes:
        # Another replica: another engine on the same file, as another process has.
        follower = SqliteCommits(make_engine(f"sqlite:///{tmp_path}/./referrals.db"))
        follower.announce()
        await eventually(lambda: len(wakes) == 2, timeout=5)
        follower.announce()
        await eventually(lambda: len(wakes) == 3, timeout=5)


async def test_a_commit_on_another_sqlite_database_wakes_nobody(tmp_path: Path) -> None:
    async with leader_listening(tmp_path / "referrals.db") as wakes:
        other = SqliteCommits(make_engine(f"sqlite:///{tmp_path}/directory.db"))
        other.announce()
        mine = SqliteCommits(make_engine(f"sqlite:///{tmp_path}/referrals.db"))
        mine.announce()  # after the other: once it is heard, the other would have been
        await eventually(lambda: len(wakes) == 2, timeout=5)
        assert len(wakes) == 2


def test_announcing_with_no_leader_listening_neither_blocks_nor_fails(tmp_path: Path) -> None:
    SqliteCommits(make_engine(f"sqlite:///{tmp_path}/referrals.db")).announce()


async def test_a_second_leader_waits_for_the_address_until_the_first_lets_go(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/referrals.db")
    async with leader_listening(tmp_path / "referrals.db"):
        second: list[int] = []
        waiting = asyncio.create_task(
            SqliteCommits(engine).listen(lambda: second.append(1), retry_seconds=0.05)
        )
    # The first let go as its relay stopped: the second binds and listens.
    await eventually(lambda: second == [1], timeout=5)
    SqliteCommits(engine).announce()
    await eventually(lambda: second == [1, 1], timeout=5)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    engine.dispose()


async def test_a_service_replica_that_does_not_lead_tells_the_leader_of_its_commits(
    tmp_path: Path,
) -> None:
    database = tmp_path / "probe.db"
    runtime, _ = bare_service(f"sqlite:///{database}", "127.0.0.1:1")
    plumbing_metadata.create_all(runtime.engine)
    assert not runtime.relay_leadership.leading  # never started: this replica follows
    async with leader_listening(database) as wakes:
        with runtime.uow_factory(UnitOfWork)() as uow:
            uow.publish(submitted())
            uow.commit()
        await eventually(lambda: len(wakes) == 2, timeout=5)
    runtime.engine.dispose()


async def test_the_relay_stops_when_listening_for_the_other_replicas_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, _ = bare_service(f"sqlite:///{tmp_path}/probe.db", "127.0.0.1:1")
    relaying, stopped = asyncio.Event(), asyncio.Event()

    async def relay() -> None:
        relaying.set()
        try:
            await asyncio.Future()
        finally:
            stopped.set()

    async def listen(_wake: object) -> None:
        await relaying.wait()
        raise OSError("no more file descriptors")

    monkeypatch.setattr(runtime.relay, "run", relay)
    monkeypatch.setattr(runtime._sqlite_commits, "listen", listen)
    # Left running, the relay would go on publishing once another replica leads.
    with pytest.raises(ExceptionGroup):
        await runtime._publish_outbox()
    assert stopped.is_set()
    runtime.engine.dispose()
