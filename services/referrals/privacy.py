"""The citizen's identity: encrypted at rest, and a pseudonym that cannot be reversed."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import asdict, dataclass

from cryptography.fernet import Fernet


@dataclass(frozen=True)
class CitizenIdentity:
    personal_number: str
    name: str
    address: str | None = None
    phone: str | None = None


class IdentityVault:
    def __init__(self, identity_key: str, pseudonym_key: str) -> None:
        self._fernet = Fernet(identity_key.encode())
        self.mac_key = pseudonym_key.encode()
        """Keys every digest of personal data: pseudonyms and request fingerprints."""

    def pseudonym(self, personal_number: str) -> str:
        """A keyed HMAC: stable per citizen, useless without the key (a plain hash of the
        370 million possible numbers is brute-forced in seconds)."""
        digest = hmac.new(self.mac_key, personal_number.encode(), hashlib.sha256)
        return "cit_" + digest.hexdigest()[:32]

    def seal(self, identity: CitizenIdentity) -> bytes:
        return self._fernet.encrypt(json.dumps(asdict(identity)).encode())

    def open(self, ciphertext: bytes) -> CitizenIdentity:
        return CitizenIdentity(**json.loads(self._fernet.decrypt(ciphertext)))
