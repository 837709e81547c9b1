from pydantic import Field
from pydantic_settings import SettingsConfigDict

from runtime.config import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DIRECTORY_")

    service_name: str = "directory"
    http_port: int = 8002
    seed_demo: bool = Field(
        default=False,
        description="Fill an empty directory with the Copenhagen demo communities at start.",
    )
    max_matches: int = Field(
        default=5,
        ge=1,
        description="How many fitting services a referral's match lists, best first: the "
        "candidates referrals offers it to, one after another.",
    )
