"""Time from a partner's decline to the next organisation's offer, against a running system
(`./run`).

    .venv/bin/python -m benchmarks.reoffer_latency --count 20

Each referral (walking, Nørrebro, Danish: two demo candidates) is submitted and awaited as
`offered`; the offered organisation declines it. Two times are taken from the decline:
until referrals shows the referral offered to another organisation (the next offer is made
from the kept candidate list in the decline's own transaction, so this is mostly the
decline's round trip), and until that organisation finds the offer in its notifications
inbox (through the outbox, Kafka and notifications). Both are polled every 10 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any
from uuid import UUID, uuid4

import httpx

from runtime.auth import Role
from runtime.cli import mint_token, signing_key

BODY = {
    "citizen": {"personal_number": "120342-1234", "name": "Benchmark Borger"},
    "district": "Nørrebro",
    "interests": ["walking"],
    "languages": ["da"],
    "consent": {"referral": True, "given_on": "2026-11-20"},
}


def wait_until(
    client: httpx.Client, referral_id: str, done: Any, what: str, timeout: float
) -> dict[str, Any]:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        found: dict[str, Any] = client.get(f"/referrals/{referral_id}").json()
        if done(found):
            return found
        time.sleep(0.01)
    raise TimeoutError(f"referral {referral_id}: not {what} within {timeout} s")


def partner_token(organization_id: str) -> str:
    return mint_token(
        signing_key(),
        subject="benchmark",
        role=Role.PARTNER,
        organization_id=UUID(organization_id),
    )


def time_one(care: httpx.Client, url: str, inbox_url: str, timeout: float) -> tuple[float, float]:
    response = care.post("/referrals", json=BODY, headers={"Idempotency-Key": str(uuid4())})
    response.raise_for_status()
    referral_id = response.json()["id"]
    offered = wait_until(care, referral_id, lambda r: r["status"] == "offered", "offered", timeout)
    first = offered["offered_organization_id"]
    started = time.perf_counter()
    declined = httpx.post(
        f"{url}/partner/referrals/{referral_id}/decline",
        json={"reason": "no_capacity"},
        headers={"Authorization": f"Bearer {partner_token(first)}"},
    )
    declined.raise_for_status()
    moved_on = wait_until(
        care,
        referral_id,
        lambda r: r["status"] == "offered" and r["offered_organization_id"] != first,
        "offered to the next organisation",
        timeout,
    )
    offered_again = time.perf_counter() - started
    headers = {"Authorization": f"Bearer {partner_token(moved_on['offered_organization_id'])}"}
    with httpx.Client(base_url=inbox_url, headers=headers) as next_partner:
        while time.perf_counter() - started < timeout:
            messages = next_partner.get("/inbox", params={"limit": 200}).json()["data"]
            if any(m["referral_id"] == referral_id for m in messages):
                return offered_again, time.perf_counter() - started
            time.sleep(0.01)
    raise TimeoutError(f"referral {referral_id}: the next organisation was not told")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--url", default="http://127.0.0.1:8001", help="referrals")
    parser.add_argument("--inbox-url", default="http://127.0.0.1:8004", help="notifications")
    parser.add_argument("--timeout", type=float, default=30)
    args = parser.parse_args()
    token = mint_token(signing_key(), subject="benchmark", role=Role.CARE_SYSTEM)
    timings = []
    with httpx.Client(base_url=args.url, headers={"Authorization": f"Bearer {token}"}) as care:
        for n in range(1, args.count + 1):
            timings.append(time_one(care, args.url, args.inbox_url, args.timeout))
            offered, told = timings[-1]
            print(
                f"referral {n:3d}/{args.count}: offered {offered * 1000:7.1f} ms, "
                f"in the inbox {told * 1000:7.1f} ms",
                file=sys.stderr,
            )
    for label, figures in (
        ("decline → next offer", [t[0] for t in timings]),
        ("decline → next organisation's inbox", [t[1] for t in timings]),
    ):
        print(
            f"{label} over {len(figures)} referrals: "
            f"median {statistics.median(figures) * 1000:.0f} ms, "
            f"worst {max(figures) * 1000:.0f} ms, best {min(figures) * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
