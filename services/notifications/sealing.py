"""Webhook signing secrets at rest: sealed with AES-256-GCM under a ring of keys.

Signing needs the secret itself, not a hash of it, so it is encrypted rather than hashed.
The sealed text names the key that sealed it, so that keys can be rotated: the first key of
the ring seals, every key opens. The endpoint's id is the associated data: a sealed secret
copied into another endpoint's row does not open there. Nothing here logs, and no error
text holds a key or a secret.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
"""AES-256."""
NONCE_BYTES = 12
KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class SealingError(ValueError):
    """A key ring setting that cannot be used, or a sealed secret that does not open here.
    Its text names a key id at most."""


class SecretBox:
    """Seals and opens endpoints' signing secrets with the configured keys."""

    def __init__(self, keys: dict[str, bytes]) -> None:
        if not keys:
            raise SealingError("at least one key is needed")
        if any(len(key) != KEY_BYTES for key in keys.values()):
            raise SealingError(f"every key is {KEY_BYTES} bytes")
        self._keys = dict(keys)
        self.sealing_key_id = next(iter(keys))
        """The first key's id: the key that seals."""

    @classmethod
    def parse(cls, text: str) -> SecretBox:
        """`<key-id>:<base64 of 32 bytes>[,<key-id>:<base64>...]`, the sealing key first."""
        keys: dict[str, bytes] = {}
        for position, entry in enumerate((e.strip() for e in text.split(",")), 1):
            key_id, colon, encoded = entry.partition(":")
            if not colon or not KEY_ID.match(key_id):
                raise SealingError(
                    f"entry {position} is not `<key-id>:<base64 key>` with a key id of "
                    "letters, digits, '.', '_' or '-'"
                )
            if key_id in keys:
                raise SealingError(f"the key id {key_id!r} is given twice")
            try:
                key = base64.b64decode(encoded, validate=True)
            except binascii.Error:
                key = b""
            if len(key) != KEY_BYTES:
                raise SealingError(f"the key {key_id!r} is not base64 of {KEY_BYTES} bytes")
            keys[key_id] = key
        return cls(keys)

    def seal(self, plain: str, endpoint_id: UUID) -> str:
        """`<key-id>:<base64 of nonce, ciphertext and tag>`."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        key = self._keys[self.sealing_key_id]
        sealed = nonce + AESGCM(key).encrypt(nonce, plain.encode(), _context(endpoint_id))
        return f"{self.sealing_key_id}:{base64.b64encode(sealed).decode()}"

    def open(self, sealed: str, endpoint_id: UUID) -> str:
        key_id, colon, encoded = sealed.partition(":")
        key = self._keys.get(key_id)
        if not colon or key is None:
            # Only a configured id is named: the text before a colon may be anything.
            raise SealingError("the secret was sealed under a key that is not configured")
        try:
            raw = base64.b64decode(encoded, validate=True)
            plain = AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _context(endpoint_id))
        except (binascii.Error, InvalidTag, ValueError) as error:
            raise SealingError(
                f"the secret does not open under key {key_id!r} for this endpoint"
            ) from error
        return plain.decode()


def _context(endpoint_id: UUID) -> bytes:
    return b"brobygger.webhook-secret:" + endpoint_id.bytes
