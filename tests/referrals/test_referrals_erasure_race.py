"""On PostgreSQL, with replicas: the erasure of a citizen and a submission for that citizen
take turns, so that no referral is left behind pointing at a citizen erased meanwhile."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from referrals import services
from referrals.app import MIGRATIONS
from referrals.domain import ErasureBasis
from referrals.keystore import SqlDataKeyStore
from referrals.privacy import MasterKeys, Vault
from referrals.store import CitizenRow, ReferralRow, ReferralsUnitOfWork
from runtime.migrations import upgrade
from runtime.storage import make_engine
from tests.fakes import FakeClock
from tests.kit import wait_for
from tests.referrals.support import MASTER_KEY, NOW, OPERATOR, TTL, new_referral, submitted

StartUow = Callable[[], ReferralsUnitOfWork]


@dataclass
class Databases:
    referrals: Engine
    start_uow: StartUow
    vault: Vault


@pytest.fixture
def databases(postgres_urls: dict[str, str]) -> Iterator[Databases]:
    referrals = make_engine(postgres_urls["referrals"])
    keys = make_engine(postgres_urls["referrals_keys"])
    for engine in (referrals, keys):
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade(MIGRATIONS, referrals)
    store = SqlDataKeyStore(keys)
    store.create_table()
    factory = sessionmaker(referrals, class_=Session, expire_on_commit=False)
    yield Databases(
        referrals,
        lambda: ReferralsUnitOfWork(factory, "/brobygger/referrals"),
        Vault(
            MasterKeys.parse(MASTER_KEY),
            store,
            blind_index_key=b"blind-index-key-of-the-tests-0123456789",
            fingerprint_key=b"fingerprint-key-of-the-tests-0123456789",
        ),
    )
    referrals.dispose()
    keys.dispose()


def someone_waits_for_a_lock(engine: Engine) -> bool:
    with engine.connect() as connection:
        waiting = connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar_one()
    return bool(waiting)


def test_an_erasure_waits_for_a_submission_for_its_citizen_and_erases_that_referral_too(
    databases: Databases,
) -> None:
    clock = FakeClock(NOW)
    first = submitted(databases.start_uow, clock).id
    lifecycle = services.Lifecycle(databases.start_uow, TTL, clock)
    command = services.EraseCitizen("0101401234", ErasureBasis.GDPR_ART17_REQUEST)
    erased: list[services.Erasure] = []
    failures: list[BaseException] = []

    def erase() -> None:
        try:
            erased.append(services.erase_citizen(command, OPERATOR, lifecycle, databases.vault))
        except BaseException as error:
            failures.append(error)

    eraser = threading.Thread(target=erase)
    with databases.start_uow() as uow:  # a submission for the same citizen, halfway
        citizen = uow.citizens.find(databases.vault.blind_index("0101401234"))
        assert citizen is not None
        eraser.start()
        wait_for(
            lambda: someone_waits_for_a_lock(databases.referrals),
            "the erasure to wait for the citizen the submission found",
            timeout=10,
        )
        second = new_referral()
        uow.referrals.add(second, citizen_id=citizen.id, note=None)
        uow.commit()
    eraser.join(timeout=30)

    assert not eraser.is_alive(), "the erasure hung"
    assert failures == []
    assert set(erased[0].referral_ids) == {first, second.id}
    with databases.start_uow() as uow:
        assert uow.session.execute(select(ReferralRow)).first() is None
        assert uow.session.execute(select(CitizenRow)).first() is None
