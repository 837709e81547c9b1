"""The identity vault on its own: data keys wrapped under master keys, rotation, what binds a
ciphertext to its citizen, the blind index and the references events carry."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from uuid import uuid4

import pytest
from pydantic import ValidationError

from referrals import services
from referrals.config import Settings
from referrals.privacy import (
    CitizenIdentity,
    DataKey,
    KeyUnavailable,
    MasterKeys,
    Vault,
    WrappedKey,
    new_reference,
)
from tests.conftest import TEST_SECRETS
from tests.referrals.fakes import FakeDataKeyStore
from tests.referrals.support import REFERENCE

IDENTITY = CitizenIdentity("0101401234", "Inger Jensen", "Jagtvej 1", "+45 12 34 56 78")


def master_key(kid: str) -> str:
    """`kid:base64key` with a fresh random key, as REFERRALS_MASTER_KEYS lists them."""
    return f"{kid}:{base64.b64encode(secrets.token_bytes(32)).decode()}"


def vault(master: str, store: FakeDataKeyStore | None = None, **keys: bytes) -> Vault:
    return Vault(
        MasterKeys.parse(master),
        store if store is not None else FakeDataKeyStore(),
        blind_index_key=keys.get("blind_index_key", b"b" * 32),
        fingerprint_key=keys.get("fingerprint_key", b"f" * 32),
    )


# --- master keys ---------------------------------------------------------------------------


def test_a_data_key_wrapped_under_the_newest_master_key_unwraps_with_any_list_holding_it() -> None:
    old, new = master_key("k1"), master_key("k2")
    store = FakeDataKeyStore()
    citizen = uuid4()
    key = vault(f"{old},{new}", store).new_data_key(citizen)
    assert store.keys[citizen].kid == "k2", "the last master key wraps"
    assert key.secret not in store.keys[citizen].sealed
    assert vault(new, store).data_key(citizen) == key
    assert vault(f"{new},{master_key('k3')}", store).data_key(citizen) == key


def test_a_data_key_does_not_unwrap_under_a_wrong_or_missing_master_key() -> None:
    store = FakeDataKeyStore()
    citizen = uuid4()
    vault(master_key("k1"), store).new_data_key(citizen)
    with pytest.raises(KeyUnavailable, match="k1"):
        vault(master_key("k2"), store).data_key(citizen)
    with pytest.raises(KeyUnavailable):
        vault(master_key("k1"), store).data_key(citizen)  # the same id, another key
    with pytest.raises(KeyUnavailable):
        vault(master_key("k1"), store).data_key(uuid4())  # no key stored for that citizen


@pytest.mark.parametrize(
    "setting",
    [
        "",
        "k1",
        "k1:not base64!",
        f"k1:{base64.b64encode(b'sixteen-byte-key').decode()}",
        f"{master_key('k1')},{master_key('k1')}",
        f"bad kid:{base64.b64encode(bytes(32)).decode()}",
    ],
)
def test_a_malformed_master_key_list_is_refused_without_showing_the_key(setting: str) -> None:
    with pytest.raises(ValueError, match=r"key|entry") as refused:
        MasterKeys.parse(setting)
    for part in re.split(r"[,:]", setting):
        if len(part) > 4:  # a key id may be named, a key never
            assert part not in str(refused.value)


def test_the_service_refuses_to_start_with_malformed_master_keys_or_one_key_for_two_purposes(
    offline_service_env: pytest.MonkeyPatch,
) -> None:
    monkeypatch = offline_service_env
    assert Settings().master_keys.get_secret_value() == TEST_SECRETS["REFERRALS_MASTER_KEYS"]
    secret = base64.b64encode(b"sixteen-byte-key").decode()
    monkeypatch.setenv("REFERRALS_MASTER_KEYS", f"k1:{secret}")
    with pytest.raises(ValidationError, match="master_keys") as refused:
        Settings()
    assert secret not in str(refused.value)

    monkeypatch.setenv("REFERRALS_MASTER_KEYS", TEST_SECRETS["REFERRALS_MASTER_KEYS"])
    monkeypatch.setenv("REFERRALS_FINGERPRINT_KEY", TEST_SECRETS["REFERRALS_BLIND_INDEX_KEY"])
    with pytest.raises(ValidationError, match="no key serves two purposes"):
        Settings()
    with pytest.raises(ValueError, match="keys of their own"):
        vault(master_key("k1"), blind_index_key=b"x" * 32, fingerprint_key=b"x" * 32)


# --- rotation ------------------------------------------------------------------------------


def test_rotation_rewraps_every_key_under_the_newest_so_the_old_one_can_be_removed() -> None:
    old, new = master_key("k1"), master_key("k2")
    store = FakeDataKeyStore()
    before = vault(old, store)
    sealed = {}
    for _ in range(3):
        key = before.new_data_key(uuid4())
        sealed[key.citizen_id] = key.seal_identity(IDENTITY)

    done = services.rotate_keys(MasterKeys.parse(f"{old},{new}"), store, batch=2)

    assert done == services.Rotation("k2", rewrapped=3, already_current=0, unreadable=0)
    assert {wrapped.kid for wrapped in store.keys.values()} == {"k2"}
    only_new = vault(new, store)
    for citizen, identity in sealed.items():
        assert only_new.data_key(citizen).open_identity(identity) == IDENTITY
    again = services.rotate_keys(MasterKeys.parse(new), store)
    assert (again.rewrapped, again.already_current) == (0, 3)


def test_rotation_leaves_keys_whose_master_key_is_not_configured_and_counts_them() -> None:
    lost, old, new = master_key("k0"), master_key("k1"), master_key("k2")
    store = FakeDataKeyStore()
    orphan = vault(lost, store).new_data_key(uuid4())
    vault(old, store).new_data_key(uuid4())

    done = services.rotate_keys(MasterKeys.parse(f"{old},{new}"), store)

    assert (done.rewrapped, done.unreadable) == (1, 1)
    assert store.keys[orphan.citizen_id].kid == "k0"
    assert vault(f"{lost},{new}", store).data_key(orphan.citizen_id) == orphan


# --- what binds a ciphertext to its place ----------------------------------------------------


def test_an_identity_opens_only_for_the_citizen_it_was_sealed_for() -> None:
    key = vault(master_key("k1")).new_data_key(uuid4())
    sealed = key.seal_identity(IDENTITY)
    assert key.open_identity(sealed) == IDENTITY
    assert b"Inger" not in sealed
    with pytest.raises(KeyUnavailable):
        DataKey(uuid4(), key.secret).open_identity(sealed)  # the same key, another citizen
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(KeyUnavailable):
        key.open_identity(tampered)


def test_a_note_opens_only_for_the_referral_it_was_written_for() -> None:
    key = vault(master_key("k1")).new_data_key(uuid4())
    referral, other = uuid4(), uuid4()
    sealed = key.seal_note(referral, "Hard of hearing, loves singing")
    assert key.open_note(referral, sealed) == "Hard of hearing, loves singing"
    with pytest.raises(KeyUnavailable):
        key.open_note(other, sealed)
    with pytest.raises(KeyUnavailable):
        key.open_identity(sealed)


def test_a_wrapped_key_moved_to_another_citizen_does_not_unwrap_there() -> None:
    store = FakeDataKeyStore()
    keys = vault(master_key("k1"), store)
    first, second = uuid4(), uuid4()
    keys.new_data_key(first)
    keys.new_data_key(second)
    store.keys[second] = WrappedKey(store.keys[first].kid, store.keys[first].sealed)
    with pytest.raises(KeyUnavailable):
        keys.data_key(second)


# --- blind index and references ----------------------------------------------------------------


def test_the_blind_index_finds_the_same_number_again_and_only_under_its_own_key() -> None:
    keys = vault(master_key("k1"), blind_index_key=b"i" * 32)
    index = keys.blind_index("0101401234")
    assert index == keys.blind_index("0101401234")
    assert index != keys.blind_index("0101401235")
    assert index != vault(master_key("k1"), blind_index_key=b"j" * 32).blind_index("0101401234")
    assert index != hashlib.sha256(b"0101401234").hexdigest(), "never a plain hash"


def test_each_reference_is_random_and_says_nothing() -> None:
    references = {new_reference() for _ in range(1000)}
    assert len(references) == 1000
    assert all(re.match(REFERENCE, reference) for reference in references)
