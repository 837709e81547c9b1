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
    def owner(cls) -> str:
        """The service that owns this event type, the one allowed to publish it: the
        `<service>` of its type."""
        return cls.event_type.removeprefix(f"{REVERSE_DOMAIN}.").split(".", 1)[0]

    @classmethod
    def source(cls) -> str:
        """The CloudEvents `source` of every event of this type: its owner's."""
        return f"/brobygger/{cls.owner()}"

    @classmethod
    def schema_uri(cls) -> str:
        return f"urn:brobygger:schema:{cls.event_type}"
