"""Small Kafka admin helper for the local broker (used by infra/kafka/kafka.sh).

    python infra/kafka/admin.py wait-ready --bootstrap 127.0.0.1:9092 --timeout 60 [--pid N]
    python infra/kafka/admin.py create-topics --bootstrap 127.0.0.1:9092 --file infra/topics.toml
    python infra/kafka/admin.py list-topics --bootstrap 127.0.0.1:9092
    python infra/kafka/admin.py apply-security --bootstrap 127.0.0.1:9092 --file infra/acls.toml

Every request logs in as the super user `admin` (KAFKA_ADMIN_PASSWORD, and the shared
KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_MECHANISM, KAFKA_SSL_CAFILE: runtime/kafka_security.py).
Readiness is a real admin request (Metadata / describe_cluster), not an open port.
Topic creation is idempotent: missing topics are created, existing ones are left alone.
apply-security is idempotent too: it sets each principal's SCRAM credential from
<PRINCIPAL>_KAFKA_PASSWORD, creates the missing ACLs and removes those of these principals
that the list no longer has. aiokafka's admin client cannot manage ACLs or credentials:
that part uses confluent-kafka's AdminClient (librdkafka).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, for_code
from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

# The shared login settings live in the runtime package: from the repository (as kafka.sh
# runs this file) or installed (as the compose file's image runs it).
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from runtime.kafka_security import KafkaLogin, KafkaSecurityError, admin_login
from runtime.partner_access import is_partner_topic_acl

CLIENT_ID = "brobygger-infra-admin"
SCRAM_ITERATIONS = 8192  # Kafka's minimum for SCRAM-SHA-512 is 4096
TOPIC_ALREADY_EXISTS = 36
HOUR_MS = 3_600_000


class AdminError(Exception):
    """A failure worth a one-line message and a non-zero exit."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int
    configs: dict[str, str] = field(default_factory=dict)

    def topic_configs(self) -> dict[str, str]:
        return {"retention.ms": str(self.retention_ms), **self.configs}

    def describe(self) -> str:
        hours = self.retention_ms / HOUR_MS
        retention = f"{hours:g} h" if hours >= 1 else f"{self.retention_ms} ms"
        return f"{self.partitions} partition(s), retention {retention}"


def load_topics(path: Path) -> list[TopicSpec]:
    """Read and validate the declarative topic list (see infra/topics.toml)."""
    with path.open("rb") as f:
        doc = tomllib.load(f)
    entries = doc.get("topic", [])
    if not isinstance(entries, list) or not entries:
        raise AdminError(f"{path}: expected one or more [[topic]] tables")
    specs: list[TopicSpec] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries, start=1):
        where = f"{path}: topic #{i}"
        if not isinstance(entry, dict):
            raise AdminError(f"{where}: not a table")
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise AdminError(f"{where}: 'name' must be a non-empty string")
        where = f"{path}: topic {name!r}"
        if name in seen:
            raise AdminError(f"{where}: listed twice")
        seen.add(name)
        partitions = entry.get("partitions")
        if not isinstance(partitions, int) or isinstance(partitions, bool) or partitions < 1:
            raise AdminError(f"{where}: 'partitions' must be a positive integer")
        specs.append(
            TopicSpec(
                name=name,
                partitions=partitions,
                retention_ms=_retention_ms(entry, where),
                configs=_extra_configs(entry, where),
            )
        )
    return specs


def _retention_ms(entry: dict[str, Any], where: str) -> int:
    hours = entry.get("retention_hours")
    ms = entry.get("retention_ms")
    if (hours is None) == (ms is None):
        raise AdminError(f"{where}: give exactly one of 'retention_hours' or 'retention_ms'")
    value = hours if hours is not None else ms
    if not isinstance(value, int) or isinstance(value, bool) or value < -1 or value == 0:
        raise AdminError(f"{where}: retention must be a positive integer (or -1 for unlimited)")
    if value == -1:
        return -1
    return value * HOUR_MS if hours is not None else value


def _extra_configs(entry: dict[str, Any], where: str) -> dict[str, str]:
    raw = entry.get("config", {})
    if not isinstance(raw, dict):
        raise AdminError(f"{where}: 'config' must be a table")
    configs: dict[str, str] = {}
    for key, value in raw.items():
        if key == "retention.ms":
            raise AdminError(f"{where}: set retention with retention_hours/retention_ms")
        if isinstance(value, bool):
            configs[key] = "true" if value else "false"
        elif isinstance(value, (str, int, float)):
            configs[key] = str(value)
        else:
            raise AdminError(f"{where}: config {key!r} must be a string, number or boolean")
    return configs


@dataclass(frozen=True)
class PrincipalAcls:
    """One service's principal and what infra/acls.toml lets it do."""

    name: str
    write: tuple[str, ...]
    read: tuple[str, ...]
    group: str

    @property
    def principal(self) -> str:
        return f"User:{self.name}"

    @property
    def password_variable(self) -> str:
        return f"{self.name.upper()}_KAFKA_PASSWORD"

    def acls(self) -> set[Acl]:
        topics = [("TOPIC", t, "WRITE") for t in self.write] + [
            ("TOPIC", t, "READ") for t in self.read
        ]
        return {
            Acl(resource, name, "LITERAL", self.principal, "*", operation, "ALLOW")
            for resource, name, operation in [*topics, ("GROUP", self.group, "READ")]
        }


class Acl(NamedTuple):
    """An ACL binding, comparable: what the broker lists and what the file asks for."""

    resource: str
    name: str
    pattern: str
    principal: str
    host: str
    operation: str
    permission: str

    @classmethod
    def of(cls, binding: AclBinding) -> Acl:
        return cls(
            binding.restype.name,
            binding.name,
            binding.resource_pattern_type.name,
            binding.principal,
            binding.host,
            binding.operation.name,
            binding.permission_type.name,
        )

    def _parts(self) -> tuple[Any, ...]:
        return (
            ResourceType[self.resource],
            self.name,
            ResourcePatternType[self.pattern],
            self.principal,
            self.host,
            AclOperation[self.operation],
            AclPermissionType[self.permission],
        )

    def binding(self) -> AclBinding:
        return AclBinding(*self._parts())

    def exact_filter(self) -> AclBindingFilter:
        """A filter matching exactly this ACL (for deleting it)."""
        return AclBindingFilter(*self._parts())

    def describe(self) -> str:
        what = f"{self.operation} {self.resource.lower()} {self.name}"
        return f"{self.principal} {self.permission} {what}"


def load_acls(path: Path) -> list[PrincipalAcls]:
    """Read and validate the declarative ACL list (see infra/acls.toml)."""
    with path.open("rb") as f:
        doc = tomllib.load(f)
    entries = doc.get("principal")
    if not isinstance(entries, dict) or not entries:
        raise AdminError(f"{path}: expected one or more [principal.<name>] tables")
    principals: list[PrincipalAcls] = []
    for name, entry in entries.items():
        where = f"{path}: principal {name!r}"
        if not name.isidentifier() or not name.islower():
            raise AdminError(f"{where}: a principal is a service's name (lower case)")
        if not isinstance(entry, dict) or set(entry) - {"write", "read", "group"}:
            raise AdminError(f"{where}: a table of 'write', 'read' and 'group' only")
        lists = {key: entry.get(key, []) for key in ("write", "read")}
        for key, topics in lists.items():
            if not isinstance(topics, list) or not all(isinstance(t, str) and t for t in topics):
                raise AdminError(f"{where}: '{key}' must be a list of topic names")
        group = entry.get("group")
        if not isinstance(group, str) or not group:
            raise AdminError(f"{where}: 'group' must name its consumer group")
        principals.append(PrincipalAcls(name, tuple(lists["write"]), tuple(lists["read"]), group))
    return principals


def _login() -> KafkaLogin:
    try:
        return admin_login()
    except KafkaSecurityError as error:
        raise AdminError(str(error)) from error


def _admin(bootstrap: str, request_timeout_s: float) -> Any:
    return AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id=CLIENT_ID,
        request_timeout_ms=max(1000, int(request_timeout_s * 1000)),
        **_login().aiokafka_options(),
    )


def _pid_alive(pid: int) -> bool:
    """True while `pid` runs; an exited but not yet reaped process (zombie) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: trust kill(0)
    return stat.rpartition(")")[2].split()[0] != "Z"


async def _probe(bootstrap: str, timeout_s: float) -> dict[str, Any]:
    admin = _admin(bootstrap, timeout_s)
    try:
        await admin.start()
        cluster: dict[str, Any] = await admin.describe_cluster()
    finally:
        await admin.close()
    if not cluster.get("brokers"):
        raise AdminError("metadata response lists no brokers yet")
    return cluster


async def wait_ready(bootstrap: str, timeout_s: float, pid: int | None) -> int:
    # While the broker is still starting, aiokafka logs every refused connection.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    started = time.monotonic()
    deadline = started + timeout_s
    last_error = "no attempt made"
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        if pid is not None and not _pid_alive(pid):
            print(f"broker process {pid} exited before it became ready", file=sys.stderr)
            return 2
        try:
            cluster = await asyncio.wait_for(
                _probe(bootstrap, min(5.0, remaining)), timeout=min(6.0, remaining)
            )
        except Exception as exc:  # any failure (refused, timeout, not ready yet): retry
            last_error = f"{type(exc).__name__}: {exc}".rstrip(": ")
            await asyncio.sleep(min(0.25, max(0.0, deadline - time.monotonic())))
            continue
        brokers = len(cluster["brokers"])
        print(
            f"ready: {bootstrap} answered metadata (cluster {cluster.get('cluster_id')}, "
            f"{brokers} broker(s)) after {time.monotonic() - started:.1f} s"
        )
        return 0
    print(
        f"not ready: {bootstrap} did not answer within {timeout_s:g} s (last error: {last_error})",
        file=sys.stderr,
    )
    return 1


async def create_topics(
    bootstrap: str, specs: list[TopicSpec], replication_factor: int, timeout_s: float
) -> int:
    admin = _admin(bootstrap, timeout_s)
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        already = [s for s in specs if s.name in existing]
        created: list[TopicSpec] = []
        if missing:
            response = await admin.create_topics(
                [
                    NewTopic(
                        s.name, s.partitions, replication_factor, topic_configs=s.topic_configs()
                    )
                    for s in missing
                ],
                timeout_ms=int(timeout_s * 1000),
            )
            errors = {
                str(e["topic"]): (int(e["error_code"]), e.get("error_message"))
                for e in response.to_object()["topic_errors"]
            }
            failures: list[str] = []
            for spec in missing:
                code, message = errors.get(spec.name, (0, None))
                if code == 0:
                    created.append(spec)
                elif code == TOPIC_ALREADY_EXISTS:  # created concurrently: fine
                    already.append(spec)
                else:
                    failures.append(f"{spec.name}: {for_code(code).__name__}: {message or ''}")
            if failures:
                raise AdminError("could not create topics:\n  " + "\n  ".join(failures))
        for spec in created:
            print(f"created {spec.name} ({spec.describe()})")
        partition_counts = await _partition_counts(admin, [s.name for s in already])
        for spec in already:
            actual = partition_counts.get(spec.name)
            note = ""
            if actual is not None and actual != spec.partitions:
                note = f"  [warning: has {actual} partition(s), topics.toml says {spec.partitions}]"
            print(f"exists  {spec.name}{note}")
        if created:
            await _wait_for_leaders(admin, [s.name for s in created], timeout_s)
        print(f"topics: {len(created)} created, {len(already)} already there")
        return 0
    finally:
        await admin.close()


async def _partition_counts(admin: Any, names: list[str]) -> dict[str, int]:
    if not names:
        return {}
    topics: list[dict[str, Any]] = await admin.describe_topics(names)
    return {str(t["topic"]): len(t["partitions"]) for t in topics if t["error_code"] == 0}


async def _wait_for_leaders(admin: Any, names: list[str], timeout_s: float) -> None:
    """Return once every partition of the new topics has a leader (so clients can use them)."""
    deadline = time.monotonic() + timeout_s
    while True:
        topics: list[dict[str, Any]] = await admin.describe_topics(names)
        if len(topics) == len(names) and all(
            t["error_code"] == 0
            and t["partitions"]
            and all(p["leader"] >= 0 for p in t["partitions"])
            for t in topics
        ):
            return
        if time.monotonic() >= deadline:
            raise AdminError("topics were created but not all partitions have a leader yet")
        await asyncio.sleep(0.1)


async def list_topics(bootstrap: str, timeout_s: float, include_internal: bool) -> int:
    admin = _admin(bootstrap, timeout_s)
    try:
        await admin.start()
        topics: list[dict[str, Any]] = await admin.describe_topics()
    finally:
        await admin.close()
    for topic in sorted(topics, key=lambda t: str(t["topic"])):
        if topic.get("is_internal") and not include_internal:
            continue
        print(f"{topic['topic']}\t{len(topic['partitions'])} partition(s)")
    return 0


def _passwords(principals: list[PrincipalAcls], environ: Mapping[str, str]) -> dict[str, str]:
    missing = [p.password_variable for p in principals if not environ.get(p.password_variable)]
    if missing:
        raise AdminError(
            f"set {', '.join(missing)}: each service's principal logs in with its own password"
        )
    return {p.name: environ[p.password_variable] for p in principals}


def _wait_all(futures: Iterable[Any], timeout_s: float, what: str) -> None:
    failures = []
    for future in futures:
        try:
            future.result(timeout=timeout_s)
        except KafkaException as error:
            failures.append(str(error.args[0]))
    if failures:
        raise AdminError(f"could not {what}:\n  " + "\n  ".join(failures))


def _acls_of(client: AdminClient, principal: str, timeout_s: float) -> set[Acl]:
    """Every ACL binding of `principal` that the list manages, as the broker's authorizer
    lists it now: not those on partners' topics (notifications' WRITE), which
    `brobygger partners kafka-access` grants and revokes."""
    found = client.describe_acls(
        AclBindingFilter(
            ResourceType.ANY,
            None,
            ResourcePatternType.ANY,
            principal,
            None,
            AclOperation.ANY,
            AclPermissionType.ANY,
        ),
        request_timeout=timeout_s,
    ).result(timeout=timeout_s)
    return {Acl.of(binding) for binding in found if not is_partner_topic_acl(binding)}


def apply_security(
    bootstrap: str,
    principals: list[PrincipalAcls],
    timeout_s: float,
    environ: Mapping[str, str] = os.environ,
) -> int:
    passwords = _passwords(principals, environ)
    client = AdminClient(
        {"bootstrap.servers": bootstrap, "client.id": CLIENT_ID, **_login().librdkafka_config()}
    )
    # Upserted every time: the broker cannot tell whether a password changed, and this is
    # how a new one takes effect.
    upserts = [
        UserScramCredentialUpsertion(
            p.name,
            ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS),
            passwords[p.name].encode(),
        )
        for p in principals
    ]
    _wait_all(
        client.alter_user_scram_credentials(upserts, request_timeout=timeout_s).values(),
        timeout_s,
        "set the SCRAM credentials",
    )
    print(f"credentials: SCRAM-SHA-512 set for {', '.join(p.name for p in principals)}")

    wanted = {p.principal: p.acls() for p in principals}
    have = {p.principal: _acls_of(client, p.principal, timeout_s) for p in principals}
    missing = sorted(set().union(*(wanted[p] - have[p] for p in wanted)))
    unlisted = sorted(set().union(*(have[p] - wanted[p] for p in wanted)))
    if missing:
        _wait_all(
            client.create_acls([a.binding() for a in missing], request_timeout=timeout_s).values(),
            timeout_s,
            "create ACLs",
        )
        for acl in missing:
            print(f"acl created  {acl.describe()}")
    if unlisted:
        _wait_all(
            client.delete_acls(
                [a.exact_filter() for a in unlisted], request_timeout=timeout_s
            ).values(),
            timeout_s,
            "remove ACLs",
        )
        for acl in unlisted:
            print(f"acl removed  {acl.describe()} (no longer in the list)")
    _wait_for_authorizer(client, wanted, timeout_s)
    kept = sum(len(w) for w in wanted.values()) - len(missing)
    print(f"acls: {len(missing)} created, {len(unlisted)} removed, {kept} already there")
    return 0


def _wait_for_authorizer(
    client: AdminClient, wanted: dict[str, set[Acl]], timeout_s: float
) -> None:
    """Return once the broker's authorizer holds exactly the wanted ACLs (it applies the
    controller's records a moment after create_acls returns)."""
    deadline = time.monotonic() + timeout_s
    while any(_acls_of(client, p, timeout_s) != acls for p, acls in wanted.items()):
        if time.monotonic() >= deadline:
            raise AdminError("the ACLs were changed but the broker does not apply them yet")
        time.sleep(0.1)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)

    ready = sub.add_parser("wait-ready", help="wait until the broker answers a metadata request")
    ready.add_argument("--bootstrap", default="127.0.0.1:9092")
    ready.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
    ready.add_argument("--pid", type=int, help="give up early if this process exits")

    create = sub.add_parser("create-topics", help="create the missing topics from a TOML list")
    create.add_argument("--bootstrap", default="127.0.0.1:9092")
    create.add_argument("--file", type=Path, required=True, help="e.g. infra/topics.toml")
    create.add_argument("--replication-factor", type=int, default=1)
    create.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")

    listing = sub.add_parser("list-topics", help="list topics and their partition counts")
    listing.add_argument("--bootstrap", default="127.0.0.1:9092")
    listing.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")
    listing.add_argument("--internal", action="store_true", help="include __consumer_offsets etc.")

    security = sub.add_parser(
        "apply-security", help="set the principals' credentials and apply their ACLs"
    )
    security.add_argument("--bootstrap", default="127.0.0.1:9092")
    security.add_argument("--file", type=Path, required=True, help="e.g. infra/acls.toml")
    security.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "wait-ready":
            return asyncio.run(wait_ready(args.bootstrap, args.timeout, args.pid))
        if args.command == "create-topics":
            specs = load_topics(args.file)
            return asyncio.run(
                create_topics(args.bootstrap, specs, args.replication_factor, args.timeout)
            )
        if args.command == "list-topics":
            return asyncio.run(list_topics(args.bootstrap, args.timeout, args.internal))
        if args.command == "apply-security":
            return apply_security(args.bootstrap, load_acls(args.file), args.timeout)
    except AdminError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (OSError, tomllib.TOMLDecodeError, KafkaError, KafkaException) as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
