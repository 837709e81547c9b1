"""Time from POST /referrals to status `offered`, against a running system (`./run`).

    .venv/bin/python -m benchmarks.referral_latency --count 20

Each referral is submitted, then its status is polled every 10 ms until it is offered;
the figure includes the whole chain: outbox relay, directory's matching, referrals'
offer. Afterwards it reports each service's resident memory (from the pid files `./run`
writes). Targets on a 2-core machine: median under 1 s, worst under 3 s, and under
200 MiB resident per service.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from uuid import uuid4

import httpx

from runtime.auth import Role
from runtime.cli import mint_token, signing_key
from tools import SERVICES

BODY = {
    "citizen": {"personal_number": "120342-1234", "name": "Benchmark Borger"},
    "district": "Nørrebro",
    "interests": ["walking"],
    "languages": ["da"],
    "consent": {"referral": True, "given_on": "2026-11-20"},
}


def time_one(client: httpx.Client, timeout: float) -> float:
    started = time.perf_counter()
    response = client.post("/referrals", json=BODY, headers={"Idempotency-Key": str(uuid4())})
    response.raise_for_status()
    referral_id = response.json()["id"]
    while time.perf_counter() - started < timeout:
        if client.get(f"/referrals/{referral_id}").json()["status"] == "offered":
            return time.perf_counter() - started
        time.sleep(0.01)
    raise TimeoutError(f"referral {referral_id} was not offered within {timeout} s")


def resident_mib(service: str) -> float | None:
    """VmRSS of a service that `./run` started, or None if it is not running here."""
    try:
        pid = Path(f".cache/run/{service}.pid").read_text().strip()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    return kib / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--url", default="http://127.0.0.1:8001")
    parser.add_argument("--timeout", type=float, default=30)
    args = parser.parse_args()
    token = mint_token(signing_key(), subject="benchmark", role=Role.CARE_SYSTEM)
    timings = []
    with httpx.Client(base_url=args.url, headers={"Authorization": f"Bearer {token}"}) as client:
        for n in range(1, args.count + 1):
            timings.append(time_one(client, args.timeout))
            print(f"referral {n:3d}/{args.count}: {timings[-1] * 1000:7.1f} ms", file=sys.stderr)
    print(
        f"POST → offered over {len(timings)} referrals: "
        f"median {statistics.median(timings) * 1000:.0f} ms, "
        f"worst {max(timings) * 1000:.0f} ms, best {min(timings) * 1000:.0f} ms"
    )
    for service in SERVICES:
        mib = resident_mib(service)
        if mib is not None:
            print(f"{service}: {mib:.0f} MiB resident")


if __name__ == "__main__":
    main()
