from pydantic_settings import SettingsConfigDict

from runtime.config import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GRANTS_")

    service_name: str = "grants"
    http_port: int = 8003
