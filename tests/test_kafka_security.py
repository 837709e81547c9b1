"""The broker trusts no one: every client logs in, and each service's principal may do only
what infra/acls.toml grants it. On a real broker of this module's own (started by
infra/kafka/kafka.sh as ./run starts it), so that its probe records and the ACL changes
below never reach the session's broker and the services running on it."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaError,
    TopicAuthorizationFailedError,
)
from pydantic import SecretStr

from runtime.kafka_security import KafkaLogin
from tests.conftest import (
    ROOT,
    TEST_BROKER_SECRETS,
    TEST_KAFKA_PASSWORDS,
    TEST_KAFKA_PORT,
    script_broker,
)
from tests.kit import kafka_login
from tools import SERVICES

pytestmark = pytest.mark.infra

OWN_BROKER_PORT = TEST_KAFKA_PORT + 4  # its controller listens on the port after it
ACLS_FILE = ROOT / "infra" / "acls.toml"


@pytest.fixture(scope="module")
def broker() -> Iterator[str]:
    with script_broker(OWN_BROKER_PORT) as bootstrap:
        yield bootstrap


def controller_of(bootstrap: str) -> str:
    return f"127.0.0.1:{int(bootstrap.rpartition(':')[2]) + 1}"


def options(login: KafkaLogin | None) -> dict[str, object]:
    return login.aiokafka_options() if login is not None else {}


async def answers(bootstrap: str, login: KafkaLogin | None) -> bool:
    """Whether the broker at `bootstrap` answers an admin request from this login."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=5000, **options(login)
    )
    try:
        await admin.start()
        await admin.describe_cluster()
    except KafkaError:
        return False
    finally:
        await admin.close()
    return True


async def write(bootstrap: str, principal: str, topic: str) -> None:
    # Idempotent, as the services' producers are: on Kafka 4 that needs only WRITE on the
    # topic, no cluster-wide IdempotentWrite (KIP-679).
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        **kafka_login(principal).aiokafka_options(),
    )
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"acl probe", key=b"probe")
    finally:
        await producer.stop()


async def read_one(bootstrap: str, principal: str, topics: list[str], group: str) -> set[str]:
    """As `principal` in consumer `group`, read from the start until a record of each of
    `topics` arrived, and commit: the topics it came from."""
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **kafka_login(principal).aiokafka_options(),
    )
    seen: set[str] = set()
    try:
        await consumer.start()
        async with asyncio.timeout(30):
            while seen != set(topics):
                batch = await consumer.getmany(timeout_ms=500)
                seen |= {partition.topic for partition, records in batch.items() if records}
        await consumer.commit()
    finally:
        await consumer.stop()
    return seen


def apply_security(bootstrap: str, acls_file: Path, **passwords: str) -> str:
    """`admin.py apply-security`, as kafka.sh runs it; returns what it printed."""
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "infra" / "kafka" / "admin.py"),
            "apply-security",
            "--bootstrap",
            bootstrap,
            "--file",
            str(acls_file),
        ],
        env={**os.environ, **TEST_BROKER_SECRETS, **passwords},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def topics_of(service: str, direction: str) -> list[str]:
    events = importlib.import_module(f"{service}.events")
    return sorted({event.topic for event in getattr(events, direction)})


async def test_a_client_without_credentials_is_refused_on_the_client_and_the_controller_port(
    broker: str,
) -> None:
    assert await answers(broker, kafka_login())  # the same client, logged in, is answered
    assert not await answers(broker, None)
    assert not await answers(controller_of(broker), None)


async def test_the_controller_port_takes_no_client_login_not_even_the_super_users(
    broker: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="aiokafka"):
        assert not await answers(controller_of(broker), kafka_login())
    assert "UnsupportedSaslMechanism" in caplog.text  # PLAIN for `controller` only


async def test_a_wrong_password_is_refused(broker: str, caplog: pytest.LogCaptureFixture) -> None:
    wrong = KafkaLogin(username="referrals", password=SecretStr("not-the-referrals-password"))
    with caplog.at_level(logging.ERROR, logger="aiokafka"):
        assert not await answers(broker, wrong)
    assert "SaslAuthenticationFailed" in caplog.text
    assert await answers(broker, kafka_login("referrals"))


async def test_referrals_cannot_write_the_grants_pool_topic(broker: str) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        await write(broker, "referrals", "grants.pool.v1")


async def test_directory_cannot_read_a_topic_it_does_not_consume(broker: str) -> None:
    assert "referrals.status.v1" not in topics_of("directory", "CONSUMES")
    await write(broker, "admin", "referrals.status.v1")
    with pytest.raises(TopicAuthorizationFailedError):
        await read_one(broker, "directory", ["referrals.status.v1"], "brobygger-directory")


async def test_a_service_cannot_join_another_services_consumer_group(broker: str) -> None:
    await write(broker, "admin", "referrals.referral.v1")  # a topic directory may read
    with pytest.raises(GroupAuthorizationFailedError):
        await read_one(broker, "directory", ["referrals.referral.v1"], "brobygger-referrals")


@pytest.mark.parametrize("service", SERVICES)
async def test_a_service_writes_its_own_topics_and_reads_those_it_consumes_in_its_group(
    broker: str, service: str
) -> None:
    for topic in [*topics_of(service, "PUBLISHES"), f"{service}.deadletter.v1"]:
        await write(broker, service, topic)
    consumed = topics_of(service, "CONSUMES")
    for topic in consumed:
        await write(broker, "admin", topic)
    assert await read_one(broker, service, consumed, f"brobygger-{service}") == set(consumed)


def test_applying_the_acl_list_again_creates_and_removes_nothing(broker: str) -> None:
    printed = apply_security(broker, ACLS_FILE)  # kafka.sh start applied it once already
    granted = sum(
        len(p["write"]) + len(p["read"]) + 1
        for p in tomllib.loads(ACLS_FILE.read_text())["principal"].values()
    )
    assert f"acls: 0 created, 0 removed, {granted} already there" in printed


async def test_an_acl_dropped_from_the_list_is_removed_and_comes_back_with_it(
    broker: str, tmp_path: Path
) -> None:
    shorter = tmp_path / "acls.toml"
    text = ACLS_FILE.read_text()
    dropped = '"referrals.referral.v1", "referrals.status.v1"'
    assert dropped in text
    shorter.write_text(text.replace(dropped, '"referrals.referral.v1"'))
    try:
        printed = apply_security(broker, shorter)
        assert "acl removed  User:referrals ALLOW WRITE topic referrals.status.v1" in printed
        with pytest.raises(TopicAuthorizationFailedError):
            await write(broker, "referrals", "referrals.status.v1")
    finally:
        printed = apply_security(broker, ACLS_FILE)
    assert "acl created  User:referrals ALLOW WRITE topic referrals.status.v1" in printed
    assert "acls: 1 created, 0 removed" in printed
    await write(broker, "referrals", "referrals.status.v1")


async def test_a_changed_service_password_takes_effect_when_the_list_is_applied(
    broker: str,
) -> None:
    new = KafkaLogin(username="grants", password=SecretStr("a-new-grants-kafka-password"))
    try:
        apply_security(broker, ACLS_FILE, GRANTS_KAFKA_PASSWORD="a-new-grants-kafka-password")
        assert await answers(broker, new)
        assert not await answers(broker, kafka_login("grants"))
    finally:
        apply_security(broker, ACLS_FILE, GRANTS_KAFKA_PASSWORD=TEST_KAFKA_PASSWORDS["grants"])
    assert await answers(broker, kafka_login("grants"))
    assert not await answers(broker, new)


def test_a_broker_start_without_a_secret_fails_naming_it(tmp_path: Path) -> None:
    environment = {
        **os.environ,
        **TEST_BROKER_SECRETS,
        "KAFKA_PORT": str(OWN_BROKER_PORT + 2),
        "KAFKA_CONTROLLER_PORT": str(OWN_BROKER_PORT + 3),
        "BROBYGGER_CACHE": str(tmp_path),
        "PYTHON": sys.executable,
    }
    del environment["NOTIFICATIONS_KAFKA_PASSWORD"]
    done = subprocess.run(
        ["bash", str(ROOT / "infra" / "kafka" / "kafka.sh"), "start"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "NOTIFICATIONS_KAFKA_PASSWORD is not set" in done.stderr
    assert not (tmp_path / "kafka").exists() or not any((tmp_path / "kafka").glob("data-*"))


def test_the_brokers_secrets_stay_in_private_files_and_out_of_its_logs(broker: str) -> None:
    kafka_dir = ROOT / ".cache" / "kafka"
    if env_cache := os.environ.get("BROBYGGER_CACHE"):
        kafka_dir = Path(env_cache) / "kafka"
    port = broker.rpartition(":")[2]
    for private in (f"server-{port}.properties", f"format-{port}.out"):
        assert (kafka_dir / private).stat().st_mode & 0o077 == 0, private
    for log in (f"kafka-{port}.log", f"kafka-{port}.out"):
        text = (kafka_dir / log).read_text(errors="replace")
        assert not [p for p in TEST_KAFKA_PASSWORDS.values() if p in text], log
