"""The citizen's identity, kept so that it can be destroyed: each citizen's own data key
encrypts the identity and the notes about them, and the data keys live wrapped under master
keys in a key store apart from the referrals database. A blind index finds a citizen again;
events carry only a random reference per referral.

Pure computation apart from the `DataKeyStore` a `Vault` is given: nothing here logs, and
no error message holds a key or a value."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import asdict, dataclass, field
from typing import Protocol
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
"""AES-256: data keys and master keys alike."""
NONCE_BYTES = 12


@dataclass(frozen=True)
class CitizenIdentity:
    personal_number: str
    name: str
    address: str | None = None
    phone: str | None = None


class KeyUnavailable(Exception):
    """A data key is missing from the key store (destroyed, or the store is another one), or
    no configured master key unwraps it, or a ciphertext does not belong where it was found."""


def new_reference() -> str:
    """A referral's pseudonymous reference: 130 random bits, so nothing links two referrals
    of one citizen, and nothing leads back from it to the citizen."""
    return "ref_" + base64.b32encode(secrets.token_bytes(17)).decode()[:26].lower()


def _seal(key: bytes, plaintext: bytes, context: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, context)


def _open(key: bytes, sealed: bytes, context: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context)
    except InvalidTag as error:
        raise KeyUnavailable("the ciphertext does not open with this key and context") from error


# --- master keys and wrapped data keys ----------------------------------------------------

KID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True)
class WrappedKey:
    """A data key encrypted under the master key `kid`, bound to its citizen."""

    kid: str
    sealed: bytes = field(repr=False)


def _wrap_context(citizen_id: UUID) -> bytes:
    # A wrapped key moved to another citizen's row does not unwrap there.
    return b"brobygger.data-key:" + citizen_id.bytes


class MasterKeys:
    """The configured master keys, oldest first: the last wraps, every one unwraps."""

    def __init__(self, keys: dict[str, bytes]) -> None:
        if not keys:
            raise ValueError("at least one master key is needed")
        self._keys = dict(keys)
        self.current = list(keys)[-1]
        """The id of the master key that wraps new data keys."""

    @classmethod
    def parse(cls, setting: str) -> MasterKeys:
        """`kid:base64key,kid:base64key` (32-byte keys), oldest first. Errors name the key
        id at most, never the key."""
        keys: dict[str, bytes] = {}
        entries = [entry.strip() for entry in setting.split(",")]
        for position, entry in enumerate(filter(None, entries), 1):
            kid, colon, encoded = entry.partition(":")
            if not colon or not KID.match(kid):
                raise ValueError(
                    f"entry {position} is not `kid:base64key` with a key id of letters, "
                    "digits, '.', '_' or '-'"
                )
            if kid in keys:
                raise ValueError(f"the key id {kid!r} is given twice")
            try:
                key = base64.b64decode(encoded, validate=True)
            except binascii.Error:
                key = b""
            if len(key) != KEY_BYTES:
                raise ValueError(f"the key {kid!r} is not base64 of {KEY_BYTES} bytes")
            keys[kid] = key
        return cls(keys)

    @property
    def kids(self) -> list[str]:
        return list(self._keys)

    def wrap(self, data_key: bytes, citizen_id: UUID) -> WrappedKey:
        sealed = _seal(self._keys[self.current], data_key, _wrap_context(citizen_id))
        return WrappedKey(self.current, sealed)

    def unwrap(self, wrapped: WrappedKey, citizen_id: UUID) -> bytes:
        master = self._keys.get(wrapped.kid)
        if master is None:
            raise KeyUnavailable(f"no master key {wrapped.kid!r} is configured")
        return _open(master, wrapped.sealed, _wrap_context(citizen_id))

    def rewrap(self, wrapped: WrappedKey, citizen_id: UUID) -> WrappedKey:
        """The same data key, wrapped under the current master key."""
        return self.wrap(self.unwrap(wrapped, citizen_id), citizen_id)


@dataclass(frozen=True)
class DataKey:
    """One citizen's data key, unwrapped: what it seals opens only for that citizen."""

    citizen_id: UUID
    secret: bytes = field(repr=False)

    def seal_identity(self, identity: CitizenIdentity) -> bytes:
        return _seal(self.secret, json.dumps(asdict(identity)).encode(), self._identity_context)

    def open_identity(self, sealed: bytes) -> CitizenIdentity:
        return CitizenIdentity(**json.loads(_open(self.secret, sealed, self._identity_context)))

    def seal_note(self, referral_id: UUID, note: str) -> bytes:
        return _seal(self.secret, note.encode(), self._note_context(referral_id))

    def open_note(self, referral_id: UUID, sealed: bytes) -> str:
        return _open(self.secret, sealed, self._note_context(referral_id)).decode()

    @property
    def _identity_context(self) -> bytes:
        return b"brobygger.identity:" + self.citizen_id.bytes

    def _note_context(self, referral_id: UUID) -> bytes:
        # A note copied to another referral, even of the same citizen, does not open there.
        return b"brobygger.note:" + self.citizen_id.bytes + referral_id.bytes


class DataKeyStore(Protocol):
    """Wrapped data keys by citizen, in a database of their own; each call is its own
    transaction there."""

    def add(self, citizen_id: UUID, wrapped: WrappedKey) -> None: ...

    def get(self, citizen_id: UUID) -> WrappedKey | None: ...

    def not_under(
        self, kid: str, *, after: UUID | None, limit: int
    ) -> list[tuple[UUID, WrappedKey]]:
        """Keys wrapped under another master key than `kid`, by citizen id, after `after`."""
        ...

    def replace(self, citizen_id: UUID, old: WrappedKey, new: WrappedKey) -> bool:
        """Put `new` in place of `old`; False if the stored key is no longer `old`."""
        ...

    def count(self) -> int: ...

    def remove(self, citizen_id: UUID) -> bool:
        """Destroy the citizen's data key, leaving no copy in the store's files; False if
        it held none (destroyed before)."""
        ...


class Vault:
    """Everything the referrals service does with keys: data keys per citizen, the blind
    index, and the key of request fingerprints. No key serves two purposes."""

    def __init__(
        self,
        master_keys: MasterKeys,
        data_keys: DataKeyStore,
        *,
        blind_index_key: bytes,
        fingerprint_key: bytes,
    ) -> None:
        if blind_index_key == fingerprint_key:
            raise ValueError("the blind index and the request fingerprints need keys of their own")
        self.master_keys = master_keys
        self.data_keys = data_keys
        self._blind_index_key = blind_index_key
        self.fingerprint_key = fingerprint_key
        """Keys the MACs of request bodies (`Idempotency-Key`): they hold personal data."""

    def blind_index(self, personal_number: str) -> str:
        """A keyed HMAC of the normalised (ten-digit) personal number: the same citizen is
        found again, and without the key the ~370 million numbers cannot be tried."""
        return hmac.new(self._blind_index_key, personal_number.encode(), hashlib.sha256).hexdigest()

    def new_data_key(self, citizen_id: UUID) -> DataKey:
        """A fresh random data key for a new citizen, stored wrapped before it is used."""
        secret = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        self.data_keys.add(citizen_id, self.master_keys.wrap(secret, citizen_id))
        return DataKey(citizen_id, secret)

    def destroy_data_key(self, citizen_id: UUID) -> None:
        """Crypto-shredding: without its data key nothing sealed for the citizen opens again,
        in the referrals database or in any copy of it. Committed in the key store at once;
        a key destroyed before is no error (an erasure retried after a crash)."""
        self.data_keys.remove(citizen_id)

    def data_key(self, citizen_id: UUID) -> DataKey:
        wrapped = self.data_keys.get(citizen_id)
        if wrapped is None:
            raise KeyUnavailable(f"the key store holds no data key for citizen {citizen_id}")
        return DataKey(citizen_id, self.master_keys.unwrap(wrapped, citizen_id))


def open_legacy_identity(fernet_key: str, ciphertext: bytes) -> CitizenIdentity:
    """An identity sealed before per-citizen keys, with the one Fernet key of those days."""
    try:
        return CitizenIdentity(**json.loads(Fernet(fernet_key.encode()).decrypt(ciphertext)))
    except InvalidToken as error:
        raise KeyUnavailable("the legacy identity key does not open this identity") from error
