"""Bearer tokens: who may call, and what a bad token gets.

The refusals go through a real endpoint guarded by `require`, next to the same endpoint
admitting a good token, so that a 401 means the token was judged, not that nothing could
pass. Each bad token differs from a good one in one respect only. The services hold public
keys only (a JWKS document); the private keys here stand in for an identity provider.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Annotated, Any
from uuid import uuid4

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from runtime.auth import (
    DEFAULT_AUDIENCE,
    DEFAULT_ISSUER,
    DEFAULT_MAX_LIFETIME_SECONDS,
    LEEWAY_SECONDS,
    KeySetError,
    Principal,
    PublicKeys,
    Role,
    TokenVerifier,
    require,
)
from runtime.cli import SigningKey, create_signing_key, main, mint_token, public_jwk
from runtime.config import ServiceSettings
from runtime.problems import Problem, install_problem_handlers
from tests.conftest import TEST_SECRETS
from tools import SERVICES

KEY = SigningKey(Ed25519PrivateKey.generate())
OTHER_KEY = SigningKey(Ed25519PrivateKey.generate())  # a key the services never published
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
NOW = 1_900_000_000.0
"""The services' clock in these tests: tokens are judged at this moment."""


def jwks(*keys: SigningKey) -> bytes:
    return json.dumps({"keys": [public_jwk(k.private_key.public_key()) for k in keys]}).encode()


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


PUBLIC_KEY = KEY.private_key.public_key()
PUBLIC_PEM = PUBLIC_KEY.public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)
PUBLIC_RAW = PUBLIC_KEY.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def claims(**changes: Any) -> dict[str, Any]:
    """A good operator's claims, issued at NOW for an hour; None drops a claim."""
    base: dict[str, Any] = {
        "iss": DEFAULT_ISSUER,
        "aud": DEFAULT_AUDIENCE,
        "sub": "someone",
        "role": "operator",
        "iat": int(NOW),
        "nbf": int(NOW),
        "exp": int(NOW) + 3600,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def token(key: SigningKey = KEY, kid: str | None = None, **changes: Any) -> str:
    """Good claims, except for `changes`, signed as the identity provider signs (EdDSA,
    naming its key)."""
    headers = {"kid": kid or key.kid}
    return jwt.encode(claims(**changes), key.private_key, algorithm="EdDSA", headers=headers)


def assembled(header: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    """Good claims under any header, signed by `sign` over `header.payload`: a token no
    library would make, as an attacker makes it."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims()).encode())}"
    return f"{signing_input}.{b64url(sign(signing_input.encode()))}"


def hmac_with(secret: bytes, digest: str = "sha256") -> Callable[[bytes], bytes]:
    return lambda signing_input: hmac.new(secret, signing_input, digest).digest()


def unsigned(_: bytes) -> bytes:
    return b""


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def verifier_over(document: bytes, **options: Any) -> TokenVerifier:
    """A verifier holding the keys of `document`, judging at NOW unless told."""
    options.setdefault("clock", lambda: NOW)
    return TokenVerifier(PublicKeys(lambda: document, source="the test JWKS"), **options)


def app_with(verifier: TokenVerifier) -> TestClient:
    """An endpoint any role may call: only the token itself can get a 401."""
    app = FastAPI()
    app.state.token_verifier = verifier
    install_problem_handlers(app)

    @app.get("/whoami")
    def whoami(principal: Annotated[Principal, Depends(require(*Role))]) -> dict[str, str]:
        return {"subject": principal.subject, "role": principal.role.value}

    return TestClient(app)


@pytest.fixture(scope="module")
def api() -> TestClient:
    return app_with(verifier_over(jwks(KEY)))


def call(api: TestClient, bearer: str) -> Any:
    return api.get("/whoami", headers={"Authorization": f"Bearer {bearer}"})


def assert_refused(response: Any, bearer: str, because: str) -> None:
    """401 problem+json whose detail says `because`, without repeating the token."""
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    problem = response.json()
    assert (problem["status"], problem["instance"]) == (401, "/whoami")
    assert because in problem["detail"], problem["detail"]
    for part in [bearer, *bearer.split(".")]:
        assert len(part) < 8 or part not in response.text


GOOD_TOKENS: dict[str, Callable[[], str]] = {
    "minted-by-the-cli": lambda: mint_token(
        KEY, subject="someone", role=Role.OPERATOR, clock=lambda: NOW
    ),
    "encoded": token,
    "assembled": lambda: assembled({"alg": "EdDSA", "kid": KEY.kid}, KEY.private_key.sign),
    "no-nbf": lambda: token(nbf=None),
    "expired-within-the-leeway": lambda: token(iat=int(NOW) - 3600, exp=int(NOW) - 10),
    "issued-within-the-leeway-ahead": lambda: token(iat=int(NOW) + 10, nbf=int(NOW) + 10),
    "audience-among-several": lambda: token(aud=["someone-else", DEFAULT_AUDIENCE]),
    "lifetime-at-the-maximum": lambda: token(exp=int(NOW) + DEFAULT_MAX_LIFETIME_SECONDS),
}


@pytest.mark.parametrize("make", GOOD_TOKENS.values(), ids=GOOD_TOKENS.keys())
def test_a_good_token_is_admitted(api: TestClient, make: Callable[[], str]) -> None:
    response = call(api, make())
    assert response.status_code == 200, response.text
    assert response.json() == {"subject": "someone", "role": "operator"}


ANOTHER_KEYS_SIGNATURE = "signature does not verify"
NOT_EDDSA = "must be signed with EdDSA"
BAD_TOKENS: dict[str, tuple[Callable[[], str], str]] = {
    # Signed by a key the identity provider did not publish.
    "another-key-under-our-kid": (lambda: token(OTHER_KEY, kid=KEY.kid), ANOTHER_KEYS_SIGNATURE),
    "another-key-under-its-own-kid": (lambda: token(OTHER_KEY), "does not publish"),
    "unknown-kid": (lambda: token(kid="rotated-out-long-ago"), "does not publish"),
    "no-kid": (lambda: assembled({"alg": "EdDSA"}, KEY.private_key.sign), "(`kid`)"),
    "kid-not-a-string": (
        lambda: assembled({"alg": "EdDSA", "kid": 7}, KEY.private_key.sign),
        "well-formed",
    ),
    # Time.
    "expired": (lambda: token(iat=int(NOW) - 7200, exp=int(NOW) - LEEWAY_SECONDS), "expired"),
    "not-yet-valid": (lambda: token(nbf=int(NOW) + LEEWAY_SECONDS + 1), "`nbf`"),
    "issued-in-the-future": (lambda: token(iat=int(NOW) + LEEWAY_SECONDS + 1), "`iat`"),
    "lifetime-above-the-maximum": (
        lambda: token(exp=int(NOW) + DEFAULT_MAX_LIFETIME_SECONDS + 1),
        f"{DEFAULT_MAX_LIFETIME_SECONDS} seconds",
    ),
    "no-expiry": (lambda: token(exp=None), "`exp`"),
    "no-issued-at": (lambda: token(iat=None), "`iat`"),
    "expiry-not-a-number": (lambda: token(exp="tomorrow"), "`exp` claim must be a number"),
    "expiry-a-boolean": (lambda: token(exp=True), "`exp` claim must be a number"),
    # Whom it is for, who it is.
    "issuer": (lambda: token(iss="someone-else"), "(claim `iss`)"),
    "no-issuer": (lambda: token(iss=None), "`iss`"),
    "audience": (lambda: token(aud="someone-else"), "(claim `aud`)"),
    "no-audience": (lambda: token(aud=None), "`aud`"),
    "unknown-role": (lambda: token(role="admin"), "`role`"),
    "no-role": (lambda: token(role=None), "`role`"),
    "partner-without-org": (lambda: token(role="partner"), "`org`"),
    "org-not-a-string": (lambda: token(role="partner", org=123), "`org`"),
    "org-not-a-uuid": (lambda: token(role="partner", org="not-a-uuid"), "`org`"),
    "garbage": (lambda: "not.a.token", "well-formed"),
    # Algorithms: no `none`, no HMAC keyed with what is public, no other key types.
    "alg-none": (lambda: assembled({"alg": "none", "kid": KEY.kid}, unsigned), NOT_EDDSA),
    "alg-None": (lambda: assembled({"alg": "None", "kid": KEY.kid}, unsigned), NOT_EDDSA),
    "no-alg": (lambda: assembled({"kid": KEY.kid}, KEY.private_key.sign), NOT_EDDSA),
    "HS256-keyed-with-the-public-key-pem": (
        lambda: assembled({"alg": "HS256", "kid": KEY.kid}, hmac_with(PUBLIC_PEM)),
        NOT_EDDSA,
    ),
    "HS256-keyed-with-the-raw-public-key": (
        lambda: assembled({"alg": "HS256", "kid": KEY.kid}, hmac_with(PUBLIC_RAW)),
        NOT_EDDSA,
    ),
    "HS256-keyed-with-the-jwks": (
        lambda: assembled({"alg": "HS256", "kid": KEY.kid}, hmac_with(jwks(KEY))),
        NOT_EDDSA,
    ),
    "EdDSA-header-over-an-HMAC-of-the-public-key": (
        lambda: assembled({"alg": "EdDSA", "kid": KEY.kid}, hmac_with(PUBLIC_PEM, "sha512")),
        ANOTHER_KEYS_SIGNATURE,
    ),
    "RS256": (
        lambda: jwt.encode(claims(), RSA_KEY, "RS256", headers={"kid": KEY.kid}),
        NOT_EDDSA,
    ),
    "ES256": (
        lambda: jwt.encode(claims(), EC_KEY, "ES256", headers={"kid": KEY.kid}),
        NOT_EDDSA,
    ),
}


@pytest.mark.parametrize(("make", "because"), BAD_TOKENS.values(), ids=list(BAD_TOKENS.keys()))
def test_a_bad_token_is_refused_with_401_problem_json_saying_why(
    api: TestClient, make: Callable[[], str], because: str
) -> None:
    bearer = make()
    assert_refused(call(api, bearer), bearer, because)


def test_a_token_signed_by_another_key_but_otherwise_valid_is_refused(api: TestClient) -> None:
    same = claims()
    good = jwt.encode(same, KEY.private_key, "EdDSA", headers={"kid": KEY.kid})
    forged = jwt.encode(same, OTHER_KEY.private_key, "EdDSA", headers={"kid": KEY.kid})
    assert good.rsplit(".", 1)[0] == forged.rsplit(".", 1)[0]  # the same header and claims
    assert same["exp"] > NOW  # not expired
    assert call(api, good).status_code == 200
    assert_refused(call(api, forged), forged, ANOTHER_KEYS_SIGNATURE)


def test_a_token_is_admitted_until_its_expiry_and_the_leeway_have_passed() -> None:
    clock = {"now": NOW}
    verifier = verifier_over(jwks(KEY), clock=lambda: clock["now"])
    bearer = token()  # expires at NOW + 3600
    clock["now"] = NOW + 3600 + LEEWAY_SECONDS - 1
    assert verifier.principal(bearer).subject == "someone"
    clock["now"] = NOW + 3600 + LEEWAY_SECONDS
    with pytest.raises(Problem, match="expired") as refused:
        verifier.principal(bearer)
    assert refused.value.status == 401


def test_the_issuer_audience_and_longest_lifetime_are_configurable() -> None:
    verifier = verifier_over(
        jwks(KEY), issuer="https://idp.example", audience="brobygger-prod", max_lifetime_seconds=600
    )
    mine = {"iss": "https://idp.example", "aud": "brobygger-prod"}
    assert verifier.principal(token(**mine, exp=int(NOW) + 600)).subject == "someone"
    for bearer, because in [
        (token(**mine, exp=int(NOW) + 601), "600 seconds"),
        (token(exp=int(NOW) + 600, aud="brobygger-prod"), "`https://idp.example`"),
        (token(exp=int(NOW) + 600, iss="https://idp.example"), "`brobygger-prod`"),
    ]:
        with pytest.raises(Problem, match=because):
            verifier.principal(bearer)


def test_a_partner_token_names_its_organisation() -> None:
    org = uuid4()
    bearer = mint_token(
        KEY, subject="coordinator", role=Role.PARTNER, organization_id=org, clock=lambda: NOW
    )
    principal = verifier_over(jwks(KEY)).principal(bearer)
    assert (principal.role, principal.organization_id) == (Role.PARTNER, org)


def test_a_partner_token_cannot_be_minted_without_an_organisation() -> None:
    with pytest.raises(ValueError, match="organisation"):
        mint_token(KEY, subject="coordinator", role=Role.PARTNER)


# The JWKS document.


def public_part(key: SigningKey) -> dict[str, str]:
    return public_jwk(key.private_key.public_key())


def test_keys_of_other_types_in_the_jwks_are_skipped_and_ed25519_ones_used() -> None:
    rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(RSA_KEY.public_key()))
    document = json.dumps({"keys": [{**rsa_jwk, "kid": "rsa-1"}, public_part(KEY)]}).encode()
    verifier = verifier_over(document)
    assert verifier.principal(token()).subject == "someone"
    bearer = jwt.encode(claims(), RSA_KEY, "RS256", headers={"kid": "rsa-1"})
    with pytest.raises(Problem, match="EdDSA"):
        verifier.principal(bearer)


@pytest.mark.parametrize(
    ("document", "because"),
    [
        (b"{not json", "not JSON"),
        (b'{"kid": "x"}', "no `keys` list"),
        (b'{"keys": ["x"]}', "JSON object"),
        (json.dumps({"keys": []}).encode(), "no Ed25519 signing key"),
        (
            json.dumps({"keys": [{k: v for k, v in public_part(KEY).items() if k != "kid"}]}),
            "no `kid`",
        ),
        (json.dumps({"keys": [{**public_part(KEY), "x": "dG9vIHNob3J0"}]}), "not an Ed25519"),
        (
            json.dumps({"keys": [json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(KEY.private_key))]}),
            "private or secret key",
        ),
        (json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "s"}]}), "private or secret"),
    ],
    ids=[
        "not-json",
        "no-keys",
        "entry-not-an-object",
        "empty",
        "no-kid",
        "bad-x",
        "private",
        "secret",
    ],
)
def test_a_jwks_file_that_cannot_be_used_stops_the_start_saying_why(
    tmp_path: Path, document: bytes | str, because: str
) -> None:
    path = tmp_path / "jwks.json"
    path.write_bytes(document if isinstance(document, bytes) else document.encode())
    with pytest.raises(KeySetError, match="BROBYGGER_JWKS_FILE") as refused:
        PublicKeys.from_file(path)
    assert because in str(refused.value)


def settings(**environment: str) -> ServiceSettings:
    return ServiceSettings.model_validate(
        {"service_name": "probe", "http_port": 0, "kafka_password": "unused", **environment}
    )


def test_a_missing_jwks_file_stops_the_start_naming_the_setting(tmp_path: Path) -> None:
    configured = settings(BROBYGGER_JWKS_FILE=str(tmp_path / "nowhere.json"))
    with pytest.raises(KeySetError, match=r"BROBYGGER_JWKS_FILE .*nowhere.json.*cannot read"):
        configured.token_verifier()


def test_without_public_keys_the_settings_say_which_to_set_and_how_to_make_keys() -> None:
    with pytest.raises(ValidationError) as refused:
        settings()
    message = str(refused.value)
    assert "BROBYGGER_JWKS_FILE" in message
    assert "BROBYGGER_JWKS_URL" in message
    assert "./run" in message


@pytest.mark.parametrize(
    ("environment", "because"),
    [
        ({"BROBYGGER_JWKS_FILE": "a.json", "BROBYGGER_JWKS_URL": "https://x/"}, "not both"),
        ({"BROBYGGER_JWKS_URL": "file:///etc/keys.json"}, "https://"),
        (
            {"BROBYGGER_JWKS_FILE": "a.json", "BROBYGGER_TOKEN_MAX_LIFETIME_SECONDS": "0"},
            "MAX_LIFETIME",
        ),
        ({"BROBYGGER_JWKS_FILE": "a.json", "BROBYGGER_TOKEN_ISSUER": ""}, "TOKEN_ISSUER"),
    ],
    ids=["file-and-url", "url-not-http", "no-lifetime", "empty-issuer"],
)
def test_token_settings_that_cannot_work_are_refused(
    environment: dict[str, str], because: str
) -> None:
    with pytest.raises(ValidationError, match=because):
        settings(**environment)


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_started_without_public_keys_exits_saying_which_setting_is_missing(
    service: str, tmp_path: Path
) -> None:
    environment = {**os.environ, **TEST_SECRETS}
    for name in ("BROBYGGER_JWKS_FILE", "BROBYGGER_JWKS_URL"):
        environment.pop(name, None)
    environment[f"{service.upper()}_DATABASE_URL"] = f"sqlite:///{tmp_path}/{service}.db"
    environment[f"{service.upper()}_HTTP_PORT"] = str(free_port())
    environment["KAFKA_BOOTSTRAP_SERVERS"] = "127.0.0.1:1"
    exited = subprocess.run(
        [sys.executable, "-m", service],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert exited.returncode != 0
    assert "BROBYGGER_JWKS_FILE" in exited.stderr
    assert "BROBYGGER_JWKS_URL" in exited.stderr
    assert "./run makes a key pair" in exited.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# Keys from the identity provider's URL.


class JwksServer:
    """A tiny identity provider: serves `document` at /jwks with `status`, counting reads."""

    def __init__(self) -> None:
        self.document = jwks(KEY)
        self.status = 200
        self.reads = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.reads += 1
                body = outer.document if outer.status == 200 else b"{}"
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:  # keep the test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/jwks"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def provider() -> Iterator[JwksServer]:
    server = JwksServer()
    yield server
    server.stop()


def test_a_service_configured_with_a_jwks_url_checks_tokens_against_the_keys_there(
    provider: JwksServer,
) -> None:
    api = app_with(settings(BROBYGGER_JWKS_URL=provider.url).token_verifier())
    assert provider.reads == 0, "read when the first token arrives, not before"
    bearer = mint_token(KEY, subject="someone", role=Role.OPERATOR)
    assert call(api, bearer).status_code == 200
    forged = mint_token(OTHER_KEY, subject="someone", role=Role.OPERATOR)
    assert_refused(call(api, forged), forged, "does not publish")
    assert provider.reads == 1


def test_a_key_rotated_in_after_the_start_is_fetched_at_most_once_a_minute(
    provider: JwksServer,
) -> None:
    monotonic = FakeMonotonic()
    verifier = TokenVerifier(
        PublicKeys.from_url(provider.url, monotonic=monotonic), clock=lambda: NOW
    )
    assert verifier.principal(token()).subject == "someone"
    assert provider.reads == 1

    provider.document = jwks(KEY, OTHER_KEY)  # the provider publishes a new key
    rotated_in = token(OTHER_KEY)
    monotonic.now += 59
    for _ in range(20):  # unknown kids, as fast as anyone sends them: no read yet
        with pytest.raises(Problem, match="does not publish"):
            verifier.principal(rotated_in)
    assert provider.reads == 1

    monotonic.now += 1
    assert verifier.principal(rotated_in).subject == "someone"
    assert verifier.principal(token()).subject == "someone"  # the old key still served
    assert provider.reads == 2

    provider.document = jwks(OTHER_KEY)  # and retires the old one
    monotonic.now += 60
    with pytest.raises(Problem, match="does not publish"):
        verifier.principal(token(kid="made-up"))
    assert provider.reads == 3
    with pytest.raises(Problem, match="does not publish"):
        verifier.principal(token())


def test_a_slow_read_set_off_by_an_unknown_kid_does_not_hold_up_tokens_of_known_keys() -> None:
    monotonic = FakeMonotonic()
    reading, release = threading.Event(), threading.Event()
    reads = 0

    def read() -> bytes:
        nonlocal reads
        reads += 1
        if reads > 1:  # the read after the first hangs, as a struggling provider does
            reading.set()
            release.wait(timeout=30)
        return jwks(KEY)

    keys = PublicKeys(read, source="a slow provider", monotonic=monotonic)
    verifier = TokenVerifier(keys, clock=lambda: NOW)
    verifier.principal(token())
    monotonic.now += 60
    unknown = threading.Thread(target=keys.get, args=("made-up",))
    unknown.start()
    assert reading.wait(timeout=30)
    answered_during_the_read: list[bool] = []

    def check_a_known_key() -> None:
        verifier.principal(token())
        answered_during_the_read.append(not release.is_set())

    known = threading.Thread(target=check_a_known_key)
    known.start()
    known.join(timeout=10)
    release.set()
    unknown.join()
    known.join()
    assert answered_during_the_read == [True]


def test_while_the_provider_cannot_be_read_tokens_get_503_not_401(provider: JwksServer) -> None:
    monotonic = FakeMonotonic()
    api = app_with(
        TokenVerifier(PublicKeys.from_url(provider.url, monotonic=monotonic), clock=lambda: NOW)
    )
    provider.status = 500
    response = call(api, token())
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "60"
    assert "identity provider" in response.json()["detail"]

    provider.status = 200
    assert call(api, token()).status_code == 503, "not read again within the minute"
    monotonic.now += 60
    assert call(api, token()).status_code == 200
    assert provider.reads == 2


def test_a_provider_that_does_not_answer_in_time_gets_503() -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/jwks"
        api = app_with(TokenVerifier(PublicKeys.from_url(url, timeout=0.5), clock=lambda: NOW))
        started = time.monotonic()
        assert call(api, token()).status_code == 503
    assert time.monotonic() - started < 5


# The command line: the only place a token is signed.


@pytest.fixture
def signing_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A key pair as ./run makes it, in a directory with no .cache/local.env."""
    monkeypatch.chdir(tmp_path)
    key_file, jwks_file = create_signing_key(tmp_path / "keys")
    monkeypatch.setenv("BROBYGGER_TOKEN_SIGNING_KEY_FILE", str(key_file))
    for name in ("BROBYGGER_TOKEN_ISSUER", "BROBYGGER_TOKEN_AUDIENCE"):
        monkeypatch.delenv(name, raising=False)
    return key_file, jwks_file


def test_the_key_pair_keeps_the_private_key_private_and_publishes_only_the_public_one(
    signing_env: tuple[Path, Path],
) -> None:
    key_file, jwks_file = signing_env
    assert key_file.stat().st_mode & 0o777 == 0o600
    [published] = json.loads(jwks_file.read_text())["keys"]
    assert "d" not in published
    assert published["kid"] == SigningKey.from_file(key_file).kid
    PublicKeys.from_file(jwks_file)  # what a service reads


def test_brobygger_token_signs_a_token_the_services_accept(
    signing_env: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, jwks_file = signing_env
    org = uuid4()
    main(["token", "partner", "--org", str(org), "--subject", "coordinator"])
    bearer = capsys.readouterr().out.strip()
    principal = TokenVerifier(PublicKeys.from_file(jwks_file)).principal(bearer)
    assert principal == Principal("coordinator", Role.PARTNER, org)
    header = jwt.get_unverified_header(bearer)
    assert header["alg"] == "EdDSA"
    assert header["kid"] == json.loads(jwks_file.read_text())["keys"][0]["kid"]


def test_brobygger_token_uses_the_configured_issuer_and_audience(
    signing_env: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, jwks_file = signing_env
    monkeypatch.setenv("BROBYGGER_TOKEN_ISSUER", "https://idp.example")
    monkeypatch.setenv("BROBYGGER_TOKEN_AUDIENCE", "brobygger-prod")
    main(["token", "operator"])
    bearer = capsys.readouterr().out.strip()
    keys = PublicKeys.from_file(jwks_file)
    verifier = TokenVerifier(keys, issuer="https://idp.example", audience="brobygger-prod")
    assert verifier.principal(bearer).role is Role.OPERATOR


def test_brobygger_token_will_not_sign_longer_than_services_accept(
    signing_env: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["token", "operator", "--ttl", str(DEFAULT_MAX_LIFETIME_SECONDS + 1)])
    assert f"--ttl must be 1 to {DEFAULT_MAX_LIFETIME_SECONDS}" in capsys.readouterr().err


def test_brobygger_token_refuses_a_key_file_others_may_read(
    signing_env: tuple[Path, Path],
) -> None:
    key_file, _ = signing_env
    key_file.chmod(0o644)
    with pytest.raises(SystemExit) as refused:
        main(["token", "operator"])
    assert "chmod 600" in str(refused.value.code)


def test_brobygger_token_without_a_key_says_how_to_get_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BROBYGGER_TOKEN_SIGNING_KEY_FILE", raising=False)
    with pytest.raises(SystemExit) as refused:
        main(["token", "operator"])
    message = str(refused.value.code)
    assert "BROBYGGER_TOKEN_SIGNING_KEY_FILE" in message
    assert "./run" in message
