"""A partner's own service, written to directory as HSDS 3.0, on the real Kafka broker and
PostgreSQL: referrals learns of it from directory's announcement, matching names it first
for a referral that fits and says why, criterion by criterion, and once its partner closes
it no referral is offered to it any more."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from runtime.auth import Role
from tests.e2e.kafka_reader import (
    Record,
    partitions_of,
    records_on,
    wait_for_records,
    wait_until_consumed,
)
from tests.e2e.matrix import new_location, new_service
from tests.e2e.referrals import submit, wait_offered, wait_status
from tests.e2e.system import System
from tests.kit import kafka_options

pytestmark = pytest.mark.infra

SERVICE_TOPIC = "directory.service.v1"
MATCH_TOPIC = "directory.match.v1"
INTEREST = "dancing"
"""An interest of Brobygger's vocabulary that no demo service has and no other test uses."""
ORGANIZATION = {
    "name": "Dansekredsen Nørrebro",
    "description": "Seniordans for begyndere og øvede.",
    "email": "kontakt@dansekredsen.example",
}


@pytest.fixture
def referrals_made(system: System) -> Iterator[list[str]]:
    """The referrals a test submits, cancelled afterwards (those already closed answer 409),
    so that no offer of theirs stays open."""
    made: list[str] = []
    yield made
    with system.client("referrals", Role.OPERATOR) as operator:
        for referral_id in made:
            cancelled = operator.post(
                f"/referrals/{referral_id}/cancel", json={"reason": "entered_in_error"}
            )
            assert cancelled.status_code in (200, 409), cancelled.text


async def announced(system: System, service_id: str, status: str) -> dict[str, Any]:
    """Directory's announcement that the service is `status`, once referrals has handled
    it (and everything before it on the topic)."""

    def about_it(records: list[Record]) -> list[dict[str, Any]]:
        return [
            data for r in records if r.key == service_id and (data := r.data())["status"] == status
        ]

    found = await wait_for_records(
        system.kafka,
        SERVICE_TOPIC,
        lambda records: bool(about_it(records)),
        f"service {service_id} announced {status}",
    )
    partitions = await partitions_of(system.kafka, SERVICE_TOPIC)
    consumer = AIOKafkaConsumer(bootstrap_servers=system.kafka, **kafka_options())
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    for partition, end in ends.items():
        if end:
            await wait_until_consumed(
                system.kafka, "brobygger-referrals", SERVICE_TOPIC, partition.partition, end - 1
            )
    return about_it(found)[-1]


def assign(system: System, referral_id: str, service_id: str) -> httpx.Response:
    with system.client("referrals", Role.OPERATOR) as operator:
        return operator.post(
            f"/referrals/{referral_id}/assign",
            json={"service_id": service_id, "reason": "De danser tæt på."},
        )


def close(system: System, organization_id: UUID, service_id: str) -> httpx.Response:
    """Its partner closes the service (HSDS `status` inactive), by a merge patch."""
    with system.client("directory", Role.PARTNER, organization_id=organization_id) as partner:
        return partner.patch(f"/services/{service_id}", json={"status": "inactive"})


@pytest.fixture
def dancing(system: System) -> Iterator[tuple[UUID, str]]:
    """A new organisation's service, the only one of its interest: an operator adds the
    organisation, its partner its location and the service (5 of 8 places free), as HSDS
    has them. Its organisation and the service's id; closed afterwards, whatever happened,
    so that it is offered nothing after this test."""
    with system.client("directory", Role.OPERATOR) as operator:
        made = operator.post("/organizations", json=ORGANIZATION)
    assert made.status_code == 201, made.text
    organization_id = UUID(made.json()["id"])
    location = new_location(organization_id, name="Dansekredsens sal")
    service = new_service(
        location["id"],
        organization_id,
        name="Seniordans på Nørrebro",
        status="active",
        interests=(INTEREST,),
        places=(5, 8),
    )
    with system.client("directory", Role.PARTNER, organization_id=organization_id) as partner:
        placed = partner.post("/locations", json=location)
        assert placed.status_code == 201, placed.text
        created = partner.post("/services", json=service)
        assert created.status_code == 201, created.text
    yield organization_id, service["id"]
    closed = close(system, organization_id, service["id"])
    assert closed.status_code == 200, closed.text


async def test_a_partners_new_service_is_learnt_matched_with_reasons_and_closed_for_offers(
    system: System, dancing: tuple[UUID, str], referrals_made: list[str]
) -> None:
    organization_id, service_id = dancing

    # Directory announces the service; referrals learns of it: an operator may assign a
    # referral to it.
    announcement = await announced(system, service_id, "active")
    assert {k: announcement[k] for k in ("organization_id", "capacity", "free_places")} == {
        "organization_id": str(organization_id),
        "capacity": 8,
        "free_places": 5,
    }
    waiting = submit(system, interests=[f"no-such-community-{uuid4().hex[:8]}"])["id"]
    referrals_made.append(waiting)
    wait_status(system, waiting, "escalated")
    assigned = assign(system, waiting, service_id)
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["offered_organization_id"] == str(organization_id)

    # A referral that fits it is offered to it, and its match says why, criterion by
    # criterion: the time of day from its schedule, the distance in km from the citizen's
    # district to its location.
    fitting = submit(system, interests=[INTEREST], preferred_times=["morning"])["id"]
    referrals_made.append(fitting)
    assert wait_offered(system, fitting)["offered_organization_id"] == str(organization_id)
    [match] = [r for r in await records_on(system.kafka, MATCH_TOPIC) if r.subject == fitting]
    [candidate] = match.data()["matches"]
    assert (candidate["service_id"], candidate["service_name"]) == (
        service_id,
        "Seniordans på Nørrebro",
    )
    reasons = candidate["reasons"]
    assert reasons[:2] == [f"interest: {INTEREST}", "language: da"]
    assert re.fullmatch(r"0\.\d km", reasons[2]), reasons  # Nørrebrogade 52, in Nørrebro
    assert reasons[3:] == [
        "no accessibility need",
        "Tue/Thu 10–12 fits morning",  # noqa: RUF001 - the schedule's range, as people write it
        "5 of 8 places free",
        "target group: none shared",
    ]

    # Its partner closes it: referrals hears so, and nothing more is offered to it.
    closed = close(system, organization_id, service_id)
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "inactive"
    await announced(system, service_id, "inactive")
    later = submit(system, interests=[INTEREST], preferred_times=["morning"])["id"]
    referrals_made.append(later)
    escalated = wait_status(system, later, "escalated")
    assert escalated["escalation"]["reason"] == "no_match"
    refused = assign(system, later, service_id)
    assert refused.status_code == 422, refused.text
    assert "closed" in refused.json()["detail"]
