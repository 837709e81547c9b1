from pydantic import Field
from pydantic_settings import SettingsConfigDict

from notifications.domain import Language
from runtime.config import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFICATIONS_")

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
