"""One leader among a service's replicas: the lock is refused to a second holder, is let go
of when its holder's process or connection dies, and only its holder runs the work."""

import asyncio
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text

from runtime.leadership import AdvisoryLock, FileLock, Leadership, lock_for
from runtime.migrations import upgrade
from runtime.storage import make_engine
from tests.kit import eventually

GRANTS_MIGRATIONS = Path(__file__).parents[2] / "services" / "grants" / "migrations"


def test_a_file_lock_is_refused_to_a_second_holder_until_the_first_lets_go(
    tmp_path: Path,
) -> None:
    first, second = FileLock(tmp_path / "lead.lock"), FileLock(tmp_path / "lead.lock")
    assert first.acquire()
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.release()


def test_a_file_lock_is_free_again_once_its_holders_process_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "lead.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, pathlib; from runtime.leadership import FileLock; "
            f"assert FileLock(pathlib.Path({str(path)!r})).acquire(); print('held', flush=True); "
            "sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        ours = FileLock(path)
        assert not ours.acquire()
        holder.kill()
        holder.wait()
        assert ours.acquire()
        ours.release()
    finally:
        holder.kill()
        holder.wait()


def test_an_advisory_lock_is_refused_to_a_second_holder_and_freed_when_its_session_dies(
    postgres_urls: dict[str, str],
) -> None:
    engine, other_replica = (
        make_engine(postgres_urls["referrals"]),
        make_engine(postgres_urls["referrals"]),
    )
    first = AdvisoryLock(engine, "test-leader")
    second = AdvisoryLock(other_replica, "test-leader")
    assert first.acquire()
    try:
        assert not second.acquire()
        with engine.connect() as other:
            other.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND objid = hashtext('test-leader')::oid"
                )
            )
        assert not first.held(), "its session ended: the lock went with it"
        assert second.acquire()
        assert second.held()
    finally:
        first.release()
        second.release()
        engine.dispose()
        other_replica.dispose()


def test_replicas_on_one_sqlite_file_take_turns_with_its_lock(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/grants.db")
    a = lock_for(engine, "brobygger-relay-grants")
    b = lock_for(make_engine(f"sqlite:///{tmp_path}/grants.db"), "brobygger-relay-grants")
    assert a.acquire() and not b.acquire()
    a.release()
    assert b.acquire()
    b.release()


class SharedLock:
    """One lock two replicas contend for; the test can take it from its holder."""

    def __init__(self) -> None:
        self.holder: object | None = None

    def for_replica(self) -> "ReplicaLock":
        return ReplicaLock(self)


class ReplicaLock:
    def __init__(self, shared: SharedLock) -> None:
        self.shared = shared
        self.attempts = 0

    def acquire(self) -> bool:
        self.attempts += 1
        if self.shared.holder is None:
            self.shared.holder = self
        return self.shared.holder is self

    def held(self) -> bool:
        return self.shared.holder is self

    def release(self) -> None:
        if self.shared.holder is self:
            self.shared.holder = None


async def test_only_the_leader_runs_the_work_and_another_replica_takes_over_when_it_is_lost() -> (
    None
):
    shared = SharedLock()
    running: list[str] = []

    def work_of(name: str) -> Callable[[], asyncio.Future[None]]:
        async def work() -> None:
            running.append(name)
            try:
                await asyncio.Event().wait()
            finally:
                running.remove(name)

        return lambda: asyncio.ensure_future(work())

    second_lock = shared.for_replica()
    first = Leadership(shared.for_replica(), retry_seconds=0.01, check_seconds=0.01)
    second = Leadership(second_lock, retry_seconds=0.01, check_seconds=0.01)
    replicas = [asyncio.create_task(first.run(work_of("first")))]
    try:
        await eventually(lambda: running == ["first"])
        replicas.append(asyncio.create_task(second.run(work_of("second"))))
        await eventually(lambda: second_lock.attempts >= 5)  # none of them may start it
        assert running == ["first"] and (first.leading, second.leading) == (True, False)

        shared.holder = None  # the first's session died: the database let go of its lock
        await eventually(lambda: running == ["second"])
        assert (first.leading, second.leading) == (False, True)
    finally:
        for replica in replicas:
            replica.cancel()
        await asyncio.gather(*replicas, return_exceptions=True)
    assert running == [] and shared.holder is None, "a stopped replica lets go of the lock"


def test_replicas_migrating_one_sqlite_file_at_once_take_turns(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/grants.db"
    start = threading.Barrier(3)
    failures: list[BaseException] = []

    def migrate() -> None:
        engine = make_engine(url)
        start.wait()
        try:
            upgrade(GRANTS_MIGRATIONS, engine)
        except BaseException as error:
            failures.append(error)
        finally:
            engine.dispose()

    replicas = [threading.Thread(target=migrate) for _ in range(3)]
    for replica in replicas:
        replica.start()
    for replica in replicas:
        replica.join()
    assert failures == []
