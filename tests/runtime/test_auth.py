"""Bearer tokens: who may call, and what a bad token gets."""

import time
from typing import Any
from uuid import uuid4

import jwt
import pytest

from runtime.auth import AUDIENCE, ISSUER, Role, decode_token, mint_token
from runtime.problems import Problem

SECRET = "a-test-signing-key-that-is-long-enough-0123456789"


def token(**claims: Any) -> str:
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "someone",
        "role": "operator",
        "exp": int(time.time()) + 60,
    }
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, SECRET, "HS256")


def test_a_minted_partner_token_names_its_organisation() -> None:
    org = uuid4()
    principal = decode_token(
        SECRET, mint_token(SECRET, subject="coordinator", role=Role.PARTNER, organization_id=org)
    )
    assert (principal.role, principal.organization_id) == (Role.PARTNER, org)


def test_a_partner_token_cannot_be_minted_without_an_organisation() -> None:
    with pytest.raises(ValueError, match="organisation"):
        mint_token(SECRET, subject="coordinator", role=Role.PARTNER)


@pytest.mark.parametrize(
    "bad",
    [
        token(exp=int(time.time()) - 1),
        token(aud="someone-else"),
        token(iss="someone-else"),
        token(role="admin"),
        token(role=None),
        token(role="partner"),
        token(role="partner", org=123),
        token(role="partner", org="not-a-uuid"),
        jwt.encode(
            {"sub": "x", "role": "operator"}, "another-key-that-is-long-enough-000", "HS256"
        ),
        "not.a.token",
    ],
    ids=[
        "expired",
        "audience",
        "issuer",
        "unknown-role",
        "no-role",
        "partner-without-org",
        "org-not-a-string",
        "org-not-a-uuid",
        "other-key",
        "garbage",
    ],
)
def test_a_bad_token_is_unauthorised_not_an_error(bad: str) -> None:
    with pytest.raises(Problem) as raised:
        decode_token(SECRET, bad)
    assert raised.value.status == 401
    assert raised.value.headers == {"WWW-Authenticate": "Bearer"}
