"""`brobygger token`: mint a bearer token for local use.

    brobygger token care_system
    brobygger token partner --org 3f0c...   # partners are bound to one organisation

The signing key is BROBYGGER_JWT_SECRET, or the local one `./run` wrote to .cache/local.env.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from uuid import UUID

from runtime.auth import Role, mint_token

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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="brobygger", description="Brobygger operator tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    token = commands.add_parser("token", help="mint a bearer token for local use")
    token.add_argument("role", choices=[role.value for role in Role])
    token.add_argument("--org", type=UUID, help="the partner's organisation id")
    token.add_argument("--subject", help="who the token is for (default: local-<role>)")
    token.add_argument("--ttl", type=int, default=8 * 3600, help="lifetime in seconds")
    args = parser.parse_args(argv)

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
