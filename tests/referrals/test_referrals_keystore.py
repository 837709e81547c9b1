"""The identity vault on the real databases (SQLite and PostgreSQL): the key store apart from
the referrals data, the blind index, what reaches the outbox, and `brobygger keys rotate`."""

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
from sqlmodel import Session

from referrals import services
from referrals.app import MIGRATIONS
from referrals.keystore import SqlDataKeyStore
from referrals.privacy import CitizenIdentity, KeyUnavailable, MasterKeys, Vault
from referrals.store import CitizenRow, ReferralsUnitOfWork, StoredCitizen
from runtime.migrations import upgrade
from runtime.storage import make_engine, outbox
from tests.conftest import ROOT
from tests.events import matches_found
from tests.fakes import FakeClock
from tests.referrals.support import (
    NOTE,
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
        referral_id, partner(organisation), databases.start_uow, databases.vault
    )
    assert (contact.name, contact.phone) == ("Inger Jensen", "+45 12 34 56 78")
    assert (
        services.note(referral_id, partner(organisation), databases.start_uow, databases.vault)
        == NOTE
    )

    with databases.start_uow() as uow:
        rows = uow.session.execute(select(outbox.c.headers, outbox.c.value)).all()
    types = [headers["ce_type"].split(".")[-2] for headers, _ in rows]
    assert types == ["submitted", "offered", "accepted"]
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
