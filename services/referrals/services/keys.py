"""The vault's keys: rotating master keys, converting identities sealed the old way."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from referrals.privacy import (
    DataKeyStore,
    KeyUnavailable,
    MasterKeys,
    Vault,
    open_legacy_identity,
)
from referrals.services.common import UnitOfWorkFactory
from referrals.services.intake import keep_citizen
from runtime.clock import Clock, utcnow


@dataclass(frozen=True)
class Rotation:
    """What `rotate_keys` did, in counts: never a key or an identity."""

    master_key: str
    """The id of the master key every data key is now wrapped under."""
    rewrapped: int
    already_current: int
    unreadable: int
    """Under a master key no longer configured: still under it, unreadable until it is."""


def rotate_keys(master: MasterKeys, keys: DataKeyStore, batch: int = 500) -> Rotation:
    """Rewrap every data key under the newest master key, so that the older ones can be
    removed from the configuration. Safe to run again, and alongside the service: a key
    changed meanwhile is left for the next run."""
    rewrapped = unreadable = 0
    after: UUID | None = None
    while found := keys.not_under(master.current, after=after, limit=batch):
        for citizen_id, wrapped in found:
            try:
                fresh = master.rewrap(wrapped, citizen_id)
            except KeyUnavailable:
                unreadable += 1
                continue
            rewrapped += keys.replace(citizen_id, wrapped, fresh)
        after = found[-1][0]
    already = keys.count() - rewrapped - unreadable
    return Rotation(master.current, rewrapped, already, unreadable)


@dataclass(frozen=True)
class Conversion:
    converted: int
    unreadable: int
    """The legacy key did not open them; they stay as they are."""


def convert_legacy_identities(
    start_uow: UnitOfWorkFactory,
    vault: Vault,
    legacy_key: str,
    clock: Clock = utcnow,
    batch: int = 100,
) -> Conversion:
    """Move identities stored under the one Fernet key of before into per-citizen keys:
    each referral gets its citizen (found again by the blind index, or new). Its reference
    stays what it was, as the events already published say."""
    converted = unreadable = 0
    after: UUID | None = None
    while True:
        with start_uow() as uow:
            found = uow.referrals.legacy(after=after, limit=batch)
        if not found:
            return Conversion(converted, unreadable)
        for referral_id, ciphertext in found:
            try:
                identity = open_legacy_identity(legacy_key, ciphertext)
            except KeyUnavailable:
                unreadable += 1
                continue
            with start_uow() as uow:
                key = keep_citizen(uow, vault, identity, clock())
                uow.referrals.attach_citizen(referral_id, key.citizen_id)
                uow.commit()
            converted += 1
        after = found[-1][0]


def legacy_referrals(start_uow: UnitOfWorkFactory) -> int:
    """How many referrals still wait for conversion from the legacy key."""
    with start_uow() as uow:
        return uow.referrals.count_legacy()
