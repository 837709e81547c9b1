"""A partner organisation reads its own Kafka topic, and nothing else, with the settings
`brobygger partners kafka-access` prints; on the session's broker, through librdkafka
(confluent-kafka), the client library partners are told to use."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any, NamedTuple
from uuid import UUID, uuid4

import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from contracts.partners import partner_topic
from runtime import cli
from runtime.partner_access import partner_username
from runtime.partner_feeds import BrokerTopics, PartnerFeeds
from tests.conftest import ROOT, TEST_BROKER_SECRETS
from tests.kit import kafka_login

pytestmark = pytest.mark.infra

REFUSALS = {
    KafkaError._AUTHENTICATION,
    KafkaError.SASL_AUTHENTICATION_FAILED,
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
}
HINTS = {"topic", "group.id"}
Settings = dict[str, str]


class Printed(NamedTuple):
    settings: Settings  # the properties and the `# topic:` and `# group.id:` hints
    said: str  # what it told the operator on stderr


@pytest.fixture
def kafka_access(
    kafka: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Printed]:
    """`kafka_access(org, *flags)`: run `brobygger partners kafka-access org` as the operator
    does, with the admin password in the environment; what it printed."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka)
    monkeypatch.setenv("KAFKA_ADMIN_PASSWORD", TEST_BROKER_SECRETS["KAFKA_ADMIN_PASSWORD"])

    def run(organization: UUID | str, *flags: str) -> Printed:
        capsys.readouterr()
        cli.main(["partners", "kafka-access", str(organization), *flags])
        printed = capsys.readouterr()
        settings: Settings = {}
        for line in printed.out.splitlines():
            if line.startswith("#"):
                key, _, value = line.removeprefix("# ").partition(": ")
                if key in HINTS:
                    settings[key] = value
            else:
                key, _, value = line.partition("=")
                settings[key] = value
        return Printed(settings, printed.err)

    return run


def client_config(settings: Settings) -> dict[str, Any]:
    """The librdkafka properties among the printed lines (not the topic and group hints)."""
    return {k: v for k, v in settings.items() if k not in HINTS}


def first_outcome(
    settings: Settings, topic: str, group: str, timeout: float = 30
) -> str | int | None:
    """Subscribe `topic` in `group` with these settings and poll from the start until a
    record arrives (its value) or the broker refuses (the error's code); None if neither
    comes within `timeout` seconds."""
    errors: list[KafkaError] = []
    consumer = Consumer(
        {
            **client_config(settings),
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "error_cb": errors.append,
        }
    )
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message: Message | None = consumer.poll(0.2)
            if message is not None and message.error() is None:
                value = message.value()
                return value.decode() if isinstance(value, bytes) else None
            if message is not None:
                errors.append(message.error())
            refused = [e.code() for e in errors if e.code() in REFUSALS]
            if refused:
                return refused[0]
    finally:
        consumer.close()
    return None


def publish(kafka: str, topic: str, value: str, principal: str = "notifications") -> None:
    """Write `value` to `topic` as `principal` (by default the notifications service)."""
    failures: list[KafkaError] = []
    producer = Producer(
        {
            "bootstrap.servers": kafka,
            **kafka_login(principal).librdkafka_config(),
            "enable.idempotence": True,
        }
    )
    producer.produce(topic, value.encode(), key=b"k", on_delivery=lambda e, _: failures.append(e))
    assert producer.flush(30) == 0, "the event was not delivered within 30 s"
    assert failures == [None]


def eventually_outcome(settings: Settings, topic: str, group: str, expected: object) -> None:
    """Poll until `first_outcome` is `expected` (credential and ACL changes reach the broker a
    moment after the admin request returns), with a deadline."""
    deadline = time.monotonic() + 30
    while (outcome := first_outcome(settings, topic, group, timeout=10)) != expected:
        assert time.monotonic() < deadline, f"still {outcome!r}, not {expected!r}"


@pytest.fixture
def partner_a(kafka: str, kafka_access: Callable[..., Printed]) -> tuple[UUID, Settings]:
    organization = uuid4()
    return organization, kafka_access(organization).settings


def test_the_printed_settings_name_the_partners_topic_principal_and_group_prefix(
    kafka: str, kafka_access: Callable[..., Printed], caplog: pytest.LogCaptureFixture
) -> None:
    organization = uuid4()
    printed = kafka_access(organization)
    settings = printed.settings
    assert settings["bootstrap.servers"] == kafka
    assert settings["security.protocol"] == "sasl_plaintext"
    assert settings["sasl.mechanism"] == "SCRAM-SHA-512"
    assert settings["sasl.username"] == f"partner-{organization}"
    assert len(settings["sasl.password"]) >= 40
    assert settings["topic"] == f"partner.{organization}.v1"
    assert settings["group.id"].startswith(f"any name starting with partner-{organization}")
    assert "The password is shown only now" in printed.said
    assert settings["sasl.password"] not in printed.said + caplog.text


def test_a_partner_holds_exactly_read_on_its_topic_and_group_prefix_and_a_stray_acl_goes(
    kafka: str, kafka_access: Callable[..., Printed], partner_a: tuple[UUID, Settings]
) -> None:
    organization, _ = partner_a
    user = partner_username(organization)
    read_topic = ("TOPIC", partner_topic(organization), "LITERAL", "READ")
    read_groups = ("GROUP", user, "PREFIXED", "READ")
    assert acls_of(kafka, user) == {read_topic, read_groups}
    stray = AclBinding(
        ResourceType.TOPIC,
        "referrals.referral.v1",
        ResourcePatternType.LITERAL,
        f"User:{user}",
        "*",
        AclOperation.READ,
        AclPermissionType.ALLOW,
    )
    client = admin(kafka)  # kept while its request runs
    client.create_acls([stray])[stray].result(timeout=30)
    kafka_access(organization)
    assert acls_of(kafka, user) == {read_topic, read_groups}


def test_a_partner_reads_what_notifications_writes_to_its_own_topic(
    kafka: str, partner_a: tuple[UUID, Settings]
) -> None:
    organization, settings = partner_a
    topic = partner_topic(organization)
    publish(kafka, topic, "an offer for partner A")
    group = f"{partner_username(organization)}-main"
    assert first_outcome(settings, topic, group) == "an offer for partner A"


@pytest.mark.parametrize(
    "other_topic",
    ["partner B's", "referrals.referral.v1", "grants.application.v1", "notifications.delivery.v2"],
)
def test_a_partner_is_refused_another_partners_topic_and_every_internal_topic(
    kafka: str,
    kafka_access: Callable[..., Printed],
    partner_a: tuple[UUID, Settings],
    other_topic: str,
) -> None:
    organization, settings = partner_a
    if other_topic == "partner B's":
        other = uuid4()
        kafka_access(other)
        other_topic = partner_topic(other)
    publish(kafka, other_topic, "not for partner A", "admin")
    group = f"{partner_username(organization)}-main"
    assert first_outcome(settings, other_topic, group) == KafkaError.TOPIC_AUTHORIZATION_FAILED
    # The same consumer is let read its own topic: it is the topic that is refused.
    publish(kafka, partner_topic(organization), "for partner A")
    assert first_outcome(settings, partner_topic(organization), group) == "for partner A"


def test_a_partner_is_refused_a_consumer_group_outside_its_prefix(
    kafka: str, partner_a: tuple[UUID, Settings]
) -> None:
    organization, settings = partner_a
    topic = partner_topic(organization)
    publish(kafka, topic, "for partner A")
    for group in ("brobygger-notifications", f"partner-{uuid4()}", "main"):
        assert first_outcome(settings, topic, group) == KafkaError.GROUP_AUTHORIZATION_FAILED


def test_a_wrong_password_is_refused(kafka: str, partner_a: tuple[UUID, Settings]) -> None:
    organization, settings = partner_a
    topic = partner_topic(organization)
    publish(kafka, topic, "for partner A")
    wrong = {**settings, "sasl.password": settings["sasl.password"][::-1]}
    group = f"{partner_username(organization)}-main"
    assert first_outcome(wrong, topic, group) in {
        KafkaError._AUTHENTICATION,
        KafkaError.SASL_AUTHENTICATION_FAILED,
    }


def test_running_it_again_rotates_the_password_the_old_one_is_refused(
    kafka: str, kafka_access: Callable[..., Printed], partner_a: tuple[UUID, Settings]
) -> None:
    organization, old = partner_a
    topic = partner_topic(organization)
    publish(kafka, topic, "for partner A")
    group = f"{partner_username(organization)}-main"
    new = kafka_access(organization).settings
    assert new["sasl.password"] != old["sasl.password"]
    # The ACLs existed already, so the command had no new ACL to wait for: the broker may
    # take the new password a moment later.
    eventually_outcome(new, topic, group, "for partner A")
    eventually_outcome(old, topic, group, KafkaError._AUTHENTICATION)


def test_after_revoking_a_partner_is_refused_its_own_topic_and_revoking_again_is_harmless(
    kafka: str,
    kafka_access: Callable[..., Printed],
    partner_a: tuple[UUID, Settings],
) -> None:
    organization, settings = partner_a
    topic = partner_topic(organization)
    publish(kafka, topic, "for partner A")
    group = f"{partner_username(organization)}-main"
    assert first_outcome(settings, topic, group) == "for partner A"

    revoked = kafka_access(organization, "--revoke")
    assert revoked.settings == {}  # no settings, no password
    assert f"the SCRAM-SHA-512 credential of partner-{organization}" in revoked.said
    assert "expire" in revoked.said
    eventually_outcome(settings, topic, group, KafkaError._AUTHENTICATION)
    assert topic in list_topics(kafka)  # kept: its events expire by retention

    again = kafka_access(organization, "--revoke")
    assert f"nothing to revoke for organisation {organization}" in again.said


def test_revoking_removes_notifications_write_on_the_partners_topic(
    kafka: str, kafka_access: Callable[..., Printed], partner_a: tuple[UUID, Settings]
) -> None:
    organization, _ = partner_a
    kafka_access(organization, "--revoke")
    errors: list[KafkaError | None] = []
    producer = Producer(
        {
            "bootstrap.servers": kafka,
            **kafka_login("notifications").librdkafka_config(),
            "message.timeout.ms": 10000,
        }
    )
    producer.produce(partner_topic(organization), b"x", on_delivery=lambda e, _: errors.append(e))
    producer.flush(30)
    assert [e.code() if e else None for e in errors] == [KafkaError.TOPIC_AUTHORIZATION_FAILED]


def test_a_bad_organisation_id_is_a_clear_error_and_changes_nothing(
    kafka: str, kafka_access: Callable[..., Printed]
) -> None:
    before = list_topics(kafka)
    with pytest.raises(SystemExit) as exited:
        kafka_access("not-a-uuid")
    assert "An organisation id is a UUID" in str(exited.value.code)
    assert "nothing was changed" in str(exited.value.code)
    assert list_topics(kafka) == before


def test_applying_the_acl_list_leaves_the_partners_acls_alone(
    kafka: str, partner_a: tuple[UUID, Settings]
) -> None:
    organization, settings = partner_a
    topic = partner_topic(organization)
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "infra" / "kafka" / "admin.py"),
            "apply-security",
            "--bootstrap",
            kafka,
            "--file",
            str(ROOT / "infra" / "acls.toml"),
        ],
        env={**os.environ, **TEST_BROKER_SECRETS},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "0 removed" in done.stdout
    publish(kafka, topic, "still for partner A")
    group = f"{partner_username(organization)}-main"
    assert first_outcome(settings, topic, group) == "still for partner A"


def admin(kafka: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": kafka, **kafka_login().librdkafka_config()})


def list_topics(kafka: str) -> set[str]:
    return set(admin(kafka).list_topics(timeout=30).topics)


def acls_of(kafka: str, user: str) -> set[tuple[str, str, str, str]]:
    """The ALLOW ACLs of `user`: (resource type, name, pattern type, operation)."""
    client = admin(kafka)  # kept while its request runs
    everything = AclBindingFilter(
        ResourceType.ANY,
        None,
        ResourcePatternType.ANY,
        f"User:{user}",
        None,
        AclOperation.ANY,
        AclPermissionType.ANY,
    )
    found = client.describe_acls(everything).result(timeout=30)
    assert all(b.permission_type == AclPermissionType.ALLOW and b.host == "*" for b in found)
    return {(b.restype.name, b.name, b.resource_pattern_type.name, b.operation.name) for b in found}


async def test_notifications_sees_a_partners_topic_once_given_access_and_no_more_after_revoking(
    kafka: str, kafka_access: Callable[..., Printed]
) -> None:
    organization, never_given = uuid4(), uuid4()
    topics = BrokerTopics(kafka, kafka_login("notifications"), "test-feeds")
    feeds = PartnerFeeds(topics)
    kafka_access(organization)
    kafka_access(never_given)
    kafka_access(never_given, "--revoke")  # its topic stays, no longer notifications' to write
    try:
        await feeds.refresh()
        assert organization in feeds.organizations()
        assert never_given not in feeds.organizations()
        kafka_access(organization, "--revoke")
        await feeds.refresh()
        assert organization not in feeds.organizations()
    finally:
        await topics.close()
