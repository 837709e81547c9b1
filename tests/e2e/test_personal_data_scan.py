"""After a referral's whole life, nothing outside referrals' own store carries who the citizen
is: no event on any topic, no service's log line."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from directory import demo
from runtime.auth import Role
from tests.e2e.kafka_reader import records_on
from tests.e2e.personal_data import ADDRESS, NAME, NOTE, PERSONAL_NUMBER, PHONE, found_in
from tests.e2e.referrals import CARE_SYSTEM, wait_offered, wait_status
from tests.e2e.system import System
from tests.kit import kafka_options

pytestmark = pytest.mark.infra


def today() -> str:
    return datetime.now(ZoneInfo("Europe/Copenhagen")).date().isoformat()


async def all_topics(kafka: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka, **kafka_options())
    await admin.start()
    try:
        topics: list[str] = await admin.list_topics()
    finally:
        await admin.close()
    return sorted(t for t in topics if not t.startswith("__"))


def post(system: System, role: Role, path: str, body: Any = None, **claims: Any) -> Any:
    with system.client("referrals", role, **claims) as client:
        response = client.post(path, json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()


async def test_no_event_on_any_topic_and_no_log_line_carries_the_citizens_identity_or_note(
    system: System,
) -> None:
    body = {
        "citizen": {
            "personal_number": PERSONAL_NUMBER,
            "name": NAME,
            "phone": PHONE,
            "address": ADDRESS,
        },
        "district": "Nørrebro",
        "interests": ["walking"],
        "languages": ["da"],
        "note": NOTE,
        "consent": {
            "referral": True,
            "share_contact_details": True,
            "given_on": today(),
            "recorded_by": "sosu-4711",
            "how": "verbal",
        },
    }
    with system.client("referrals", Role.CARE_SYSTEM, subject=CARE_SYSTEM) as care:
        created = care.post("/referrals", json=body, headers={"Idempotency-Key": "scan-1"})
    assert created.status_code == 201, created.text
    referral_id = created.json()["id"]
    first = wait_offered(system, referral_id)["offered_organization_id"]

    # Through every step that touches personal data: decline, accept, contact and note read,
    # first meeting, completion.
    walkers = {"organization_id": demo.NORREBRO_WALKING_GROUP_ORG_ID}
    assert first == str(demo.NORREBRO_WALKING_GROUP_ORG_ID)
    base = f"/partner/referrals/{referral_id}"
    post(system, Role.PARTNER, f"{base}/decline", {"reason": "no_capacity"}, **walkers)
    second = wait_status(system, referral_id, "offered")["offered_organization_id"]
    holder = {"organization_id": second}
    post(system, Role.PARTNER, f"{base}/accept", **holder)
    with system.client("referrals", Role.PARTNER, **holder) as partner:
        assert partner.get(f"{base}/contact").json()["name"] == NAME
        assert partner.get(f"{base}/note").json()["note"] == NOTE
    post(system, Role.PARTNER, f"{base}/contact-made", {"contacted_on": today()}, **holder)
    post(
        system,
        Role.PARTNER,
        f"{base}/first-meeting",
        {"met_on": today(), "accompanied_by": "home_care_staff"},
        **holder,
    )
    post(system, Role.PARTNER, f"{base}/complete", {"outcome_note": "Kommer hver uge."}, **holder)
    wait_status(system, referral_id, "completed")

    scanned, leaks = 0, []
    topics = await all_topics(system.kafka)
    for topic in topics:
        for record in await records_on(system.kafka, topic):
            scanned += 1
            text = " ".join(
                [
                    record.key or "",
                    *record.headers.values(),
                    record.value.decode("utf-8", "replace"),
                ]
            )
            leaks += [f"{topic}: {what}" for what in found_in(text)]
    assert scanned > 0
    print(f"scanned {scanned} records on {len(topics)} topics")  # the figure, with `-s`
    assert leaks == [], f"{len(leaks)} leaks in {scanned} records: {leaks[:10]}"

    for log in sorted(system.log_dir.glob("*.log")):
        assert found_in(log.read_text(errors="replace")) == [], f"personal data in {log.name}"
