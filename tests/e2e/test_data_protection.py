"""Consent withdrawn and a citizen erased, across the four services on the real Kafka broker
and PostgreSQL: what partners are told, what notifications forgets, what is left of the
citizen's key, and what the audit log keeps (and `brobygger audit verify` checks)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from functools import partial
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import Engine, bindparam, text

from directory import demo
from referrals.keystore import SqlDataKeyStore
from referrals.privacy import KeyUnavailable, MasterKeys, Vault
from runtime.auth import Role
from runtime.storage import make_engine
from tests.conftest import ROOT, TEST_SECRETS
from tests.e2e.kafka_reader import wait_for_records
from tests.e2e.referrals import CARE_SYSTEM, inbox, submit, wait_offered
from tests.e2e.system import System
from tests.kit import wait_for

pytestmark = pytest.mark.infra

X = demo.NORREBRO_WALKING_GROUP_ORG_ID
"""Offered every walking referral from Nørrebro in Danish while its walking group has room."""
Y = demo.VALBY_VOLUNTEER_CAFE_ORG_ID
"""Never offered one."""
WALKING_SERVICE = demo.NORREBRO_WALKING_GROUP_SERVICE_ID
REFERRALS = "referrals.referral.v1"
TYPE = "dk.brobygger.referrals.referral.{}.v1"
NOTE = "Hørehæmmet, synger gerne i kor"
ERASER = "e2e-data-protection-officer"


def citizen(personal_number: str, name: str) -> dict[str, str]:
    return {
        "personal_number": personal_number,
        "name": name,
        "phone": "+45 20 30 40 50",
        "address": "Stefansgade 4, 2200 København N",
    }


def messages_about(
    system: System, referral_id: str, role: Role, organization_id: UUID | None = None
) -> list[str]:
    """The kinds of the inbox messages about one referral."""
    return [
        m["kind"] for m in inbox(system, role, organization_id) if m["referral_id"] == referral_id
    ]


def as_x(system: System, method: str, path: str) -> Any:
    with system.client("referrals", Role.PARTNER, organization_id=X) as x:
        return x.request(method, path)


async def event_types_of(system: System, referral_id: str, last: str) -> list[str]:
    """The types of the referral's events on Kafka, once its `last` one is there."""
    records = await wait_for_records(
        system.kafka,
        REFERRALS,
        lambda found: any(r.subject == referral_id and r.type == TYPE.format(last) for r in found),
        f"referral {referral_id}'s {last} event",
    )
    return [r.type.split(".")[-2] for r in records if r.subject == referral_id]


async def test_consent_withdrawn_while_offered_withdraws_the_offer_and_tells_the_partner_to_delete(
    system: System,
) -> None:
    created = submit(system, citizen=citizen("160737-1148", "Grethe Holm"), note=NOTE)
    referral_id = created["id"]
    assert wait_offered(system, referral_id)["offered_organization_id"] == str(X)

    with system.client("referrals", Role.CARE_SYSTEM, subject=CARE_SYSTEM) as care:
        withdrawn = care.post(
            f"/referrals/{referral_id}/consent/withdraw",
            json={"recorded_by": "sosu-4711", "how": "verbal"},
        )

    assert withdrawn.status_code == 200, withdrawn.text
    shown = withdrawn.json()
    assert (shown["status"], shown["offers"][-1]["status"]) == ("cancelled", "withdrawn")
    assert shown["consent"]["withdrawal"]["by"] == "care_system"
    # The partner is told the offer is gone, and to delete what it holds about it.
    wait_for(
        lambda: (
            {"offer_withdrawn", "deletion_requested"}
            <= set(messages_about(system, referral_id, Role.PARTNER, X))
        ),
        "X's inbox to hold the withdrawn offer and the deletion notice",
    )
    for what in ("contact", "note"):
        refused = as_x(system, "GET", f"/partner/referrals/{referral_id}/{what}")
        assert refused.status_code == 403, refused.text
        assert "withdrew consent" in refused.json()["detail"]
    types = await event_types_of(system, referral_id, "consent_withdrawn")
    assert types[-3:] == ["offer_withdrawn", "cancelled", "consent_withdrawn"]


def sealed_rows(referrals: Engine, referral_ids: list[str]) -> tuple[UUID, bytes, list[bytes]]:
    """The citizen of the referrals, their sealed identity and the sealed notes, as read
    from the referrals database by anyone who can read it."""
    with referrals.connect() as connection:
        rows = connection.execute(
            text("SELECT citizen_id, note_ciphertext FROM referral WHERE id IN :ids").bindparams(
                bindparam("ids", expanding=True)
            ),
            {"ids": [UUID(i) for i in referral_ids]},
        ).all()
        [citizen_id] = {row.citizen_id for row in rows}
        identity = connection.execute(
            text("SELECT identity_ciphertext FROM citizen WHERE id = :id"), {"id": citizen_id}
        ).scalar_one()
    return citizen_id, bytes(identity), [bytes(row.note_ciphertext) for row in rows]


def only_the_deletion_notice(system: System, referral_id: str, organization: UUID) -> bool:
    return messages_about(system, referral_id, Role.PARTNER, organization) == ["deletion_requested"]


def citizens_left(referrals: Engine, citizen_id: UUID) -> int:
    with referrals.connect() as connection:
        return int(
            connection.execute(
                text("SELECT count(*) FROM citizen WHERE id = :id"), {"id": citizen_id}
            ).scalar_one()
        )


async def test_a_citizen_with_two_referrals_erased_leaves_nothing_readable_anywhere(
    system: System,
) -> None:
    places = system.free_places(WALKING_SERVICE)
    ellen = citizen("230336-1942", "Ellen Kirstine Bak")
    held = submit(system, citizen=ellen, note=NOTE)["id"]
    assert wait_offered(system, held)["offered_organization_id"] == str(X)
    assert as_x(system, "POST", f"/partner/referrals/{held}/accept").status_code == 200
    assert as_x(system, "GET", f"/partner/referrals/{held}/contact").json()["name"] == ellen["name"]
    assert as_x(system, "GET", f"/partner/referrals/{held}/note").json()["note"] == NOTE
    pending = submit(system, citizen=ellen, note=NOTE)["id"]
    offered_to = {held: X, pending: UUID(wait_offered(system, pending)["offered_organization_id"])}
    referrals = make_engine(system.database_urls["referrals"])
    keys = make_engine(system.database_urls["referrals_keys"])
    vault = Vault(
        MasterKeys.parse(TEST_SECRETS["REFERRALS_MASTER_KEYS"]),
        SqlDataKeyStore(keys),
        blind_index_key=TEST_SECRETS["REFERRALS_BLIND_INDEX_KEY"].encode(),
        fingerprint_key=TEST_SECRETS["REFERRALS_FINGERPRINT_KEY"].encode(),
    )
    try:
        citizen_id, identity, notes = sealed_rows(referrals, [held, pending])
        assert vault.data_key(citizen_id).open_identity(identity).name == ellen["name"]

        with system.client("referrals", Role.OPERATOR, subject=ERASER) as operator:
            erased = operator.post(
                "/citizens/erasure",
                json={
                    "personal_number": ellen["personal_number"],
                    "legal_basis": "gdpr_art17_request",
                },
            )
        assert erased.status_code == 200, erased.text
        assert set(erased.json()["referral_ids"]) == {held, pending}

        # The key is gone: what was read before (a dump, a backup) opens no more.
        assert SqlDataKeyStore(keys).get(citizen_id) is None
        with pytest.raises(KeyUnavailable):
            vault.data_key(citizen_id).open_identity(identity)
        assert len(notes) == 2 and citizens_left(referrals, citizen_id) == 0
    finally:
        referrals.dispose()
        keys.dispose()

    for referral_id in (held, pending):
        with system.client("referrals", Role.CARE_SYSTEM, subject=CARE_SYSTEM) as care:
            assert care.get(f"/referrals/{referral_id}").status_code == 410
        organization = offered_to[referral_id]
        with system.client("referrals", Role.PARTNER, organization_id=organization) as partner:
            assert partner.get(f"/partner/referrals/{referral_id}").status_code == 410
        with system.client("referrals", Role.PARTNER, organization_id=Y) as y:
            assert y.get(f"/partner/referrals/{referral_id}").status_code == 404
        # Notifications forgot every message about it but the deletion notice.
        wait_for(
            partial(only_the_deletion_notice, system, referral_id, organization),
            f"the partner's inbox to hold nothing about {referral_id} but the deletion notice",
        )
        assert messages_about(system, referral_id, Role.OPERATOR) == []
        types = await event_types_of(system, referral_id, "erased")
        assert types[-2:] == ["cancelled", "erased"]
    wait_for(
        lambda: system.free_places(WALKING_SERVICE) == places,
        "the walking group's place to be back",
    )

    # The audit log: the reads of the held referral, and the erasure of both, and who did it.
    with system.client("referrals", Role.OPERATOR) as operator:
        logged = operator.get("/audit", params={"subject": ERASER, "limit": 200})
        read = operator.get("/audit", params={"referral_id": held})
    assert logged.status_code == read.status_code == 200
    assert {(e["action"], e["referral_id"], e["purpose"]) for e in logged.json()["data"]} == {
        ("citizen.erased", held, "gdpr_art17_request"),
        ("citizen.erased", pending, "gdpr_art17_request"),
    }
    assert [e["action"] for e in reversed(read.json()["data"])] == [
        "contact_details.read",
        "note.read",
        "citizen.erased",
    ]
    for shown in (logged.text, read.text):
        assert not [v for v in (*ellen.values(), "230336", NOTE) if v in shown]

    verified = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "runtime.cli", "audit", "verify", "referrals"],
        env={**os.environ, "REFERRALS_DATABASE_URL": system.database_urls["referrals"]},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verified.returncode == 0, verified.stderr
    assert "chain OK" in verified.stdout
