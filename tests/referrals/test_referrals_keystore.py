"""The identity vault on the real databases (SQLite and PostgreSQL): the key store apart from
the referrals data, the blind index, what reaches the outbox, `brobygger keys rotate`, and
erasure by destroying the citizen's key."""

from __future__ import annotations

import base64
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import Engine, MetaData, create_engine, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col

from contracts.referrals import TOPIC
from referrals import services
from referrals.app import MIGRATIONS
from referrals.domain import ErasureBasis
from referrals.keystore import SqlDataKeyStore
from referrals.privacy import CitizenIdentity, KeyUnavailable, MasterKeys, Vault
from referrals.store import (
    CandidateRow,
    CitizenRow,
    OfferRow,
    PartnerViewRow,
    ReferralsUnitOfWork,
    StoredCitizen,
    TimerRow,
    TransitionRow,
)
from runtime.audit import AuditQuery, read_entries, verify
from runtime.migrations import upgrade
from runtime.storage import idempotency_keys, make_engine, outbox
from tests.conftest import ROOT
from tests.events import matches_found
from tests.fakes import FakeClock
from tests.referrals.support import (
    NOTE,
    OPERATOR,
    PERSONAL_DATA,
    REFERENCE,
    TTL,
    partner,
    submit_command,
)

OLD_MASTER = "2026-a:" + base64.b64encode(bytes(range(32))).decode()
NEW_MASTER = "2026-b:" + base64.b64encode(bytes(range(32, 64))).decode()


@dataclass
class Databases:
    """The referrals database and the key store's, and the vault over the latter."""

    referrals: Engine
    keys: Engine
    start_uow: Callable[[], ReferralsUnitOfWork]
    vault: Vault

    def submit(self, clock: FakeClock, **changes: object) -> UUID:
        command = submit_command(**changes)
        referral, _ = services.submit_referral(command, self.start_uow, self.vault, clock)
        return referral.id

    def citizens(self) -> list[StoredCitizen]:
        with self.start_uow() as uow:
            rows = uow.session.execute(select(CitizenRow)).scalars()
            return [StoredCitizen(r.id, r.blind_index, r.identity_ciphertext) for r in rows]


def vault_on(keys: Engine, master: str = OLD_MASTER) -> Vault:
    return Vault(
        MasterKeys.parse(master),
        SqlDataKeyStore(keys),
        blind_index_key=b"blind-index-key-of-the-tests-0123456789",
        fingerprint_key=b"fingerprint-key-of-the-tests-0123456789",
    )


@pytest.fixture
def databases(engine_for: Callable[[str], Engine]) -> Databases:
    referrals, keys = engine_for("referrals"), engine_for("referrals_keys")
    upgrade(MIGRATIONS, referrals)
    SqlDataKeyStore(keys).create_table()
    SqlDataKeyStore(keys).create_table()  # at every start: a second time changes nothing
    factory = sessionmaker(referrals, class_=Session, expire_on_commit=False)
    return Databases(
        referrals,
        keys,
        lambda: ReferralsUnitOfWork(factory, "/brobygger/referrals"),
        vault_on(keys),
    )


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def every_value(engine: Engine) -> Iterator[Any]:
    """Every value in every table of the database."""
    tables = MetaData()
    tables.reflect(engine)
    with engine.connect() as connection:
        for table in tables.sorted_tables:
            for row in connection.execute(select(table)):
                yield from row


def as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | memoryview):
        return bytes(value)
    return json.dumps(value, default=str, ensure_ascii=False).encode()


# --- the key store apart from the data ------------------------------------------------------


def test_a_copy_of_the_referrals_database_alone_decrypts_nothing(
    databases: Databases, clock: FakeClock, tmp_path: Path
) -> None:
    referral_id = databases.submit(clock)
    databases.submit(clock, personal_number="0101421234", name="Karl Hansen")
    citizens = {row.id: row.identity for row in databases.citizens()}
    keys = {citizen: databases.vault.data_key(citizen) for citizen in citizens}
    wrapped = [SqlDataKeyStore(databases.keys).get(citizen) for citizen in citizens]
    # What the copy holds does decrypt with the key store: the test below is not empty.
    assert keys[next(iter(citizens))].open_identity(citizens[next(iter(citizens))]).name in (
        "Inger Jensen",
        "Karl Hansen",
    )

    if databases.referrals.dialect.name == "sqlite":
        copy_file = tmp_path / "backup" / "referrals.db"
        copy_file.parent.mkdir()
        source = sqlite3.connect(str(databases.referrals.url.database))
        with sqlite3.connect(copy_file) as target:
            source.backup(target)
        source.close()
        copy = make_engine(f"sqlite:///{copy_file}")
        raw = copy_file.read_bytes()
        assert not [part for part in PERSONAL_DATA if part.encode() in raw]
        assert not [key for key in keys.values() if key.secret in raw]
    else:
        copy = databases.referrals  # a dump of it holds what the referrals role can read
    values = b"\n".join(as_bytes(value) for value in every_value(copy))
    assert not [part for part in PERSONAL_DATA if part.encode() in values]
    assert not [key for key in keys.values() if key.secret in values], "no data key"
    assert not [w for w in wrapped if w is not None and w.sealed in values], "no wrapped key"

    # With the master keys, but without the key store, the copy stays closed.
    elsewhere = make_engine(f"sqlite:///{tmp_path}/empty_keys.db")
    SqlDataKeyStore(elsewhere).create_table()
    without_keys = vault_on(elsewhere)
    with copy.connect() as connection:
        rows = connection.execute(text("SELECT id, identity_ciphertext FROM citizen")).all()
        [note] = connection.execute(
            text("SELECT note_ciphertext FROM referral WHERE id = :id"),
            {"id": referral_id.hex if copy.dialect.name == "sqlite" else referral_id},
        ).one()
    assert len(rows) == 2 and note is not None
    for citizen_id, _ in rows:
        with pytest.raises(KeyUnavailable):
            without_keys.data_key(UUID(str(citizen_id)))
    elsewhere.dispose()
    if copy is not databases.referrals:
        copy.dispose()


def test_the_referrals_role_cannot_reach_the_key_store(postgres_urls: dict[str, str]) -> None:
    keys = make_engine(postgres_urls["referrals_keys"])
    referrals_role = make_engine(postgres_urls["referrals"]).url
    as_referrals = keys.url.set(username=referrals_role.username, password=referrals_role.password)
    intruder = create_engine(as_referrals)
    try:
        with pytest.raises(OperationalError, match="permission denied"), intruder.connect():
            pass
    finally:
        intruder.dispose()
        keys.dispose()


# --- one citizen, many referrals -------------------------------------------------------------


def test_the_blind_index_finds_the_citizen_again_whichever_way_the_number_is_written(
    databases: Databases, clock: FakeClock
) -> None:
    first = databases.submit(clock, personal_number="010140-1234")
    second = databases.submit(clock, personal_number="0101401234", name="Inger M. Jensen")
    other = databases.submit(clock, personal_number="0101421234", name="Karl Hansen")
    citizens = databases.citizens()
    assert len(citizens) == 2
    with databases.start_uow() as uow:
        sealed = {r: uow.referrals.sealed(r).citizen_id for r in (first, second, other)}
        references = {r: uow.referrals.get(r).citizen_ref for r in sealed}  # type: ignore[union-attr]
    assert sealed[first] == sealed[second] != sealed[other]
    assert len(set(references.values())) == 3
    assert all(re.match(REFERENCE, reference) for reference in references.values())
    [inger] = [c for c in citizens if c.id == sealed[first]]
    key = databases.vault.data_key(inger.id)
    assert key.open_identity(inger.identity).name == "Inger M. Jensen"
    assert SqlDataKeyStore(databases.keys).count() == 2, "one data key per citizen"


# --- what may travel ------------------------------------------------------------------------


def test_no_personal_data_reaches_the_outbox_after_submit_offer_and_accept(
    databases: Databases, clock: FakeClock
) -> None:
    organisation = uuid4()
    referral_id = databases.submit(clock)
    lifecycle = services.Lifecycle(databases.start_uow, TTL, clock)
    with databases.start_uow() as uow:
        services.offer_to_candidates(matches_found(referral_id, organisation), uow, TTL, clock)
    services.accept_offer(referral_id, partner(organisation), lifecycle)
    # The partner reads what it may: that leaves the service by HTTP, never by the outbox.
    contact = services.contact_details(
        referral_id, partner(organisation), lifecycle, databases.vault
    )
    assert (contact.name, contact.phone) == ("Inger Jensen", "+45 12 34 56 78")
    assert services.note(referral_id, partner(organisation), lifecycle, databases.vault) == NOTE

    with databases.start_uow() as uow:
        rows = uow.session.execute(
            select(outbox.c.headers, outbox.c.value).order_by(outbox.c.seq)
        ).all()
    types = [headers["ce_type"].split(".")[-3:-1] for headers, _ in rows]
    assert types == [
        ["referral", "submitted"],
        ["status", "changed"],
        ["referral", "offered"],
        ["status", "changed"],
        ["referral", "accepted"],
        ["status", "changed"],
    ]
    for headers, value in rows:
        sent = json.dumps(headers, ensure_ascii=False).encode() + bytes(value)
        assert not [part for part in PERSONAL_DATA if part.encode() in sent], headers["ce_type"]
        assert b"note" not in bytes(value)


# --- brobygger keys rotate ------------------------------------------------------------------


def rotate(databases: Databases, master_keys: str) -> subprocess.CompletedProcess[str]:
    """`brobygger keys rotate` as an operator runs it, in a process of its own."""
    environment = {
        **os.environ,
        "REFERRALS_MASTER_KEYS": master_keys,
        "REFERRALS_KEYSTORE_URL": url_of(databases.keys),
    }
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", "keys", "rotate"],
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_brobygger_keys_rotate_rewraps_every_data_key_so_the_old_master_key_can_go(
    databases: Databases, clock: FakeClock
) -> None:
    for number in ("0101401234", "0101421234", "0101431234"):
        databases.submit(clock, personal_number=number)

    done = rotate(databases, f"{OLD_MASTER},{NEW_MASTER}")

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "3 data key(s) rewrapped under master key '2026-b'; 0 under it already"
    )
    for secret in (OLD_MASTER, NEW_MASTER):
        assert secret.partition(":")[2] not in done.stdout + done.stderr
    assert not [p for p in PERSONAL_DATA if p in done.stdout + done.stderr]
    only_new = vault_on(databases.keys, NEW_MASTER)
    for citizen in databases.citizens():
        identity = only_new.data_key(citizen.id).open_identity(citizen.identity)
        assert identity.personal_number in ("0101401234", "0101421234", "0101431234")
    again = rotate(databases, NEW_MASTER)
    assert (again.returncode, again.stdout.strip()) == (
        0,
        "0 data key(s) rewrapped under master key '2026-b'; 3 under it already",
    )


def test_brobygger_keys_rotate_leaves_keys_it_cannot_unwrap_and_fails_saying_so(
    databases: Databases, clock: FakeClock
) -> None:
    databases.submit(clock)

    done = rotate(databases, NEW_MASTER)

    assert done.returncode == 1
    assert done.stdout.startswith("0 data key(s) rewrapped")
    assert (
        "1 data key(s) are wrapped under a master key that REFERRALS_MASTER_KEYS does not hold"
        in (done.stderr)
    )
    [citizen] = databases.citizens()
    assert databases.vault.data_key(citizen.id).open_identity(citizen.identity) == CitizenIdentity(
        "0101401234", "Inger Jensen", "Jagtvej 1, 2200 København N", "+45 12 34 56 78"
    )


# --- erasure: crypto-shredding --------------------------------------------------------------


def erase(databases: Databases, clock: FakeClock) -> services.Erasure:
    """Erase the citizen `submit_command` refers, as an operator, on the GDPR art. 17 request."""
    lifecycle = services.Lifecycle(databases.start_uow, TTL, clock)
    command = services.EraseCitizen("010140-1234", ErasureBasis.GDPR_ART17_REQUEST)
    return services.erase_citizen(command, OPERATOR, lifecycle, databases.vault)


def citizen_of(databases: Databases, referral_id: UUID) -> UUID:
    with databases.start_uow() as uow:
        citizen_id = uow.referrals.sealed(referral_id).citizen_id
    assert citizen_id is not None
    return citizen_id


def sealed_rows(engine: Engine) -> tuple[dict[UUID, bytes], list[tuple[UUID, UUID, bytes]]]:
    """What a dump holds sealed: each citizen's identity, and each referral's note (with its
    referral and citizen)."""
    with engine.connect() as connection:
        citizens = connection.execute(text("SELECT id, identity_ciphertext FROM citizen")).all()
        notes = connection.execute(
            text(
                "SELECT id, citizen_id, note_ciphertext FROM referral "
                "WHERE note_ciphertext IS NOT NULL"
            )
        ).all()
    identities = {UUID(str(citizen)): bytes(sealed) for citizen, sealed in citizens}
    return identities, [(UUID(str(r)), UUID(str(c)), bytes(sealed)) for r, c, sealed in notes]


def test_after_erasure_a_copy_taken_before_cannot_be_opened_with_the_keys_that_remain(
    databases: Databases, clock: FakeClock, tmp_path: Path
) -> None:
    inger = citizen_of(databases, databases.submit(clock))
    databases.submit(clock, name="Inger M. Jensen")
    karl = citizen_of(databases, databases.submit(clock, personal_number="0101421234"))
    wrapped = SqlDataKeyStore(databases.keys).get(inger)
    assert wrapped is not None
    if databases.referrals.dialect.name == "sqlite":
        # A backup of the file, as an operator would take one.
        copy_file = tmp_path / "backup" / "referrals.db"
        copy_file.parent.mkdir()
        source = sqlite3.connect(str(databases.referrals.url.database))
        with sqlite3.connect(copy_file) as target:
            source.backup(target)
        source.close()
        copy = make_engine(f"sqlite:///{copy_file}")
        identities, notes = sealed_rows(copy)
        copy.dispose()
    else:
        identities, notes = sealed_rows(databases.referrals)  # as a dump taken now holds them
    ingers_notes = [(referral, note) for referral, citizen, note in notes if citizen == inger]
    assert len(ingers_notes) == 2 and set(identities) == {inger, karl}
    key = databases.vault.data_key(inger)  # before: the copy opens with the keys of now
    assert key.open_identity(identities[inger]).name == "Inger M. Jensen"
    assert [key.open_note(referral, note) for referral, note in ingers_notes] == [NOTE, NOTE]

    assert len(erase(databases, clock).referral_ids) == 2

    remaining = vault_on(databases.keys)  # the same master keys, the key store as it is now
    with pytest.raises(KeyUnavailable):
        remaining.data_key(inger)
    assert remaining.data_key(karl).open_identity(identities[karl]).personal_number == (
        "0101421234"
    ), "someone else's data still opens"
    if databases.keys.dialect.name == "sqlite":
        # Not even the key store's files hold the wrapped key any more.
        store = Path(str(databases.keys.url.database))
        files = [store, store.with_name(store.name + "-wal")]
        assert wrapped.sealed not in b"".join(f.read_bytes() for f in files if f.exists())
    # The referrals database itself no longer holds even the ciphertexts.
    values = b"\n".join(as_bytes(value) for value in every_value(databases.referrals))
    assert identities[inger] not in values
    assert not [note for _, note in ingers_notes if note in values]
    assert [c.id for c in databases.citizens()] == [karl]


def test_erasure_leaves_a_tombstone_the_audit_entries_and_nothing_else_of_the_referrals(
    databases: Databases, clock: FakeClock
) -> None:
    organisation = uuid4()
    lifecycle = services.Lifecycle(databases.start_uow, TTL, clock)
    referral_id = databases.submit(clock, idempotency_key="visit-1")
    with databases.start_uow() as uow:
        services.offer_to_candidates(matches_found(referral_id, organisation), uow, TTL, clock)
    services.accept_offer(referral_id, partner(organisation), lifecycle)
    services.contact_details(referral_id, partner(organisation), lifecycle, databases.vault)
    other = databases.submit(clock, personal_number="0101421234")

    erase(databases, clock)

    with databases.start_uow() as uow:
        assert uow.referrals.get(referral_id) is None
        tombstone = uow.referrals.erased(referral_id)
        left = {
            part.__tablename__: len(
                uow.session.execute(select(part).where(col(part.referral_id) == referral_id)).all()
            )
            for part in (OfferRow, CandidateRow, TransitionRow, PartnerViewRow, TimerRow)
        }
        keys = uow.session.execute(select(idempotency_keys.c.resource_id)).scalars().all()
        entries, _ = read_entries(
            uow.session, AuditQuery(referral_id=referral_id), offset=0, limit=9
        )
        chain = verify(uow.session)
        types = [
            h["ce_type"].split(".")[-2]
            for h in uow.session.execute(
                select(outbox.c.headers).where(outbox.c.topic == TOPIC).order_by(outbox.c.seq)
            ).scalars()
        ]
    assert tombstone is not None and tombstone.organization_ids == (organisation,)
    assert set(left.values()) == {0}, left
    assert keys == [str(other)], "the request that held the identity is forgotten"
    assert [(e.action, e.purpose) for e in reversed(entries)] == [
        ("contact_details.read", "contact_citizen"),
        ("citizen.erased", "gdpr_art17_request"),
    ]
    assert chain.ok and chain.entries == 2
    assert types[-2:] == ["cancelled", "erased"]
    assert services.get_referral(other, OPERATOR, databases.start_uow).id == other


def test_an_erasure_that_died_after_destroying_the_key_is_completed_by_a_retry(
    databases: Databases, clock: FakeClock
) -> None:
    referral_id = databases.submit(clock)
    inger = citizen_of(databases, referral_id)
    crashes = [RuntimeError("the process died")]

    class DiesAtTheNextCommit(ReferralsUnitOfWork):
        def commit(self) -> None:
            if crashes:
                raise crashes.pop()
            super().commit()

    factory = sessionmaker(databases.referrals, class_=Session, expire_on_commit=False)
    dying = services.Lifecycle(
        lambda: DiesAtTheNextCommit(factory, "/brobygger/referrals"), TTL, clock
    )
    command = services.EraseCitizen("0101401234", ErasureBasis.UNLAWFUL_PROCESSING)

    with pytest.raises(RuntimeError):
        services.erase_citizen(command, OPERATOR, dying, databases.vault)

    assert SqlDataKeyStore(databases.keys).get(inger) is None, "the key went first"
    [left] = databases.citizens()  # the rest was rolled back: the blind index finds it again
    with pytest.raises(KeyUnavailable):
        databases.vault.data_key(left.id).open_identity(left.identity)

    done = services.erase_citizen(command, OPERATOR, dying, databases.vault)

    assert done.referral_ids == [referral_id]
    assert databases.citizens() == []
    with pytest.raises(services.ReferralErased):
        services.get_referral(referral_id, OPERATOR, databases.start_uow)
