import itertools
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Self

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict
from sqlalchemy.engine import make_url

from referrals.domain import FollowUpPlan
from referrals.privacy import MasterKeys
from runtime.config import DATA_DIR, ServiceSettings


class Settings(ServiceSettings):
    # A refused setting may be a key: errors name the setting, never show the value.
    model_config = SettingsConfigDict(env_prefix="REFERRALS_", hide_input_in_errors=True)

    service_name: str = "referrals"
    http_port: int = 8001
    keystore_url: str = Field(
        default="",
        description="Database of the citizens' data keys, apart from the referrals database "
        "(on PostgreSQL its own database and role). Default: an SQLite file next to the "
        "referrals SQLite database, `<name>_keys.db`, or `.data/referrals_keys.db`.",
    )
    master_keys: SecretStr = Field(
        description="`kid:base64key,...` (32-byte keys, oldest first): the last wraps new "
        "data keys, all unwrap. `brobygger keys rotate` rewraps every data key under the last."
    )
    blind_index_key: SecretStr = Field(
        min_length=32,
        description="HMAC key of the blind index that finds a citizen again by personal "
        "number; without it the index cannot be brute-forced back.",
    )
    fingerprint_key: SecretStr = Field(
        min_length=32,
        description="HMAC key of the request fingerprints kept with each Idempotency-Key "
        "(the requests hold personal data); not the blind index key.",
    )
    legacy_identity_key: SecretStr | None = Field(
        default=None,
        description="The Fernet key that encrypted identities before per-citizen keys: when "
        "set, referrals stored under it are converted at start-up. Remove it afterwards.",
    )
    offer_ttl_hours: float = Field(
        default=72, gt=0, description="How long a partner has to answer an offer."
    )
    timer_poll_seconds: float = Field(
        default=1.0, gt=0, description="How often the scheduler looks for deadlines passed."
    )
    follow_up_after_days: list[Annotated[int, Field(ge=1, le=3650)]] = Field(
        default=[28, 91],
        min_length=1,
        max_length=20,
        description="When follow-ups fall due, in days after the first meeting, as a JSON "
        "list in increasing order: four weeks and three months by default.",
    )
    follow_up_remind_after_days: float = Field(
        default=14,
        gt=0,
        description="A follow-up not answered this long after it fell due is reminded, once.",
    )
    follow_up_escalate_after_days: float = Field(
        default=14,
        gt=0,
        description="... and escalated to operators this long after the reminder.",
    )
    clock_speed: float = Field(
        default=1,
        ge=1,
        le=10_000_000,
        description="For demonstrations and tests only: the service's clock runs this many "
        "times as fast as real time from the moment it starts, so that weeks of follow-ups "
        "pass in seconds. Never set it in a deployment.",
    )

    @field_validator("follow_up_after_days")
    @classmethod
    def _increasing(cls, days: list[int]) -> list[int]:
        if any(later <= earlier for earlier, later in itertools.pairwise(days)):
            raise ValueError("the days of follow-ups must increase")
        return days

    def follow_up_plan(self) -> FollowUpPlan:
        return FollowUpPlan(
            after_days=tuple(self.follow_up_after_days),
            remind_after=timedelta(days=self.follow_up_remind_after_days),
            escalate_after=timedelta(days=self.follow_up_escalate_after_days),
        )

    @field_validator("master_keys")
    @classmethod
    def _master_keys_parse(cls, value: SecretStr) -> SecretStr:
        MasterKeys.parse(value.get_secret_value())  # its errors name no key
        return value

    @field_validator("legacy_identity_key")
    @classmethod
    def _legacy_key_is_fernet(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                Fernet(value.get_secret_value().encode())
            except ValueError:
                raise ValueError("not a Fernet key (url-safe base64 of 32 bytes)") from None
        return value

    @model_validator(mode="after")
    def _one_key_one_purpose(self) -> Self:
        if self.blind_index_key == self.fingerprint_key:
            raise ValueError(
                "REFERRALS_BLIND_INDEX_KEY and REFERRALS_FINGERPRINT_KEY must differ: "
                "no key serves two purposes"
            )
        return self

    def effective_keystore_url(self) -> str:
        return self.keystore_url or default_keystore_url(self.effective_database_url())


def default_keystore_url(database_url: str) -> str:
    """An SQLite file of its own: beside the referrals SQLite file, else in `.data/`."""
    if database_url.startswith("sqlite"):
        database = make_url(database_url).database
        if database and database != ":memory:":
            path = Path(database)
            return f"sqlite:///{path.with_name(f'{path.stem}_keys{path.suffix}')}"
    DATA_DIR.mkdir(exist_ok=True)
    return f"sqlite:///{DATA_DIR / 'referrals_keys.db'}"
