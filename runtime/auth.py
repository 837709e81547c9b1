"""Bearer JWTs and role checks.

Tokens are signed by an identity provider with EdDSA (Ed25519) and name their key in the
`kid` header. A service holds only the provider's public keys, from a JWKS document (RFC
7517) in a file or at a URL, so no service can mint a token. Locally, `./run` makes a key pair
and `brobygger token` signs with its private half (runtime/cli.py).

Roles: `care_system`, `partner` (bound to one organisation by the `org` claim),
`operator`, `reviewer`. No or bad token: 401; wrong role: 403; both as problem+json.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from runtime.logs import get_logger
from runtime.problems import Problem

ALGORITHM = "EdDSA"
DEFAULT_ISSUER = "brobygger"
DEFAULT_AUDIENCE = "brobygger"
DEFAULT_MAX_LIFETIME_SECONDS = 12 * 3600
LEEWAY_SECONDS = 30
"""Clock skew allowed between the identity provider and a service."""
JWKS_REFRESH_SECONDS = 60.0
"""A token naming an unknown key reads the JWKS again at most this often, so that a flood
of made-up `kid`s cannot turn a service into a load on the identity provider."""
JWKS_FETCH_TIMEOUT_SECONDS = 5.0

log = get_logger(component="auth")


class Role(StrEnum):
    CARE_SYSTEM = "care_system"
    PARTNER = "partner"
    OPERATOR = "operator"
    REVIEWER = "reviewer"


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    organization_id: UUID | None = None


class KeySetError(Exception):
    """A JWKS document that cannot be read or used; the message names its source."""


def parse_jwks(document: bytes, source: str) -> dict[str, Ed25519PublicKey]:
    """The Ed25519 signing keys of a JWKS document, by `kid`. Keys of other types are
    skipped (a provider may publish several); a private or secret key refuses the whole
    document, since a service must never hold one."""
    try:
        data = json.loads(document)
    except ValueError as error:
        raise KeySetError(f"{source} is not JSON ({error})") from error
    entries = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise KeySetError(f"{source} is not a JWKS document: it has no `keys` list")
    keys: dict[str, Ed25519PublicKey] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            raise KeySetError(f"{source}: every entry of `keys` must be a JSON object")
        if "d" in entry or "k" in entry:
            raise KeySetError(
                f"{source} holds a private or secret key; give a service only public keys"
            )
        if (
            entry.get("kty") != "OKP"
            or entry.get("crv") != "Ed25519"
            or entry.get("use", "sig") != "sig"
            or entry.get("alg", ALGORITHM) != ALGORITHM
        ):
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid:
            raise KeySetError(f"{source}: an Ed25519 key has no `kid`")
        try:
            key = jwt.PyJWK(entry, ALGORITHM).key
        except jwt.PyJWTError as error:
            raise KeySetError(f"{source}: key `{kid}` is not an Ed25519 public key") from error
        if not isinstance(key, Ed25519PublicKey):
            raise KeySetError(f"{source}: key `{kid}` is not an Ed25519 public key")
        keys[kid] = key
    if not keys:
        raise KeySetError(f"{source} holds no Ed25519 signing key (kty OKP, crv Ed25519)")
    return keys


class PublicKeys:
    """The identity provider's public keys by `kid`, read from a JWKS document and kept.
    A token naming a key not yet known reads the document again (at most once per
    `refresh_seconds`): that is how a rotated-in key reaches a running service."""

    def __init__(
        self,
        read: Callable[[], bytes],
        *,
        source: str,
        refresh_seconds: float = JWKS_REFRESH_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self._read = read
        self._refresh_seconds = refresh_seconds
        self._monotonic = monotonic
        self._keys: dict[str, Ed25519PublicKey] | None = None
        self._read_at: float | None = None
        self._lock = threading.Lock()  # requests check tokens on several threads

    @classmethod
    def from_file(cls, path: Path, **options: Any) -> PublicKeys:
        """Keys from a JWKS file, read now: a file that cannot be used stops the start."""

        def read() -> bytes:
            try:
                return path.read_bytes()
            except OSError as error:
                raise KeySetError(f"{source}: cannot read it ({error.strerror})") from error

        source = f"BROBYGGER_JWKS_FILE ({path})"
        keys = cls(read, source=source, **options)
        with keys._lock:
            keys._refresh()
        return keys

    @classmethod
    def from_url(
        cls, url: str, *, timeout: float = JWKS_FETCH_TIMEOUT_SECONDS, **options: Any
    ) -> PublicKeys:
        """Keys fetched from the identity provider when the first token arrives, so that
        a service starts while the provider is briefly away."""

        def read() -> bytes:
            try:
                response = httpx.get(url, timeout=timeout)
                response.raise_for_status()
            except httpx.HTTPError as error:
                raise KeySetError(f"{source}: {type(error).__name__}: {error}") from error
            return response.content

        source = f"BROBYGGER_JWKS_URL ({url})"
        return cls(read, source=source, **options)

    def get(self, kid: str) -> Ed25519PublicKey | None:
        """The key named `kid`, or None. Raises KeySetError while no document could be
        read at all."""
        known = self._keys  # replaced whole, never changed in place: safe to read unlocked
        if known is not None and kid in known:
            return known[kid]  # without waiting for a read another token set off
        with self._lock:
            if (self._keys is None or kid not in self._keys) and self._may_refresh():
                try:
                    self._refresh()
                except KeySetError as error:
                    log.warning("auth.jwks_unavailable", error=str(error))
            if self._keys is None:
                raise KeySetError(f"{self.source}: no keys could be read yet")
            return self._keys.get(kid)

    def _may_refresh(self) -> bool:
        return self._read_at is None or self._monotonic() - self._read_at >= self._refresh_seconds

    def _refresh(self) -> None:
        self._read_at = self._monotonic()
        self._keys = parse_jwks(self._read(), self.source)
        log.info("auth.jwks_read", source=self.source, kids=sorted(self._keys))


class TokenVerifier:
    """Turns a bearer token into a `Principal`, or refuses it with a 401 problem whose
    detail says why (never repeating the token)."""

    def __init__(
        self,
        keys: PublicKeys,
        *,
        issuer: str = DEFAULT_ISSUER,
        audience: str = DEFAULT_AUDIENCE,
        max_lifetime_seconds: int = DEFAULT_MAX_LIFETIME_SECONDS,
        leeway_seconds: int = LEEWAY_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.max_lifetime_seconds = max_lifetime_seconds
        self.leeway_seconds = leeway_seconds
        self._clock = clock

    def principal(self, token: str) -> Principal:
        key = self._key_named_by(token)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                # The times are checked below, against the injected clock.
                options={
                    "require": ["iss", "aud", "sub", "iat", "exp", "role"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidSignatureError as error:
            raise _unauthorized(
                "The bearer token's signature does not verify with the key it names."
            ) from error
        except jwt.MissingRequiredClaimError as error:
            raise _unauthorized(f"The bearer token has no `{error.claim}` claim.") from error
        except jwt.InvalidIssuerError as error:
            raise _unauthorized(
                f"The bearer token was not issued by `{self.issuer}` (claim `iss`)."
            ) from error
        except jwt.InvalidAudienceError as error:
            raise _unauthorized(
                f"The bearer token is not meant for `{self.audience}` (claim `aud`)."
            ) from error
        except jwt.PyJWTError as error:
            raise _unauthorized("The bearer token is not a well-formed JWT.") from error
        self._check_times(claims)
        return _principal_of(claims)

    def _key_named_by(self, token: str) -> Ed25519PublicKey:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise _unauthorized("The bearer token is not a well-formed JWT.") from error
        # Before any key is looked at: no HS256 made with a public key, no `none`.
        if header.get("alg") != ALGORITHM:
            raise _unauthorized(f"The bearer token must be signed with {ALGORITHM} (`alg`).")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _unauthorized("The bearer token does not name its signing key (`kid`).")
        try:
            key = self.keys.get(kid)
        except KeySetError as error:
            raise Problem(
                503,
                "The identity provider's public keys cannot be read just now, so no token "
                "can be checked; try again later.",
                headers={"Retry-After": str(int(JWKS_REFRESH_SECONDS))},
            ) from error
        if key is None:
            raise _unauthorized(
                "The bearer token names a signing key (`kid`) the identity provider does "
                "not publish."
            )
        return key

    def _check_times(self, claims: dict[str, Any]) -> None:
        times: dict[str, float] = {}
        for name in ("iat", "nbf", "exp"):
            value = claims.get(name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _unauthorized(f"The bearer token's `{name}` claim must be a number.")
            times[name] = value
        now, leeway = self._clock(), self.leeway_seconds
        if times["exp"] <= now - leeway:
            raise _unauthorized("The bearer token has expired (claim `exp`).")
        if times.get("nbf", now) > now + leeway:
            raise _unauthorized("The bearer token is not valid yet (claim `nbf`).")
        if times["iat"] > now + leeway:
            raise _unauthorized("The bearer token was issued in the future (claim `iat`).")
        if times["exp"] - times["iat"] > self.max_lifetime_seconds:
            raise _unauthorized(
                "The bearer token lives longer than the "
                f"{self.max_lifetime_seconds} seconds allowed (`exp` - `iat`)."
            )


def _principal_of(claims: dict[str, Any]) -> Principal:
    try:
        role = Role(claims["role"])
    except (ValueError, TypeError) as error:
        allowed = ", ".join(role.value for role in Role)
        raise _unauthorized(f"The bearer token's `role` is not one of {allowed}.") from error
    org = claims.get("org")
    try:
        organization_id = None if org is None else UUID(org)
    except (ValueError, TypeError, AttributeError) as error:  # AttributeError: not a string
        raise _unauthorized("The bearer token's `org` claim is not a UUID.") from error
    if role is Role.PARTNER and organization_id is None:
        raise _unauthorized("A partner token must carry its organisation in the `org` claim.")
    return Principal(subject=str(claims["sub"]), role=role, organization_id=organization_id)


def _unauthorized(detail: str) -> Problem:
    return Problem(401, detail, headers={"WWW-Authenticate": "Bearer"})


_bearer = HTTPBearer(auto_error=False)


def require(*roles: Role) -> Callable[..., Principal]:
    """A FastAPI dependency admitting a valid token of one of `roles`."""

    def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None:
            raise _unauthorized(
                "This endpoint needs a bearer token: `Authorization: Bearer <jwt>`."
            )
        verifier: TokenVerifier = request.app.state.token_verifier
        principal = verifier.principal(credentials.credentials)
        if principal.role not in roles:
            allowed = ", ".join(role.value for role in roles)
            raise Problem(403, f"Role `{principal.role}` may not do this; allowed: {allowed}.")
        return principal

    dependency.roles = roles  # type: ignore[attr-defined]  # read by runtime.openapi
    return dependency
