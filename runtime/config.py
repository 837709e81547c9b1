"""Settings shared by every service; each service subclasses with its own env prefix."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from runtime.auth import (
    DEFAULT_AUDIENCE,
    DEFAULT_ISSUER,
    DEFAULT_MAX_LIFETIME_SECONDS,
    PublicKeys,
    TokenVerifier,
)
from runtime.kafka_security import KafkaLogin, SaslMechanism, SecurityProtocol, check_kafka_login

DATA_DIR = Path(".data")
MISSING_JWKS = (
    "No public keys to check bearer tokens with: set BROBYGGER_JWKS_FILE (a JWKS document "
    "holding the identity provider's public keys) or BROBYGGER_JWKS_URL (where the provider "
    "publishes it). For local development, ./run makes a key pair under .cache/keys/ and "
    "names the JWKS file in .cache/local.env."
)


class ServiceSettings(BaseSettings):
    """Fields read from the environment.

    Service-specific fields take the service's prefix (`REFERRALS_DATABASE_URL`); the
    fields every service shares carry an explicit name (`KAFKA_BOOTSTRAP_SERVERS`).
    """

    # A refused setting may be a secret: errors name the setting, never show the value.
    model_config = SettingsConfigDict(hide_input_in_errors=True)

    service_name: str
    http_host: str = "127.0.0.1"
    http_port: int
    database_url: str = ""
    relay_enabled: bool = Field(
        default=True,
        description="Publish the outbox from this process. Off only for a separate relay or tests.",
    )
    migrate_on_start: bool = True
    leader_retry_seconds: float = Field(
        default=2.0,
        gt=0,
        validation_alias="BROBYGGER_LEADER_RETRY_SECONDS",
        description="How often a replica that does not publish the outbox asks to take over, "
        "and the leader checks it still may: a dead leader's work is taken over within this.",
    )
    shutdown_seconds: float = Field(
        default=10.0,
        gt=0,
        validation_alias="BROBYGGER_SHUTDOWN_SECONDS",
        description="On SIGTERM, how long open requests may finish and the Kafka clients may "
        "flush before the process exits anyway. Nothing is lost by cutting it short: an event "
        "the broker did not acknowledge stays in the outbox, an offset not committed is "
        "delivered again and the inbox skips it.",
    )
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
    kafka_security_protocol: SecurityProtocol = Field(
        default="SASL_PLAINTEXT",
        validation_alias="KAFKA_SECURITY_PROTOCOL",
        description="SASL_PLAINTEXT (a broker on loopback or a private network), SASL_SSL "
        "(production: encrypted, the broker's certificate and host name verified) or "
        "PLAINTEXT (no login; refused unless KAFKA_ALLOW_PLAINTEXT=true).",
    )
    kafka_sasl_mechanism: SaslMechanism = Field(
        default="SCRAM-SHA-512", validation_alias="KAFKA_SASL_MECHANISM"
    )
    kafka_allow_plaintext: bool = Field(
        default=False,
        validation_alias="KAFKA_ALLOW_PLAINTEXT",
        description="Allow KAFKA_SECURITY_PROTOCOL=PLAINTEXT: only for a broker without "
        "authentication that is not ours, e.g. while migrating to one that has it.",
    )
    kafka_ssl_cafile: str = Field(
        default="",
        validation_alias="KAFKA_SSL_CAFILE",
        description="For SASL_SSL: the CA certificate(s), PEM, the broker's certificate must "
        "chain to (empty: the system's CAs).",
    )
    kafka_username: str = Field(
        default="",
        description="The service's Kafka principal (`<SERVICE>_KAFKA_USERNAME`); empty: the "
        "service's name, as infra/acls.toml names it.",
    )
    kafka_password: SecretStr | None = Field(
        default=None,
        validate_default=True,  # so that a missing one is caught
        description="The service's own Kafka password (`<SERVICE>_KAFKA_PASSWORD`); "
        "required unless KAFKA_SECURITY_PROTOCOL=PLAINTEXT.",
    )
    jwks_file: str = Field(
        default="",
        validation_alias="BROBYGGER_JWKS_FILE",
        description="A JWKS document (RFC 7517) with the token issuer's Ed25519 public keys. "
        "This or BROBYGGER_JWKS_URL is required; a service never holds a signing key.",
    )
    jwks_url: str = Field(
        default="",
        validate_default=True,  # so that neither being set is caught
        validation_alias="BROBYGGER_JWKS_URL",
        description="Where the identity provider publishes its JWKS; read when the first "
        "token arrives and again (at most once a minute) when a token names an unknown key.",
    )
    token_issuer: str = Field(
        default=DEFAULT_ISSUER, min_length=1, validation_alias="BROBYGGER_TOKEN_ISSUER"
    )
    token_audience: str = Field(
        default=DEFAULT_AUDIENCE, min_length=1, validation_alias="BROBYGGER_TOKEN_AUDIENCE"
    )
    token_max_lifetime_seconds: int = Field(
        default=DEFAULT_MAX_LIFETIME_SECONDS,
        gt=0,
        validation_alias="BROBYGGER_TOKEN_MAX_LIFETIME_SECONDS",
        description="Tokens whose `exp` - `iat` is longer are refused.",
    )
    log_level: str = Field(default="INFO", validation_alias="BROBYGGER_LOG_LEVEL")
    consumer_max_attempts: int = Field(
        default=5, validation_alias="BROBYGGER_CONSUMER_MAX_ATTEMPTS"
    )
    consumer_backoff_seconds: float = Field(
        default=0.2, validation_alias="BROBYGGER_CONSUMER_BACKOFF_SECONDS"
    )
    consumer_commit_interval_seconds: float = Field(
        default=0.5,
        gt=0,
        validation_alias="BROBYGGER_CONSUMER_COMMIT_INTERVAL_SECONDS",
        description="A consumer commits its processed positions at most this often (a request "
        "to the broker per batch cost more than the batch itself at low rates), and an idle "
        "one within this of its last record. A crash redelivers at most this long's events; "
        "the inbox skips them.",
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

    @field_validator("jwks_url")
    @classmethod
    def _one_source_of_public_keys(cls, url: str, info: ValidationInfo) -> str:
        # A field validator, not a model one: it is reported along with any other missing
        # setting, instead of only once those are fixed.
        if not url and not info.data.get("jwks_file"):
            raise ValueError(MISSING_JWKS)
        if url and info.data.get("jwks_file"):
            raise ValueError("Set BROBYGGER_JWKS_FILE or BROBYGGER_JWKS_URL, not both.")
        if url and not url.startswith(("https://", "http://")):
            raise ValueError("BROBYGGER_JWKS_URL must be an https:// (or http://) URL.")
        return url

    @field_validator("kafka_password")
    @classmethod
    def _kafka_login_complete(
        cls, password: SecretStr | None, info: ValidationInfo
    ) -> SecretStr | None:
        protocol = info.data.get("kafka_security_protocol")
        if protocol is None:  # refused itself, and reported as such
            return password
        prefix = str(cls.model_config.get("env_prefix", ""))
        check_kafka_login(
            protocol=protocol,
            allow_plaintext=bool(info.data.get("kafka_allow_plaintext")),
            password=password,
            password_variable=f"{prefix}KAFKA_PASSWORD".upper(),
            ssl_cafile=str(info.data.get("kafka_ssl_cafile", "")),
        )
        return password

    def kafka_login(self) -> KafkaLogin:
        """How this service logs in to Kafka, as its own principal."""
        return KafkaLogin(
            protocol=self.kafka_security_protocol,
            mechanism=self.kafka_sasl_mechanism,
            username=self.kafka_username or self.service_name,
            password=self.kafka_password,
            ssl_cafile=self.kafka_ssl_cafile,
        )

    def token_verifier(self) -> TokenVerifier:
        """Checks bearer tokens against the configured public keys; a JWKS file that
        cannot be used raises KeySetError, stopping the start."""
        keys = (
            PublicKeys.from_url(self.jwks_url)
            if self.jwks_url
            else PublicKeys.from_file(Path(self.jwks_file))
        )
        return TokenVerifier(
            keys,
            issuer=self.token_issuer,
            audience=self.token_audience,
            max_lifetime_seconds=self.token_max_lifetime_seconds,
        )

    def effective_database_url(self) -> str:
        """The configured URL, or an SQLite file of the service's own under `.data/`."""
        if self.database_url:
            return self.database_url
        DATA_DIR.mkdir(exist_ok=True)
        return f"sqlite:///{DATA_DIR / self.service_name}.db"
