"""Two replicas of a service on one PostgreSQL database and in one consumer group, on the
real broker: they share the work, one of them publishes the outbox, and when that one is
killed the other takes over; every referral is offered, none twice."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from runtime.auth import Role
from tests.e2e.kafka_reader import Record, records_on, wait_for_records
from tests.e2e.referrals import CARE_SYSTEM, referral
from tests.e2e.system import System
from tests.kit import wait_for

pytestmark = pytest.mark.infra

REFERRALS = "referrals.referral.v1"
TYPE = "dk.brobygger.referrals.referral.{}.v1"


def health(system: System, name: str) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(f"{system.url(name)}/health", timeout=5).json()
    return answer


def submit_to(system: System, name: str) -> str:
    """A new referral POSTed to the replica `name`; its id."""
    with system.client(name, Role.CARE_SYSTEM, subject=CARE_SYSTEM) as care:
        response = care.post(
            "/referrals", json=referral(), headers={"Idempotency-Key": str(uuid.uuid4())}
        )
    assert response.status_code == 201, response.text
    created: str = response.json()["id"]
    return created


def offered(system: System, name: str, referral_id: str) -> bool:
    with system.client(name, Role.CARE_SYSTEM, subject=CARE_SYSTEM) as care:
        return bool(care.get(f"/referrals/{referral_id}").json()["status"] == "offered")


def on_kafka(records: list[Record], referral_id: str, kind: str) -> list[str]:
    """The ce_id of each record of the referral's `kind` event, as often as it is there."""
    return [
        r.headers["ce_id"]
        for r in records
        if r.subject == referral_id and r.type == TYPE.format(kind)
    ]


async def test_replicas_share_the_work_and_when_the_leader_is_killed_the_other_takes_over(
    system: System,
) -> None:
    assert health(system, "referrals")["relay_leader"]
    both = [submit_to(system, "referrals") for _ in range(10)]
    system.start("referrals-2")  # joins the group while those are handled: a rebalance
    try:
        assert not health(system, "referrals-2")["relay_leader"], "one leader at a time"
        both += [submit_to(system, ("referrals", "referrals-2")[n % 2]) for n in range(10)]
        records = await wait_for_records(
            system.kafka,
            REFERRALS,
            lambda found: all(on_kafka(found, r, "offered") for r in both),
            "every referral's offer",
        )
        for referral_id in both:  # one replica published them: each event once
            for kind in ("submitted", "offered"):
                assert len(on_kafka(records, referral_id, kind)) == 1, (referral_id, kind)

        system.kill("referrals")  # the leader
        wait_for(
            lambda: health(system, "referrals-2")["relay_leader"],
            "the surviving replica to publish the outbox",
        )
        after = [submit_to(system, "referrals-2") for _ in range(10)]
        for referral_id in after:
            wait_for(
                lambda referral_id=referral_id: offered(system, "referrals-2", referral_id),
                f"referral {referral_id} to be offered",
                timeout=120,
            )
        records = await records_on(system.kafka, REFERRALS)
        for referral_id in both + after:
            for kind in ("submitted", "offered"):
                # A row the leader sent but had not marked when it died goes out again,
                # with the same ce_id: consumers drop it. Never a second event.
                assert len(set(on_kafka(records, referral_id, kind))) == 1, (referral_id, kind)
    finally:
        if "referrals" not in system.processes:
            system.start("referrals")
        system.stop("referrals-2")
    wait_for(lambda: health(system, "referrals")["relay_leader"], "the first to lead again")
