"""`brobygger keys rotate`: rewrap every citizen's data key under the newest master key, so
that the older master keys can be removed from REFERRALS_MASTER_KEYS afterwards.

Reads REFERRALS_MASTER_KEYS and REFERRALS_KEYSTORE_URL (default: as the service finds its
key store, beside its SQLite database) through `setting`: the environment, else the
.cache/local.env `./run` wrote. Prints counts only: never a key, never an identity.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from referrals import services
from referrals.config import default_keystore_url
from referrals.keystore import SqlDataKeyStore
from referrals.privacy import MasterKeys
from runtime.storage import make_engine


def main(action: str, setting: Callable[[str], str | None]) -> int:
    """Run `action` (only `rotate`); returns the exit status."""
    if action != "rotate":
        raise ValueError(f"unknown action {action!r}")
    configured = setting("REFERRALS_MASTER_KEYS")
    if not configured:
        return _fail("No master keys: set REFERRALS_MASTER_KEYS as the referrals service has it.")
    try:
        master = MasterKeys.parse(configured)
    except ValueError as error:
        return _fail(f"REFERRALS_MASTER_KEYS: {error}.")
    url = setting("REFERRALS_KEYSTORE_URL") or default_keystore_url(
        setting("REFERRALS_DATABASE_URL") or ""
    )
    database = make_url(url).database
    if url.startswith("sqlite") and not (database and Path(database).exists()):
        return _fail(
            f"No key store at {url}: set REFERRALS_KEYSTORE_URL as the referrals service has "
            "it, or run this where the service runs (it creates the key store on start)."
        )
    engine = make_engine(url)
    try:
        done = services.rotate_keys(master, SqlDataKeyStore(engine))
    except SQLAlchemyError as error:
        return _fail(
            f"Could not use the key store at {engine.url!r} ({type(error).__name__}): is the "
            "database up, and the referrals service started once (which creates it)?"
        )
    finally:
        engine.dispose()
    print(
        f"{done.rewrapped} data key(s) rewrapped under master key {done.master_key!r}; "
        f"{done.already_current} under it already"
    )
    if done.unreadable:
        return _fail(
            f"{done.unreadable} data key(s) are wrapped under a master key that "
            "REFERRALS_MASTER_KEYS does not hold; they are left as they are. Add that key "
            "and run this again before removing any."
        )
    return 0


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 1
