"""Settings shared by every service; each service subclasses with its own env prefix."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

DATA_DIR = Path(".data")


class ServiceSettings(BaseSettings):
    """Fields read from the environment.

    Service-specific fields take the service's prefix (`REFERRALS_DATABASE_URL`); the
    fields every service shares carry an explicit name (`KAFKA_BOOTSTRAP_SERVERS`).
    """

    service_name: str
    http_host: str = "127.0.0.1"
    http_port: int
    database_url: str = ""
    relay_enabled: bool = Field(
        default=True,
        description="Publish the outbox from this process. Off only for a separate relay or tests.",
    )
    migrate_on_start: bool = True
    db_pool_size: int = Field(
        default=10,
        ge=1,
        validation_alias="BROBYGGER_DB_POOL_SIZE",
        description="PostgreSQL connections each process keeps open (up to 5 more under load).",
    )
    db_pool_timeout_seconds: float = Field(
        default=3.0,
        gt=0,
        validation_alias="BROBYGGER_DB_POOL_TIMEOUT_SECONDS",
        description="How long a request waits for a free PostgreSQL connection before it "
        "is answered 503 with Retry-After.",
    )

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS"
    )
    jwt_secret: SecretStr = Field(validation_alias="BROBYGGER_JWT_SECRET", min_length=32)
    log_level: str = Field(default="INFO", validation_alias="BROBYGGER_LOG_LEVEL")
    consumer_max_attempts: int = Field(
        default=5, validation_alias="BROBYGGER_CONSUMER_MAX_ATTEMPTS"
    )
    consumer_backoff_seconds: float = Field(
        default=0.2, validation_alias="BROBYGGER_CONSUMER_BACKOFF_SECONDS"
    )
    outbox_max_attempts: int = Field(
        default=5,
        ge=1,
        validation_alias="BROBYGGER_OUTBOX_MAX_ATTEMPTS",
        description="Failed publishes of one outbox row, its own fault (too large, no such "
        "topic), before the relay sets it aside for an operator (`brobygger outbox failed`); "
        "a broker that is down counts against no row.",
    )

    keep_published_events_days: int = Field(
        default=7,
        ge=1,
        validation_alias="BROBYGGER_KEEP_PUBLISHED_EVENTS_DAYS",
        description="Published outbox rows are deleted after this many days.",
    )
    keep_processed_event_ids_days: int = Field(
        default=30,
        ge=1,
        validation_alias="BROBYGGER_KEEP_PROCESSED_EVENT_IDS_DAYS",
        description="Inbox ids are deleted after this many days; keep it longer than the "
        "topics' retention (7 days), or a redelivery could be processed twice.",
    )

    def effective_database_url(self) -> str:
        """The configured URL, or an SQLite file of the service's own under `.data/`."""
        if self.database_url:
            return self.database_url
        DATA_DIR.mkdir(exist_ok=True)
        return f"sqlite:///{DATA_DIR / self.service_name}.db"
