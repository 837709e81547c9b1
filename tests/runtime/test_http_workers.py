"""A service runs a bounded number of synchronous requests at once: past capacity the rest
wait their turn, and the thread that handles consumed events keeps its share of the CPU."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi import APIRouter
from fastapi.testclient import TestClient

from runtime.service import HTTP_WORKER_THREADS
from tests.runtime.test_health import bare_service


def test_no_more_synchronous_requests_run_at_once_than_the_service_has_worker_threads(
    tmp_path: Path,
) -> None:
    lock = threading.Lock()
    running, most = 0, 0
    entered = threading.Semaphore(0)
    release = threading.Event()
    router = APIRouter()

    @router.get("/hold")
    def hold() -> dict[str, int]:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        entered.release()
        release.wait(30)
        with lock:
            running -= 1
        return {}

    requests = HTTP_WORKER_THREADS * 2
    _, app = bare_service(f"sqlite:///{tmp_path}/probe.db", "127.0.0.1:1", (router,))
    with TestClient(app) as client, ThreadPoolExecutor(requests) as pool:
        answers = [pool.submit(client.get, "/hold") for _ in range(requests)]
        for _ in range(HTTP_WORKER_THREADS):
            assert entered.acquire(timeout=10), "a request did not start"
        # Deadline for one more to start beside them (with anyio's 40 threads, all would).
        one_more = entered.acquire(timeout=1)
        release.set()
        assert [answer.result(30).status_code for answer in answers] == [200] * requests
    assert not one_more
    assert most == HTTP_WORKER_THREADS
