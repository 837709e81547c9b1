from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

REVERSE_DOMAIN = "dk.brobygger"


class IntegrationEvent(BaseModel):
    """A fact one service tells the others; the `data` of a CloudEvent.

    Consumers ignore fields they do not know, so adding an optional field is not breaking.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    """CloudEvents `type`: `<reverse-domain>.<service>.<aggregate>.<past-tense-verb>.v<major>`."""
    topic: ClassVar[str]
    """Kafka topic: `<service>.<aggregate>.v<major>`."""
    key_field: ClassVar[str]
    """The field holding the aggregate id: the Kafka key and the CloudEvents `subject`."""

    def aggregate_id(self) -> str:
        return str(getattr(self, self.key_field))

    @classmethod
    def schema_uri(cls) -> str:
        return f"urn:brobygger:schema:{cls.event_type}"
