"""On PostgreSQL, a commit that writes the outbox wakes every replica's relay at once,
whichever replica committed it."""

import asyncio

from runtime.commit_signal import wake_on_commits
from runtime.storage import make_engine
from tests.kit import eventually
from tests.runtime.plumbing import plumbing_store_on, submitted


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


async def test_sqlite_replicas_have_no_signal_and_the_listener_returns_at_once() -> None:
    engine = make_engine("sqlite://")
    await asyncio.wait_for(wake_on_commits(engine, lambda: None), timeout=1)
