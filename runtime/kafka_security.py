"""How every Brobygger Kafka client logs in: one place that turns the settings into the
options of aiokafka, FastStream and confluent-kafka (librdkafka).

The broker authenticates every client (SASL, SCRAM-SHA-512 by default) and authorises it
by ACLs per principal (infra/acls.toml). The settings, shared by every client:

- `KAFKA_SECURITY_PROTOCOL`: `SASL_PLAINTEXT` (default; the local broker, on loopback),
  `SASL_SSL` (production: the password and the events travel encrypted, the broker's
  certificate and host name are verified) or `PLAINTEXT` (no login at all), which is refused
  unless `KAFKA_ALLOW_PLAINTEXT=true` says so explicitly: only for a broker outside our
  control that has no authentication yet, e.g. during a migration.
- `KAFKA_SASL_MECHANISM`: `SCRAM-SHA-512` (default), `SCRAM-SHA-256` or `PLAIN`.
- `KAFKA_SSL_CAFILE`: for `SASL_SSL`, the CA certificate(s) (PEM) the broker's certificate
  must chain to; empty: the system's CAs.
- The principal and its password: per service `<SERVICE>_KAFKA_USERNAME` (default the
  service's name) and `<SERVICE>_KAFKA_PASSWORD`; for the operator tools and
  infra/kafka/admin.py the super user `admin` with `KAFKA_ADMIN_PASSWORD`.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast, get_args

from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from pydantic import SecretStr

SecurityProtocol = Literal["SASL_PLAINTEXT", "SASL_SSL", "PLAINTEXT"]
SaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD_VARIABLE = "KAFKA_ADMIN_PASSWORD"  # noqa: S105  # its name, not a password

_FASTSTREAM_SECURITY: dict[str, type[SASLScram512 | SASLScram256 | SASLPlaintext]] = {
    "SCRAM-SHA-512": SASLScram512,
    "SCRAM-SHA-256": SASLScram256,
    "PLAIN": SASLPlaintext,
}


class KafkaSecurityError(ValueError):
    """Settings a Kafka client cannot log in with; the message says what to set."""


def check_kafka_login(
    *,
    protocol: str,
    allow_plaintext: bool,
    password: SecretStr | None,
    password_variable: str,
    ssl_cafile: str,
) -> None:
    """Raise KafkaSecurityError naming what to set when these settings cannot log in."""
    if protocol not in get_args(SecurityProtocol):
        raise KafkaSecurityError(
            f"KAFKA_SECURITY_PROTOCOL must be one of {', '.join(get_args(SecurityProtocol))} "
            f"(got {protocol!r})."
        )
    if protocol == "PLAINTEXT":
        if not allow_plaintext:
            raise KafkaSecurityError(
                "KAFKA_SECURITY_PROTOCOL=PLAINTEXT logs in as no one and sends everything "
                "unencrypted; it is refused unless KAFKA_ALLOW_PLAINTEXT=true says so (only for "
                "a broker without authentication that is not ours, e.g. during a migration)."
            )
        return
    if password is None or not password.get_secret_value():
        raise KafkaSecurityError(
            f"No Kafka password: set {password_variable} (the broker authenticates every "
            f"client with SASL; KAFKA_SECURITY_PROTOCOL is {protocol}). For local development "
            "./run writes it to .cache/local.env."
        )
    if protocol == "SASL_SSL" and ssl_cafile and not Path(ssl_cafile).is_file():
        raise KafkaSecurityError(f"KAFKA_SSL_CAFILE names no file: {ssl_cafile}")


@dataclass(frozen=True)
class KafkaLogin:
    """One principal's way onto the broker, as each client library wants it."""

    protocol: SecurityProtocol = "SASL_PLAINTEXT"
    mechanism: SaslMechanism = "SCRAM-SHA-512"
    username: str = ""
    password: SecretStr | None = field(default=None, repr=False)
    ssl_cafile: str = ""

    def _password(self) -> str:
        return self.password.get_secret_value() if self.password is not None else ""

    def ssl_context(self) -> ssl.SSLContext | None:
        """For SASL_SSL: verifies the broker's certificate (against KAFKA_SSL_CAFILE, else the
        system's CAs) and that it names the host connected to."""
        if self.protocol != "SASL_SSL":
            return None
        return ssl.create_default_context(cafile=self.ssl_cafile or None)

    def aiokafka_options(self) -> dict[str, Any]:
        """Keyword arguments of AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient."""
        if self.protocol == "PLAINTEXT":
            return {"security_protocol": "PLAINTEXT"}
        return {
            "security_protocol": self.protocol,
            "sasl_mechanism": self.mechanism,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self._password(),
            "ssl_context": self.ssl_context(),
        }

    def faststream_security(self) -> BaseSecurity | None:
        """The `security=` of FastStream's KafkaBroker (None: plain text, no login)."""
        if self.protocol == "PLAINTEXT":
            return None
        security = _FASTSTREAM_SECURITY[self.mechanism]
        return security(
            self.username,
            self._password(),
            ssl_context=self.ssl_context(),
            use_ssl=self.protocol == "SASL_SSL",
        )

    def librdkafka_config(self) -> dict[str, str]:
        """The login part of a confluent-kafka (librdkafka) client's configuration."""
        if self.protocol == "PLAINTEXT":
            return {"security.protocol": "plaintext"}
        config = {
            "security.protocol": self.protocol.lower(),
            "sasl.mechanism": self.mechanism,
            "sasl.username": self.username,
            "sasl.password": self._password(),
        }
        if self.protocol == "SASL_SSL":
            config["ssl.endpoint.identification.algorithm"] = "https"
            if self.ssl_cafile:
                config["ssl.ca.location"] = self.ssl_cafile
        return config


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def login_from_environment(
    username: str,
    password_variable: str,
    environ: Mapping[str, str] | None = None,
) -> KafkaLogin:
    """The login of `username` with the password in `password_variable`, and the shared
    KAFKA_* settings, from the environment (for tools; services use ServiceSettings)."""
    env = os.environ if environ is None else environ
    protocol = env.get("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT").strip().upper()
    mechanism = env.get("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512").strip().upper()
    password = SecretStr(env.get(password_variable, ""))
    cafile = env.get("KAFKA_SSL_CAFILE", "")
    check_kafka_login(
        protocol=protocol,
        allow_plaintext=_flag(env.get("KAFKA_ALLOW_PLAINTEXT", "")),
        password=password,
        password_variable=password_variable,
        ssl_cafile=cafile,
    )
    if mechanism not in get_args(SaslMechanism):
        raise KafkaSecurityError(
            f"KAFKA_SASL_MECHANISM must be one of {', '.join(get_args(SaslMechanism))} "
            f"(got {mechanism!r})."
        )
    return KafkaLogin(
        protocol=cast(SecurityProtocol, protocol),  # checked above
        mechanism=cast(SaslMechanism, mechanism),
        username=username,
        password=password,
        ssl_cafile=cafile,
    )


def admin_login(environ: Mapping[str, str] | None = None) -> KafkaLogin:
    """The super user `admin` (KAFKA_ADMIN_PASSWORD): topic, ACL and credential
    administration, and the operator tools that read and write any service's topics."""
    return login_from_environment(ADMIN_USERNAME, ADMIN_PASSWORD_VARIABLE, environ)
