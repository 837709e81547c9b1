"""Bearer tokens: who may call, and what a bad token gets.

The refusals go through a real endpoint guarded by `require`, next to the same endpoint
admitting a good token, so that a 401 means the token was judged, not that nothing could
pass. Each bad token differs from a good one in one respect only.
"""

import base64
import hmac
import json
import time
from collections.abc import Callable
from typing import Annotated, Any
from uuid import uuid4

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from runtime.auth import AUDIENCE, ISSUER, Principal, Role, decode_token, mint_token, require
from runtime.problems import install_problem_handlers

SECRET = "a-test-signing-key-long-enough-for-hs512-too-0123456789abcdefghijkl"
OTHER_SECRET = "another-signing-key-that-is-long-enough-98765"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_PUBLIC_PEM = RSA_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)


def claims(**changes: Any) -> dict[str, Any]:
    """A good operator's claims, valid for an hour from now; None drops a claim."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "someone",
        "role": "operator",
        "iat": now,
        "exp": now + 3600,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def token(**changes: Any) -> str:
    """Good claims, except for `changes`, signed as the service signs (HS256, its secret)."""
    return jwt.encode(claims(**changes), SECRET, "HS256")


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def assembled(header: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    """Good claims under any header, signed by `sign` over `header.payload`: a token no
    library would make, as an attacker makes it."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims()).encode())}"
    return f"{signing_input}.{b64url(sign(signing_input.encode()))}"


def hmac_with(key: bytes, digest: str = "sha256") -> Callable[[bytes], bytes]:
    return lambda signing_input: hmac.new(key, signing_input, digest).digest()


def unsigned(_: bytes) -> bytes:
    return b""


HS256_WITH_THE_SECRET = hmac_with(SECRET.encode())


@pytest.fixture(scope="module")
def api() -> TestClient:
    """An endpoint any role may call: only the token itself can get a 401."""
    app = FastAPI()
    app.state.jwt_secret = SECRET
    install_problem_handlers(app)

    @app.get("/whoami")
    def whoami(principal: Annotated[Principal, Depends(require(*Role))]) -> dict[str, str]:
        return {"subject": principal.subject, "role": principal.role.value}

    return TestClient(app)


def call(api: TestClient, bearer: str) -> Any:
    return api.get("/whoami", headers={"Authorization": f"Bearer {bearer}"})


GOOD_TOKENS: dict[str, Callable[[], str]] = {
    "minted": lambda: mint_token(SECRET, subject="someone", role=Role.OPERATOR),
    "encoded": token,
    "assembled": lambda: assembled({"alg": "HS256", "typ": "JWT"}, HS256_WITH_THE_SECRET),
}


@pytest.mark.parametrize("make", GOOD_TOKENS.values(), ids=GOOD_TOKENS.keys())
def test_a_good_token_is_admitted(api: TestClient, make: Callable[[], str]) -> None:
    response = call(api, make())
    assert response.status_code == 200, response.text
    assert response.json() == {"subject": "someone", "role": "operator"}


BAD_TOKENS: dict[str, Callable[[], str]] = {
    "expired": lambda: token(exp=int(time.time()) - 1),
    "no-expiry": lambda: token(exp=None),
    "audience": lambda: token(aud="someone-else"),
    "issuer": lambda: token(iss="someone-else"),
    "unknown-role": lambda: token(role="admin"),
    "no-role": lambda: token(role=None),
    "partner-without-org": lambda: token(role="partner"),
    "org-not-a-string": lambda: token(role="partner", org=123),
    "org-not-a-uuid": lambda: token(role="partner", org="not-a-uuid"),
    "garbage": lambda: "not.a.token",
    "alg-none": lambda: assembled({"alg": "none", "typ": "JWT"}, unsigned),
    "alg-None": lambda: assembled({"alg": "None", "typ": "JWT"}, unsigned),
    "alg-none-with-a-good-signature": lambda: assembled({"alg": "none"}, HS256_WITH_THE_SECRET),
    "no-alg": lambda: assembled({"typ": "JWT"}, HS256_WITH_THE_SECRET),
    "header-says-HS512": lambda: assembled({"alg": "HS512"}, HS256_WITH_THE_SECRET),
    "header-says-RS256": lambda: assembled({"alg": "RS256"}, HS256_WITH_THE_SECRET),
    "header-says-ES256": lambda: assembled({"alg": "ES256"}, HS256_WITH_THE_SECRET),
    "secret-but-HS512": lambda: jwt.encode(claims(), SECRET, "HS512"),
    "secret-but-HS384": lambda: jwt.encode(claims(), SECRET, "HS384"),
    "RS256": lambda: jwt.encode(claims(), RSA_KEY, "RS256"),
    "ES256": lambda: jwt.encode(claims(), EC_KEY, "ES256"),
    "public-key-as-hmac-secret": lambda: assembled({"alg": "HS256"}, hmac_with(RSA_PUBLIC_PEM)),
    "rs256-header-public-key-as-hmac-secret": lambda: assembled(
        {"alg": "RS256"}, hmac_with(RSA_PUBLIC_PEM)
    ),
}


@pytest.mark.parametrize("make", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_a_bad_token_is_refused_with_401_problem_json(
    api: TestClient, make: Callable[[], str]
) -> None:
    response = call(api, make())
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    problem = response.json()
    assert (problem["status"], problem["instance"]) == (401, "/whoami")
    assert problem["detail"]


def test_a_token_differing_from_a_good_one_only_in_its_signature_is_refused(
    api: TestClient,
) -> None:
    same = claims()
    good, forged = jwt.encode(same, SECRET, "HS256"), jwt.encode(same, OTHER_SECRET, "HS256")
    assert good.rsplit(".", 1)[0] == forged.rsplit(".", 1)[0]  # the same header and claims
    assert call(api, good).status_code == 200
    assert call(api, forged).status_code == 401


def test_a_minted_partner_token_names_its_organisation() -> None:
    org = uuid4()
    principal = decode_token(
        SECRET, mint_token(SECRET, subject="coordinator", role=Role.PARTNER, organization_id=org)
    )
    assert (principal.role, principal.organization_id) == (Role.PARTNER, org)


def test_a_partner_token_cannot_be_minted_without_an_organisation() -> None:
    with pytest.raises(ValueError, match="organisation"):
        mint_token(SECRET, subject="coordinator", role=Role.PARTNER)
