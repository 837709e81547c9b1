from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from runtime.config import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REFERRALS_")

    service_name: str = "referrals"
    http_port: int = 8001
    identity_key: SecretStr = Field(
        description="Fernet key (url-safe base64, 32 bytes) encrypting citizens' identities."
    )
    pseudonym_key: SecretStr = Field(
        min_length=32,
        description="HMAC key turning a personal number into the pseudonymous citizen_ref; "
        "kept apart from the data so the reference cannot be brute-forced back.",
    )
    offer_ttl_hours: float = Field(
        default=72, gt=0, description="How long a partner has to answer an offer."
    )
    timer_poll_seconds: float = Field(
        default=1.0, gt=0, description="How often the scheduler looks for deadlines passed."
    )
