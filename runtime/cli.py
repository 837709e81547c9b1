"""Operator tools.

    brobygger token care_system               # mint a bearer token for local use
    brobygger token partner --org 3f0c...     # partners are bound to one organisation
    brobygger dead-letters list directory     # what a service could not process, and why
    brobygger dead-letters redrive directory  # send it back, once the cause is fixed
    brobygger outbox failed referrals         # events the relay set aside, and why
    brobygger outbox retry referrals          # let the relay try them again

Tokens are signed with BROBYGGER_JWT_SECRET, or the local key `./run` wrote to
.cache/local.env; Kafka is KAFKA_BOOTSTRAP_SERVERS (default 127.0.0.1:9092). A service's
database is found as the service finds it: <SERVICE>_DATABASE_URL, else the one in
.cache/local.env, else the SQLite file .data/<service>.db.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from uuid import UUID

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from runtime.auth import Role, mint_token
from runtime.config import DATA_DIR
from runtime.dead_letters import dead_letter_topic, list_dead_letters, redrive
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


def signing_secret() -> str:
    """The JWT signing key: the environment's, or the one ./run made for local use."""
    secret = local_setting("BROBYGGER_JWT_SECRET")
    if secret:
        return secret
    sys.exit(
        "No signing key: set BROBYGGER_JWT_SECRET, or start the system once with ./run "
        "(it writes .cache/local.env), running this from the repository root."
    )


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


def _outbox(action: str, service: str) -> None:
    url = database_url(service)
    engine = make_engine(url)
    try:
        session_factory = sessionmaker(engine, class_=Session, expire_on_commit=False)
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
    except SQLAlchemyError as error:
        sys.exit(
            f"Could not use the outbox of {service} at {engine.url!r} "
            f"({type(error).__name__}): is the database up, and the service started once "
            "(which migrates it)?"
        )
    finally:
        engine.dispose()


def _dead_letters(action: str, service: str) -> None:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    if action == "list":
        letters = asyncio.run(list_dead_letters(bootstrap, service))
        for letter in letters:
            print(letter.summary())
        print(f"{len(letters)} dead letter(s) on {dead_letter_topic(service)}", file=sys.stderr)
    else:
        sent = asyncio.run(redrive(bootstrap, service))
        for letter in sent:
            print(f"re-driven to {letter.original_topic}: {letter.summary()}")
        print(f"{len(sent)} dead letter(s) re-driven", file=sys.stderr)


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
    args = parser.parse_args(argv)

    if args.command == "dead-letters":
        _dead_letters(args.action, args.service)
        return
    if args.command == "outbox":
        _outbox(args.action, args.service)
        return
    role = Role(args.role)
    if role is Role.PARTNER and args.org is None:
        parser.error("a partner token needs --org <organisation id>")
    print(
        mint_token(
            signing_secret(),
            subject=args.subject or f"local-{role.value}",
            role=role,
            organization_id=args.org,
            ttl_seconds=args.ttl,
        )
    )


if __name__ == "__main__":
    main()
