"""Operator tools.

    brobygger token care_system               # mint a bearer token for local use
    brobygger token partner --org 3f0c...     # partners are bound to one organisation
    brobygger dead-letters list directory     # what a service could not process, and why
    brobygger dead-letters redrive directory  # send it back, once the cause is fixed

Tokens are signed with BROBYGGER_JWT_SECRET, or the local key `./run` wrote to
.cache/local.env; Kafka is KAFKA_BOOTSTRAP_SERVERS (default 127.0.0.1:9092).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from uuid import UUID

from runtime.auth import Role, mint_token
from runtime.dead_letters import dead_letter_topic, list_dead_letters, redrive

LOCAL_ENV = Path(".cache/local.env")


def signing_secret() -> str:
    """The JWT signing key: the environment's, or the one ./run made for local use."""
    secret = os.environ.get("BROBYGGER_JWT_SECRET")
    if secret:
        return secret
    if LOCAL_ENV.exists():
        for line in LOCAL_ENV.read_text().splitlines():
            name, _, value = line.partition("=")
            if name == "BROBYGGER_JWT_SECRET":
                return value
    sys.exit(
        "No signing key: set BROBYGGER_JWT_SECRET, or start the system once with ./run "
        "(it writes .cache/local.env), running this from the repository root."
    )


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
    args = parser.parse_args(argv)

    if args.command == "dead-letters":
        _dead_letters(args.action, args.service)
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
