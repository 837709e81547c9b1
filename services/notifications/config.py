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
        default=Language.DA,
        description="Language of the inbox messages: 'da', 'sv' or 'en'. E-mails and SMS are "
        "in each recipient's own language.",
    )
    app_url: str = Field(
        default="http://127.0.0.1:8004",
        description="Where recipients sign in to read the details (the municipality's front "
        "end): e-mails and SMS link there and never carry the details themselves.",
    )
    smtp_host: str = Field(default="", description="The mail server; empty: no e-mails.")
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = Field(default=None, description="Log in only when set.")
    smtp_password: SecretStr | None = None
    smtp_sender: str = Field(
        default="Brobygger <noreply@brobygger.invalid>", description="The From address."
    )
    sms_provider: str | None = Field(
        default=None, description="The SMS gateway's API: 'gatewayapi'; unset: no SMS."
    )
    sms_base_url: str = ""
    sms_token: SecretStr = SecretStr("")
    sms_sender: str = "Brobygger"
    delivery_max_attempts: int = Field(
        default=14,
        ge=1,
        le=20,
        description="Attempts of a webhook, e-mail or SMS before it has failed.",
    )
    retry_first_seconds: float = Field(
        default=60.0, ge=0, description="The wait before the first retry; it doubles after each."
    )
    retry_max_seconds: float = Field(
        default=6 * 3600.0, gt=0, description="The longest wait between two attempts."
    )
    retry_jitter: float = Field(
        default=0.2,
        ge=0,
        lt=1,
        description="Each wait is moved by up to this share of itself at random.",
    )
    clock_speed: float = Field(
        default=1.0,
        ge=1,
        description="For demonstrations and tests only: the service's clock runs this many "
        "times as fast as the wall clock (quiet hours, digests, retries and the disabling of "
        "webhooks come sooner).",
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
    partner_feeds_refresh_seconds: float = Field(
        default=10.0,
        gt=0,
        description="How often the broker is asked which partners read their events on a "
        "topic of their own (`brobygger partners kafka-access`): a partner given access gets "
        "its events on Kafka at most this long after.",
    )

    @field_validator("webhook_secret_keys")
    @classmethod
    def _webhook_secret_keys_parse(cls, value: SecretStr) -> SecretStr:
        SecretBox.parse(value.get_secret_value())  # its errors name no key
        return value
