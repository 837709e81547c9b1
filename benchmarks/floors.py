"""What the building blocks cost on this machine, before Brobygger does anything of its own.

    .venv/bin/python -m benchmarks.floors [--requests 3000] [--transactions 3000]

The floors a referral's CPU cannot go below, whatever Brobygger's code does, in the stack the
project is built on (docs/benchmarks.md, "Why not 300/s"):

- an HTTP request through uvicorn and FastAPI: a synchronous POST endpoint (one worker-thread
  hop, as Brobygger's) validating a small JSON body with Pydantic and answering 201, no
  middleware and no database, measured as the server process's CPU per request while one
  keep-alive client sends them one after the other;
- a SQLite transaction as the services run them (`runtime.storage.make_engine`: WAL,
  `synchronous=FULL`, one writer at a time): one INSERT and the commit, through SQLAlchemy
  Core and through an ORM `Session`, as this process's CPU per transaction.

Each figure is CPU milliseconds, so the fsync a commit waits for does not count.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

import httpx
from fastapi import FastAPI
from pydantic import BaseModel, Field
from sqlalchemy import Column, Engine, MetaData, String, Table, insert
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from runtime.storage import make_engine

TICKS = os.sysconf("SC_CLK_TCK")


class Body(BaseModel):
    """About the size and shape of a referral's body."""

    citizen: str = Field(min_length=10, max_length=10)
    name: str = Field(max_length=200)
    interests: list[str] = Field(max_length=20)
    district: str = Field(max_length=100)
    languages: list[str] = Field(max_length=10)
    note: str = Field(default="", max_length=2000)


app = FastAPI()


@app.post("/things", status_code=201)
def create(body: Body) -> dict[str, str]:
    return {"id": str(uuid4()), "district": body.district}


BODY = {
    "citizen": "0101501234",
    "name": "Karen Jensen",
    "interests": ["walks", "chess", "singing"],
    "district": "Nørrebro",
    "languages": ["da"],
    "note": "Likes mornings.",
}


def cpu_seconds(pid: int) -> float:
    """User and system CPU of process `pid` so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _created(client: httpx.Client) -> None:
    response = client.post("/things", json=BODY)
    if response.status_code != 201:
        raise RuntimeError(f"the floor's server answered {response.status_code}")


def http_floor(requests: int) -> float:
    """Server CPU ms per request, sequential keep-alive POSTs."""
    port = _free_port()
    server = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "uvicorn",
            "benchmarks.floors:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    client.post("/things", json=BODY)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            for _ in range(200):  # warm up
                _created(client)
            before = cpu_seconds(server.pid)
            for _ in range(requests):
                _created(client)
            return (cpu_seconds(server.pid) - before) * 1000 / requests
    finally:
        server.terminate()
        server.wait(timeout=30)


def rows_table() -> tuple[MetaData, Table]:
    metadata = MetaData()
    rows = Table(
        "rows", metadata, Column("id", String, primary_key=True), Column("payload", String)
    )
    return metadata, rows


def _per_transaction(transactions: int, transaction: Callable[[], None]) -> float:
    for _ in range(100):  # warm up
        transaction()
    before = time.process_time()
    for _ in range(transactions):
        transaction()
    return (time.process_time() - before) * 1000 / transactions


def sqlite_floors(transactions: int, folder: Path) -> tuple[float, float]:
    """CPU ms per one-INSERT transaction: SQLAlchemy Core, then an ORM Session."""
    engine: Engine = make_engine(f"sqlite:///{folder}/floors.db")
    metadata, rows = rows_table()
    metadata.create_all(engine)
    payload = "x" * 300
    statement = insert(rows)

    def core() -> None:
        with engine.begin() as connection:
            connection.execute(statement, {"id": str(uuid4()), "payload": payload})

    sessions = sessionmaker(engine, class_=Session, expire_on_commit=False)

    def orm_session() -> None:
        with sessions() as session:
            session.execute(statement, {"id": str(uuid4()), "payload": payload})
            session.commit()

    try:
        return _per_transaction(transactions, core), _per_transaction(transactions, orm_session)
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--transactions", type=int, default=3000)
    arguments = parser.parse_args()
    print(f"HTTP POST, uvicorn + FastAPI, {arguments.requests} requests...", file=sys.stderr)
    http = http_floor(arguments.requests)
    print(f"SQLite transactions, {arguments.transactions} of each kind...", file=sys.stderr)
    with tempfile.TemporaryDirectory() as folder:
        core, orm = sqlite_floors(arguments.transactions, Path(folder))
    print(f"{'building block':<58} CPU ms")
    print(f"{'HTTP POST (uvicorn + FastAPI, Pydantic body, thread hop)':<58} {http:6.2f}")
    print(f"{'SQLite transaction, one INSERT + commit (Core)':<58} {core:6.2f}")
    print(f"{'SQLite transaction, one INSERT + commit (ORM Session)':<58} {orm:6.2f}")


if __name__ == "__main__":
    main()
