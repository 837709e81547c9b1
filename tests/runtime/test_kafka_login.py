"""How a service and the operator tools log in to Kafka: the settings, what each client
library gets from them, and that a missing password stops the start naming the setting."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from faststream.security import SASLScram256, SASLScram512
from pydantic import SecretStr, ValidationError

from directory.config import Settings as DirectorySettings
from referrals.config import Settings as ReferralsSettings
from runtime.cli import main
from runtime.kafka_security import KafkaLogin, KafkaSecurityError, admin_login

PASSWORD = "the-referrals-kafka-password"


@pytest.fixture
def env(offline_service_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    offline_service_env.setenv("REFERRALS_KAFKA_PASSWORD", PASSWORD)
    return offline_service_env


def test_a_service_logs_in_as_itself_with_scram_sha_512_unless_configured(
    env: pytest.MonkeyPatch,
) -> None:
    options = ReferralsSettings().kafka_login().aiokafka_options()
    assert options == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "referrals",
        "sasl_plain_password": PASSWORD,
        "ssl_context": None,
    }
    env.setenv("REFERRALS_KAFKA_USERNAME", "referrals-eu-1")
    env.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
    security = ReferralsSettings().kafka_login().faststream_security()
    assert isinstance(security, SASLScram256)
    assert (security.username, security.password, security.use_ssl) == (
        "referrals-eu-1",
        PASSWORD,
        False,
    )


def test_a_service_without_its_kafka_password_refuses_to_start_naming_the_setting(
    env: pytest.MonkeyPatch,
) -> None:
    env.delenv("DIRECTORY_KAFKA_PASSWORD")
    with pytest.raises(ValidationError, match="set DIRECTORY_KAFKA_PASSWORD"):
        DirectorySettings()


def test_plaintext_is_refused_unless_allowed_explicitly(env: pytest.MonkeyPatch) -> None:
    env.setenv("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    with pytest.raises(ValidationError, match="KAFKA_ALLOW_PLAINTEXT=true"):
        ReferralsSettings()
    env.setenv("KAFKA_ALLOW_PLAINTEXT", "true")
    login = ReferralsSettings().kafka_login()
    assert login.aiokafka_options() == {"security_protocol": "PLAINTEXT"}
    assert login.faststream_security() is None


def test_sasl_ssl_verifies_the_brokers_certificate_and_host_name(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    env.setenv("KAFKA_SSL_CAFILE", str(tmp_path / "missing-ca.pem"))
    with pytest.raises(ValidationError, match="KAFKA_SSL_CAFILE names no file"):
        ReferralsSettings()
    env.delenv("KAFKA_SSL_CAFILE")  # the system's CAs
    login = ReferralsSettings().kafka_login()
    context = login.aiokafka_options()["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True
    security = login.faststream_security()
    assert isinstance(security, SASLScram512)
    assert security.use_ssl is True
    assert login.librdkafka_config()["ssl.endpoint.identification.algorithm"] == "https"
    assert login.librdkafka_config()["security.protocol"] == "sasl_ssl"


def test_the_kafka_password_shows_in_no_repr_and_no_error(env: pytest.MonkeyPatch) -> None:
    settings = ReferralsSettings()
    assert PASSWORD not in repr(settings)
    assert PASSWORD not in repr(settings.kafka_login())
    # Refused while checking the password itself: the error must not quote it.
    env.setenv("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    with pytest.raises(ValidationError, match="KAFKA_ALLOW_PLAINTEXT") as refused:
        ReferralsSettings()
    assert PASSWORD not in str(refused.value)


def test_the_operator_tools_log_in_as_admin() -> None:
    login = admin_login({"KAFKA_ADMIN_PASSWORD": "the-admin-password"})
    assert login == KafkaLogin(username="admin", password=SecretStr("the-admin-password"))
    with pytest.raises(KafkaSecurityError, match="set KAFKA_ADMIN_PASSWORD"):
        admin_login({})


def test_the_dead_letter_tool_without_the_admin_password_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .cache/local.env here
    monkeypatch.delenv("KAFKA_ADMIN_PASSWORD", raising=False)
    with pytest.raises(SystemExit, match="set KAFKA_ADMIN_PASSWORD"):
        main(["dead-letters", "list", "referrals"])
