"""Webhook signing secrets sealed at rest: AES-256-GCM under a ring of keys, bound to their
endpoint."""

import base64
import secrets
from uuid import uuid4

import pytest
from pydantic import ValidationError

from notifications.config import Settings
from notifications.sealing import SealingError, SecretBox
from notifications.webhooks import new_secret
from tests.conftest import TEST_SECRETS

ENDPOINT = uuid4()


def key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def test_a_sealed_secret_opens_for_its_endpoint_and_shows_nothing_of_it() -> None:
    box = SecretBox.parse(f"k1:{key()}")
    plain = new_secret()
    sealed = box.seal(plain, ENDPOINT)
    assert sealed.startswith("k1:")
    assert plain not in sealed and plain.removeprefix("whsec_") not in sealed
    assert box.seal(plain, ENDPOINT) != sealed  # a fresh nonce each time
    assert box.open(sealed, ENDPOINT) == plain


def test_a_sealed_secret_does_not_open_under_another_key_of_the_same_id() -> None:
    plain = new_secret()
    sealed = SecretBox.parse(f"k1:{key()}").seal(plain, ENDPOINT)
    other = f"k1:{key()}"
    with pytest.raises(SealingError) as refused:
        SecretBox.parse(other).open(sealed, ENDPOINT)
    assert str(refused.value) == "the secret does not open under key 'k1' for this endpoint"


def test_a_sealed_secret_copied_to_another_endpoint_does_not_open_there() -> None:
    box = SecretBox.parse(f"k1:{key()}")
    sealed = box.seal(new_secret(), ENDPOINT)
    with pytest.raises(SealingError):
        box.open(sealed, uuid4())


def test_a_tampered_sealed_secret_does_not_open() -> None:
    box = SecretBox.parse(f"k1:{key()}")
    key_id, _, encoded = box.seal(new_secret(), ENDPOINT).partition(":")
    raw = bytearray(base64.b64decode(encoded))
    raw[-1] ^= 1
    for tampered in (f"{key_id}:{base64.b64encode(raw).decode()}", f"{key_id}:not base64"):
        with pytest.raises(SealingError):
            box.open(tampered, ENDPOINT)


def test_keys_rotate_the_first_seals_every_one_opens() -> None:
    old, new = f"old:{key()}", f"new:{key()}"
    plain = new_secret()
    sealed_before = SecretBox.parse(old).seal(plain, ENDPOINT)
    both = SecretBox.parse(f"{new},{old}")
    assert both.open(sealed_before, ENDPOINT) == plain
    sealed_now = both.seal(plain, ENDPOINT)
    assert sealed_now.startswith("new:")
    assert SecretBox.parse(new).open(sealed_now, ENDPOINT) == plain
    with pytest.raises(SealingError, match=r"^the secret was sealed under a key that is not"):
        SecretBox.parse(new).open(sealed_before, ENDPOINT)


SHORT_KEY = base64.b64encode(b"k" * 16).decode()


@pytest.mark.parametrize(
    "setting",
    [
        "",
        SHORT_KEY,
        f"k1:{SHORT_KEY}",
        f"k1:{SHORT_KEY}!",
        f"k 1:{key()}",
        f"k1:{key()},",
        "k1:{k},k1:{k}".format(k=key()),
    ],
    ids=["empty", "no id", "short key", "not base64", "bad id", "empty entry", "id twice"],
)
def test_a_malformed_key_ring_is_refused_without_showing_a_key(setting: str) -> None:
    with pytest.raises(SealingError) as refused:
        SecretBox.parse(setting)
    for entry in setting.split(","):
        material = entry.partition(":")[2]
        assert not material or material not in str(refused.value)


def test_the_service_needs_its_key_ring_and_refuses_a_malformed_one_without_showing_it(
    offline_service_env: pytest.MonkeyPatch,
) -> None:
    configured = TEST_SECRETS["NOTIFICATIONS_WEBHOOK_SECRET_KEYS"]
    assert Settings().webhook_secret_keys.get_secret_value() == configured
    offline_service_env.delenv("NOTIFICATIONS_WEBHOOK_SECRET_KEYS")
    with pytest.raises(ValidationError, match="webhook_secret_keys"):
        Settings()
    short = f"k1:{SHORT_KEY}"
    offline_service_env.setenv("NOTIFICATIONS_WEBHOOK_SECRET_KEYS", short)
    with pytest.raises(ValidationError, match="webhook_secret_keys") as refused:
        Settings()
    assert SHORT_KEY not in str(refused.value)
    assert "is not base64 of 32 bytes" in str(refused.value)
