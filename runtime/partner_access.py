"""A partner organisation as a Kafka consumer of its own topic (`brobygger partners
kafka-access`): its topic `partner.<organisation-id>.v1`, its SCRAM-SHA-512 principal
`partner-<organisation-id>`, which may READ that topic and use consumer groups named with
its prefix and nothing else, and notifications' WRITE on the topic, so that it can publish
what the organisation's webhook would carry. Everything here is done as `admin` with
confluent-kafka's AdminClient (aiokafka's cannot manage ACLs or credentials).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from confluent_kafka import KafkaError, KafkaException

# confluent-kafka's admin package re-exports these without naming them in an __all__.
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)
from pydantic import SecretStr

from contracts.partners import PARTNER_TOPIC_PREFIX, partner_topic
from runtime.kafka_security import KafkaLogin

PUBLISHER = "notifications"  # the service that writes the partners' topics
PARTITIONS = 3
RETENTION_MS = 7 * 24 * 3_600_000  # as infra/topics.toml's topics
SCRAM_ITERATIONS = 8192  # as infra/kafka/admin.py's
CLIENT_ID = "brobygger-partner-access"


class PartnerAccessError(Exception):
    """What stopped the command, in a sentence for the operator."""


def organization_id(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise PartnerAccessError(
            f"An organisation id is a UUID, e.g. 3d28baae-98ff-5f66-b3e2-6a7196f72cd7 "
            f"(got {text!r}); nothing was changed."
        ) from None


def partner_username(organization: UUID) -> str:
    return f"partner-{organization}"


def is_partner_topic_acl(binding: AclBinding) -> bool:
    """Whether this ACL is on a partner's topic: this module's, not infra/acls.toml's."""
    return binding.restype == ResourceType.TOPIC and binding.name.startswith(PARTNER_TOPIC_PREFIX)


def _acl(
    resource: ResourceType, name: str, pattern: ResourcePatternType, user: str, op: AclOperation
) -> AclBinding:
    return AclBinding(resource, name, pattern, f"User:{user}", "*", op, AclPermissionType.ALLOW)


def partner_acls(organization: UUID) -> set[AclBinding]:
    """The partner's ACLs, exactly: READ on its topic and on its consumer groups' prefix."""
    user = partner_username(organization)
    return {
        _acl(
            ResourceType.TOPIC,
            partner_topic(organization),
            ResourcePatternType.LITERAL,
            user,
            AclOperation.READ,
        ),
        _acl(ResourceType.GROUP, user, ResourcePatternType.PREFIXED, user, AclOperation.READ),
    }


def publisher_acl(organization: UUID) -> AclBinding:
    return _acl(
        ResourceType.TOPIC,
        partner_topic(organization),
        ResourcePatternType.LITERAL,
        PUBLISHER,
        AclOperation.WRITE,
    )


def _filter(binding: AclBinding) -> AclBindingFilter:
    return AclBindingFilter(
        binding.restype,
        binding.name,
        binding.resource_pattern_type,
        binding.principal,
        binding.host,
        binding.operation,
        binding.permission_type,
    )


def _principal_filter(user: str) -> AclBindingFilter:
    # None matches any name and host (as documented; the annotations say str).
    return AclBindingFilter(
        ResourceType.ANY,
        None,  # type: ignore[arg-type]
        ResourcePatternType.ANY,
        f"User:{user}",
        None,  # type: ignore[arg-type]
        AclOperation.ANY,
        AclPermissionType.ANY,
    )


@dataclass(frozen=True)
class PartnerKafkaAccess:
    """What a partner needs to connect: printed once, for the operator to hand over."""

    organization: UUID
    bootstrap: str
    login: KafkaLogin = field(repr=False)

    def client_properties(self) -> str:
        """A librdkafka / confluent-kafka properties block, with the topic and group prefix."""
        user = self.login.username
        login = self.login.librdkafka_config()
        lines = [
            f"# Kafka access of partner organisation {self.organization}",
            "# In production use security.protocol=SASL_SSL (encrypted, the broker verified).",
            f"bootstrap.servers={self.bootstrap}",
            *(f"{key}={value}" for key, value in login.items()),
            f"# topic: {partner_topic(self.organization)}",
            f"# group.id: any name starting with {user}, e.g. {user}-main",
        ]
        return "\n".join(lines) + "\n"


class PartnerAccess:
    """Grants, rotates and revokes partners' Kafka access as `admin`."""

    def __init__(self, bootstrap: str, admin: KafkaLogin, timeout_s: float = 30.0) -> None:
        self.bootstrap = bootstrap
        self.admin = admin
        self.timeout_s = timeout_s
        self.client = AdminClient(
            {"bootstrap.servers": bootstrap, "client.id": CLIENT_ID, **admin.librdkafka_config()}
        )

    def grant(self, organization: UUID) -> PartnerKafkaAccess:
        """Create the topic if missing, set a new password (rotating any old one), and the
        ACLs missing; return the settings with the new password."""
        if self.admin.protocol == "PLAINTEXT":
            raise PartnerAccessError(
                "KAFKA_SECURITY_PROTOCOL=PLAINTEXT: a broker without logins cannot keep a "
                "partner to its own topic; nothing was changed."
            )
        self._create_topic(partner_topic(organization))
        password = secrets.token_urlsafe(32)
        user = partner_username(organization)
        upsert = UserScramCredentialUpsertion(
            user,
            ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS),
            password.encode(),
        )
        self._wait(self.client.alter_user_scram_credentials([upsert]).values(), "set password")
        publisher = publisher_acl(organization)
        wanted = {*partner_acls(organization), publisher}
        self._wait(self.client.create_acls(list(wanted)).values(), "create the ACLs")
        # Any other ACL of the partner was not made here: it goes (only these, nothing else).
        extra = self._acls(_principal_filter(user)) - partner_acls(organization)
        if extra:
            self._wait(self.client.delete_acls([_filter(b) for b in extra]).values(), "remove ACLs")
        self._await_acls(_principal_filter(user), partner_acls(organization))
        self._await_acls(_filter(publisher), {publisher})
        login = KafkaLogin(
            protocol=self.admin.protocol,
            mechanism="SCRAM-SHA-512",
            username=user,
            password=SecretStr(password),
        )
        return PartnerKafkaAccess(organization, self.bootstrap, login)

    def revoke(self, organization: UUID) -> list[str]:
        """Delete the partner's credential and ACLs and notifications' WRITE on its topic;
        return what was removed (nothing, when revoked already). The topic stays."""
        user = partner_username(organization)
        removed: list[str] = []
        deletion = UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_512)
        future = self.client.alter_user_scram_credentials([deletion])[user]
        try:
            future.result(timeout=self.timeout_s)
            removed.append(f"the SCRAM-SHA-512 credential of {user}")
        except KafkaException as error:
            if error.args[0].code() != KafkaError.RESOURCE_NOT_FOUND:
                raise PartnerAccessError(f"could not delete the credential: {error}") from error
        filters = [_principal_filter(user), _filter(publisher_acl(organization))]
        for found in self._wait(self.client.delete_acls(filters).values(), "remove ACLs"):
            removed += [_describe(binding) for binding in found]
        for gone in filters:
            self._await_acls(gone, set())
        return removed

    def _create_topic(self, topic: str) -> None:
        # -1: the broker's default replication factor, as in production it should be.
        new = NewTopic(topic, PARTITIONS, -1, config={"retention.ms": str(RETENTION_MS)})
        future = self.client.create_topics([new], request_timeout=self.timeout_s)[topic]
        try:
            future.result(timeout=self.timeout_s)
        except KafkaException as error:
            if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:  # left as it is
                raise PartnerAccessError(f"could not create {topic}: {error}") from error

    def _acls(self, matching: AclBindingFilter) -> set[AclBinding]:
        future = self.client.describe_acls(matching, request_timeout=self.timeout_s)
        return set(self._wait([future], "list the ACLs")[0])

    def _await_acls(self, matching: AclBindingFilter, wanted: set[AclBinding]) -> None:
        """Return once the broker's authorizer holds exactly `wanted` of the ACLs `matching`
        (it applies the controller's records a moment after the request returns)."""
        deadline = time.monotonic() + self.timeout_s
        while self._acls(matching) != wanted:
            if time.monotonic() >= deadline:
                raise PartnerAccessError("the ACLs were changed but the broker does not apply them")
            time.sleep(0.1)

    def _wait(self, futures: Iterable[Any], what: str) -> list[Any]:
        try:
            return [future.result(timeout=self.timeout_s) for future in futures]
        except KafkaException as error:
            raise PartnerAccessError(f"could not {what}: {error}") from error


def _describe(binding: AclBinding) -> str:
    # The attributes are the enums by now; their annotations also allow what __init__ takes.
    operation = AclOperation(binding.operation).name
    resource = ResourceType(binding.restype).name.lower()
    pattern = ResourcePatternType(binding.resource_pattern_type).name.lower()
    return f"ACL {binding.principal} {operation} {resource} {binding.name} ({pattern})"
