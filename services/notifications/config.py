from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from notifications.domain import Language
from notifications.sealing import SecretBox
from runtime.config import ServiceSettings


class Settings(ServiceSettings):
    # A refused setting may be a key: errors name the setting, never show the value.
    model_config = SettingsConfigDict(env_prefix="NOTIFICATIONS_", hide_input_in_errors=True)

    service_name: str = "notifications"
    http_port: int = 8004
    language: Language = Field(
        default=Language.DA, description="Language of the messages: 'da', 'sv' or 'en'."
    )
    allow_private_webhook_targets: bool = Field(
        default=False,
        description="Accept webhook URLs on loopback, private or link-local addresses. "
        "Only for local development and tests: otherwise a partner could make this service "
        "call into the internal network.",
    )
    dispatcher_poll_seconds: float = Field(
        default=1.0, gt=0, description="How often the dispatcher looks for due webhooks."
    )
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)
    webhook_max_attempts: int = Field(
        default=8, ge=1, le=20, description="Attempts before a webhook delivery has failed."
    )
    webhook_first_retry_seconds: float = Field(
        default=30.0, ge=0, description="Delay before the first retry; it doubles after each."
    )
    webhook_secret_keys: SecretStr = Field(
        description="`<key-id>:<base64 of 32 bytes>[,...]`: the keys sealing webhook signing "
        "secrets at rest (AES-256-GCM). The first seals, every one opens: to rotate, put a "
        "new key first and keep the old ones while secrets sealed under them remain."
    )
    webhook_secret_overlap_hours: float = Field(
        default=24,
        ge=0,
        description="After a secret is rotated, the old one also signs for this long.",
    )
    webhook_disable_after_hours: float = Field(
        default=72,
        gt=0,
        description="A webhook endpoint failing this long, with no success in between, is "
        "disabled until its owner enables it again.",
    )

    @field_validator("webhook_secret_keys")
    @classmethod
    def _webhook_secret_keys_parse(cls, value: SecretStr) -> SecretStr:
        SecretBox.parse(value.get_secret_value())  # its errors name no key
        return value
