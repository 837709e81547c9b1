from pydantic import AwareDatetime, Field
from pydantic_settings import SettingsConfigDict

from runtime.config import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GRANTS_")

    service_name: str = "grants"
    http_port: int = 8003
    timer_poll_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How often pools are opened and closed, and overdue reports reminded of, "
        "on their days.",
    )
    clock_starts_at: AwareDatetime | None = Field(
        default=None,
        description="For demonstrations and tests only: the service's clock reads this moment "
        "when it starts and runs on from it, so that a pool's days come when wanted. Never set "
        "it in a deployment.",
    )
    seed_demo: bool = Field(
        default=False,
        description="Fill a grants service that has no pool yet with the demo: a past pool "
        "whose grants to demo organisations were decided and paid (no events published).",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8003",
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        description="Where grants answers the public: the base of the addresses in the "
        "360Giving export (the export's own, and each pool's page).",
    )
