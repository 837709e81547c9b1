"""Bearer JWTs (HS256, key from `BROBYGGER_JWT_SECRET`) and role checks.

Roles: `care_system`, `partner` (bound to one organisation by the `org` claim),
`operator`, `reviewer`. No or bad token: 401; wrong role: 403; both as problem+json.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated
from uuid import UUID

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from runtime.problems import Problem

ISSUER = "brobygger"
AUDIENCE = "brobygger"
ALGORITHM = "HS256"


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


def mint_token(
    secret: str,
    *,
    subject: str,
    role: Role,
    organization_id: UUID | None = None,
    ttl_seconds: int = 3600,
) -> str:
    if role is Role.PARTNER and organization_id is None:
        raise ValueError("a partner token must name its organisation")
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject,
        "role": role.value,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if organization_id is not None:
        claims["org"] = str(organization_id)
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(secret: str, token: str) -> Principal:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "sub", "role"]},
        )
        role = Role(claims["role"])
        org = UUID(str(claims["org"])) if claims.get("org") else None
    except (jwt.PyJWTError, ValueError, KeyError, TypeError) as error:
        raise _unauthorized(f"The bearer token is not valid: {error}.") from error
    if role is Role.PARTNER and org is None:
        raise _unauthorized("A partner token must carry its organisation in the `org` claim.")
    return Principal(subject=str(claims["sub"]), role=role, organization_id=org)


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
        secret: str = request.app.state.jwt_secret
        principal = decode_token(secret, credentials.credentials)
        if principal.role not in roles:
            allowed = ", ".join(role.value for role in roles)
            raise Problem(403, f"Role `{principal.role}` may not do this; allowed: {allowed}.")
        return principal

    dependency.roles = roles  # type: ignore[attr-defined]  # read by runtime.openapi
    return dependency
