"""`Idempotency-Key` for creating requests: a retry gets the first result back, and the
same key with a different body is refused. Keys live in the service's own database, in
the same transaction as what they created."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy.exc import IntegrityError

T = TypeVar("T")


class IdempotencyConflict(Exception):
    """The key was used before for a different request."""


class KeyStore(Protocol):
    def find_idempotency_key(self, principal: str, key: str) -> tuple[str, str] | None: ...

    def record_idempotency_key(
        self, principal: str, key: str, fingerprint: str, resource_id: str
    ) -> None: ...

    def commit(self) -> None: ...


U = TypeVar("U", bound=KeyStore)


@dataclass(frozen=True)
class IdempotentRequest:
    principal: str
    key: str
    fingerprint: str

    @classmethod
    def of(
        cls, principal: str, key: str | None, command: Any, secret: bytes = b""
    ) -> IdempotentRequest | None:
        """None without a key; otherwise keyed by a MAC of the command's other fields.

        Pass a `secret` when the command holds personal data: a plain hash of it could be
        brute-forced back (a personal number has only about 370 million candidates).
        """
        if key is None:
            return None
        body = {name: value for name, value in asdict(command).items() if name != "idempotency_key"}
        canonical = json.dumps(body, sort_keys=True, default=str).encode()
        return cls(principal, key, hmac.new(secret, canonical, hashlib.sha256).hexdigest())


def create_once(
    start_uow: Callable[[], AbstractContextManager[U]],
    request: IdempotentRequest | None,
    *,
    create: Callable[[U], tuple[T, str]],
    load: Callable[[U, str], T],
) -> tuple[T, bool]:
    """Run `create` (which writes and queues events, returning the result and its id) and
    commit it with the key; or return what the key created before. Returns (result, created).
    """
    with start_uow() as uow:
        if request is not None:
            earlier = _earlier(uow, request, load)
            if earlier is not None:
                return earlier, False
        try:
            # Inside the try: any flush (e.g. writing the outbox row) may already hit the
            # unique key of a concurrent retry.
            result, resource_id = create(uow)
            if request is not None:
                uow.record_idempotency_key(
                    request.principal, request.key, request.fingerprint, resource_id
                )
            uow.commit()
            return result, True
        except IntegrityError as error:
            if request is None:
                raise
            collision = error
    with start_uow() as fresh:  # a concurrent retry with the same key won the race...
        earlier = _earlier(fresh, request, load)
    if earlier is None:
        raise collision  # ...or not: the conflict was over something else
    return earlier, False


def _earlier(uow: U, request: IdempotentRequest, load: Callable[[U, str], T]) -> T | None:
    found = uow.find_idempotency_key(request.principal, request.key)
    if found is None:
        return None
    fingerprint, resource_id = found
    if fingerprint != request.fingerprint:
        raise IdempotencyConflict(
            "this Idempotency-Key was already used for a different request; "
            "use a new key for a new request"
        )
    return load(uow, resource_id)
