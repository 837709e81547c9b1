"""Operator tools.

    brobygger token care_system               # mint a bearer token for local use
    brobygger token partner --org 3f0c...     # partners are bound to one organisation
    brobygger dead-letters list directory     # what a service could not process, and why
    brobygger dead-letters redrive directory  # send it back, once the cause is fixed
    brobygger outbox failed referrals         # events the relay set aside, and why
    brobygger outbox retry referrals          # let the relay try them again
    brobygger keys rotate                     # rewrap referrals' data keys, newest master key
    brobygger audit verify referrals          # check the audit log's hash chain
    brobygger directory import PATH           # HSDS 3.0 JSON or CSV into the directory
    brobygger directory export --format csv DIR
    brobygger directory generate --services 100000
    brobygger partners kafka-access ORG-ID    # a partner's Kafka topic and login (rotates)
    brobygger partners kafka-access ORG-ID --revoke

Tokens are signed with the Ed25519 private key in BROBYGGER_TOKEN_SIGNING_KEY_FILE, which
`./run` makes and names in .cache/local.env; no service holds it. Kafka is
KAFKA_BOOTSTRAP_SERVERS (default 127.0.0.1:9092). A service's database is found as the
service finds it: <SERVICE>_DATABASE_URL, else the one in .cache/local.env, else the SQLite
file .data/<service>.db. The dead-letter and partner tools log in to Kafka as `admin`, with
KAFKA_ADMIN_PASSWORD from the environment or .cache/local.env (see runtime/kafka_security.py).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import importlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from runtime.audit import verify as verify_audit_log
from runtime.auth import (
    ALGORITHM,
    DEFAULT_AUDIENCE,
    DEFAULT_ISSUER,
    DEFAULT_MAX_LIFETIME_SECONDS,
    Role,
)
from runtime.config import DATA_DIR
from runtime.dead_letters import dead_letter_topic, list_dead_letters, redrive
from runtime.kafka_security import (
    ADMIN_PASSWORD_VARIABLE,
    KafkaLogin,
    KafkaSecurityError,
    admin_login,
)
from runtime.partner_access import (
    RETENTION_MS,
    PartnerAccess,
    PartnerAccessError,
    organization_id,
)
from runtime.relay import retry_set_aside, set_aside_rows
from runtime.storage import make_engine

LOCAL_ENV = Path(".cache/local.env")


def local_setting(name: str) -> str | None:
    """A setting from the environment, or else from the .cache/local.env ./run wrote."""
    value = os.environ.get(name)
    if value:
        return value
    if LOCAL_ENV.exists():
        for line in LOCAL_ENV.read_text().splitlines():
            key, _, value = line.partition("=")
            if key == name and value:
                return value
    return None


SIGNING_KEY_FILE = "token-signing-key.pem"
JWKS_FILE = "jwks.json"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def public_jwk(key: Ed25519PublicKey) -> dict[str, str]:
    """The public key as a JWK, its `kid` the RFC 7638 thumbprint: the signer and the JWKS
    agree on it without sharing anything but the key."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    members = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return {**members, "kid": _b64url(hashlib.sha256(canonical).digest()), "alg": ALGORITHM}


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 private key, which signs under the `kid` of its public half."""

    private_key: Ed25519PrivateKey

    @property
    def kid(self) -> str:
        return public_jwk(self.private_key.public_key())["kid"]

    @classmethod
    def from_file(cls, path: Path) -> SigningKey:
        """The key in a PEM file that only its owner may read; ValueError says what is
        wrong otherwise."""
        if path.stat().st_mode & 0o077:
            raise ValueError(f"others may read it; make it private: chmod 600 {path}")
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except TypeError as error:  # a passphrase-protected key
            raise ValueError("it is encrypted; give an unencrypted PEM key") from error
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("it is not an Ed25519 private key")
        return cls(key)


def create_signing_key(directory: Path) -> tuple[Path, Path]:
    """A new key pair in `directory`: the private key as PEM (mode 600), for
    `brobygger token` alone, and a JWKS document of its public key, for the services."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    key_file, jwks_file = directory / SIGNING_KEY_FILE, directory / JWKS_FILE
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # also when the file was there already
    with os.fdopen(descriptor, "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    jwks_file.write_text(json.dumps({"keys": [public_jwk(key.public_key())]}, indent=2) + "\n")
    return key_file, jwks_file


def mint_token(
    key: SigningKey,
    *,
    subject: str,
    role: Role,
    organization_id: UUID | None = None,
    ttl_seconds: int = 3600,
    issuer: str = DEFAULT_ISSUER,
    audience: str = DEFAULT_AUDIENCE,
    clock: Callable[[], float] = time.time,
) -> str:
    """A bearer token as an identity provider would issue it."""
    if role is Role.PARTNER and organization_id is None:
        raise ValueError("a partner token must name its organisation")
    now = int(clock())
    claims: dict[str, object] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "role": role.value,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
    }
    if organization_id is not None:
        claims["org"] = str(organization_id)
    return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})


def signing_key() -> SigningKey:
    """The local signing key: BROBYGGER_TOKEN_SIGNING_KEY_FILE, from the environment or
    the .cache/local.env ./run wrote."""
    path = local_setting("BROBYGGER_TOKEN_SIGNING_KEY_FILE")
    if not path:
        sys.exit(
            "No signing key: set BROBYGGER_TOKEN_SIGNING_KEY_FILE to an Ed25519 private key "
            "(PEM), or start the system once with ./run (it makes one under .cache/keys/ and "
            "names it in .cache/local.env), running this from the repository root."
        )
    try:
        return SigningKey.from_file(Path(path))
    except (OSError, ValueError) as error:
        sys.exit(f"Cannot sign with BROBYGGER_TOKEN_SIGNING_KEY_FILE ({path}): {error}")


def database_url(service: str) -> str:
    """The service's database, found where the service itself looks for it."""
    setting = f"{service.upper()}_DATABASE_URL"
    url = local_setting(setting)
    if url:
        return url
    sqlite_file = DATA_DIR / f"{service}.db"
    if sqlite_file.exists():
        return f"sqlite:///{sqlite_file}"
    sys.exit(
        f"No database found for {service}: set {setting} to the service's database URL, "
        f"or run this from the repository root, where the service keeps {sqlite_file} "
        "(./run starts it there)."
    )


@contextmanager
def _service_sessions(service: str, what: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on the service's database; if `what` there cannot be used, exit saying so."""
    engine = make_engine(database_url(service))
    try:
        yield sessionmaker(engine, class_=Session, expire_on_commit=False)
    except SQLAlchemyError as error:
        sys.exit(
            f"Could not use the {what} of {service} at {engine.url!r} "
            f"({type(error).__name__}): is the database up, and the service started once "
            "(which migrates it)?"
        )
    finally:
        engine.dispose()


def _outbox(action: str, service: str) -> None:
    with _service_sessions(service, "outbox") as session_factory:
        if action == "failed":
            rows = set_aside_rows(session_factory)
            for row in rows:
                print(row.summary())
            print(f"{len(rows)} outbox row(s) of {service} set aside", file=sys.stderr)
            if rows:
                print(f"Once the cause is fixed: brobygger outbox retry {service}", file=sys.stderr)
        else:
            rows = retry_set_aside(session_factory)
            for row in rows:
                print(f"put back: {row.summary()}")
            print(
                f"{len(rows)} outbox row(s) of {service} put back; its relay tries them at "
                "its next poll",
                file=sys.stderr,
            )


def _audit_verify(service: str) -> None:
    """Print how many entries the chain holds and its head; exit 1 where it breaks."""
    with _service_sessions(service, "audit log") as session_factory, session_factory() as session:
        found = verify_audit_log(session)
    if not found.ok:
        sys.exit(
            f"The audit log of {service} is broken at seq {found.first_broken_seq}: "
            f"{found.reason}. The {found.entries} entries before it are intact."
        )
    print(f"{found.entries} audit entries of {service}: chain OK, head {found.head}")


def _keys(action: str) -> None:
    # The runtime knows no service (import-linter): referrals' own tool is loaded by name.
    tool = importlib.import_module("referrals.keys")
    sys.exit(tool.main(action, local_setting))


def _directory(argv: list[str]) -> None:
    # Loaded by name, as `_keys`: the runtime knows no service.
    tool = importlib.import_module("directory.tool")
    sys.exit(tool.main(argv, local_setting))


def _kafka_bootstrap() -> str:
    return os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")


def _kafka_admin() -> KafkaLogin:
    environment = dict(os.environ)
    environment[ADMIN_PASSWORD_VARIABLE] = local_setting(ADMIN_PASSWORD_VARIABLE) or ""
    try:
        return admin_login(environment)
    except KafkaSecurityError as error:
        sys.exit(str(error))


def _dead_letters(action: str, service: str) -> None:
    bootstrap = _kafka_bootstrap()
    # As `admin`: re-driving writes to topics the service itself may only read.
    login = _kafka_admin()
    if action == "list":
        letters = asyncio.run(list_dead_letters(bootstrap, login, service))
        for letter in letters:
            print(letter.summary())
        print(f"{len(letters)} dead letter(s) on {dead_letter_topic(service)}", file=sys.stderr)
    else:
        sent = asyncio.run(redrive(bootstrap, login, service))
        for letter in sent:
            print(f"re-driven to {letter.original_topic}: {letter.summary()}")
        print(f"{len(sent)} dead letter(s) re-driven", file=sys.stderr)


def _partner_kafka_access(organization: str, revoke: bool) -> None:
    try:
        org = organization_id(organization)
        access = PartnerAccess(_kafka_bootstrap(), _kafka_admin())
        if revoke:
            removed = access.revoke(org)
            for what in removed:
                print(f"removed {what}", file=sys.stderr)
            if not removed:
                print(f"nothing to revoke for organisation {org}", file=sys.stderr)
            print(
                f"The topic stays; its events expire with its retention "
                f"({RETENTION_MS // 86_400_000} days). "
                f"`brobygger partners kafka-access {org}` grants access again.",
                file=sys.stderr,
            )
            return
        settings = access.grant(org)
    except PartnerAccessError as error:
        sys.exit(str(error))
    # The password goes to stdout only, for the operator to hand over; never to a log.
    print(settings.client_properties(), end="")
    print(
        "The password is shown only now: hand it over securely; running this again rotates it.",
        file=sys.stderr,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="brobygger", description="Brobygger operator tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    token = commands.add_parser("token", help="mint a bearer token for local use")
    token.add_argument("role", choices=[role.value for role in Role])
    token.add_argument("--org", type=UUID, help="the partner's organisation id")
    token.add_argument("--subject", help="who the token is for (default: local-<role>)")
    token.add_argument("--ttl", type=int, default=8 * 3600, help="lifetime in seconds")
    letters = commands.add_parser("dead-letters", help="inspect or re-drive a dead-letter topic")
    letters.add_argument("action", choices=["list", "redrive"])
    letters.add_argument("service", help="the consuming service, e.g. directory")
    outbox = commands.add_parser(
        "outbox", help="list the events the relay set aside, or let it try them again"
    )
    outbox.add_argument("action", choices=["failed", "retry"])
    outbox.add_argument("service", help="the publishing service, e.g. referrals")
    keys = commands.add_parser(
        "keys", help="rewrap every citizen's data key under the newest master key"
    )
    keys.add_argument("action", choices=["rotate"])
    audit = commands.add_parser("audit", help="check that the audit log is unchanged")
    audit.add_argument("action", choices=["verify"])
    audit.add_argument("service", help="the service whose audit log, e.g. referrals")
    directory = commands.add_parser(
        "directory",
        help="import, export or generate the directory's HSDS data (see `directory -h`)",
        add_help=False,
    )
    directory.add_argument("arguments", nargs=argparse.REMAINDER)
    partners = commands.add_parser("partners", help="partner organisations' access to Kafka")
    partners.add_argument("action", choices=["kafka-access"])
    partners.add_argument("organization", help="the organisation's id (a UUID)")
    partners.add_argument(
        "--revoke", action="store_true", help="delete its login and ACLs (the topic stays)"
    )
    args = parser.parse_args(argv)

    if args.command == "directory":
        _directory(args.arguments)
        return
    if args.command == "partners":
        _partner_kafka_access(args.organization, args.revoke)
        return
    if args.command == "dead-letters":
        _dead_letters(args.action, args.service)
        return
    if args.command == "outbox":
        _outbox(args.action, args.service)
        return
    if args.command == "keys":
        _keys(args.action)
        return
    if args.command == "audit":
        _audit_verify(args.service)
        return
    role = Role(args.role)
    if role is Role.PARTNER and args.org is None:
        parser.error("a partner token needs --org <organisation id>")
    max_lifetime = int(
        local_setting("BROBYGGER_TOKEN_MAX_LIFETIME_SECONDS") or DEFAULT_MAX_LIFETIME_SECONDS
    )
    if not 0 < args.ttl <= max_lifetime:
        parser.error(f"--ttl must be 1 to {max_lifetime} seconds, the longest services accept")
    print(
        mint_token(
            signing_key(),
            subject=args.subject or f"local-{role.value}",
            role=role,
            organization_id=args.org,
            ttl_seconds=args.ttl,
            issuer=local_setting("BROBYGGER_TOKEN_ISSUER") or DEFAULT_ISSUER,
            audience=local_setting("BROBYGGER_TOKEN_AUDIENCE") or DEFAULT_AUDIENCE,
        )
    )


if __name__ == "__main__":
    main()
