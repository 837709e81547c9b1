"""What the tests of every service and of the runtime share."""

from __future__ import annotations

from contracts import IntegrationEvent
from runtime.consumer import IncomingRecord
from runtime.envelope import envelope


def record_of(
    event: IntegrationEvent, offset: int = 0, source: str = "/brobygger/test"
) -> IncomingRecord:
    """`event` as a consumer receives it from Kafka: a CloudEvent in binary mode."""
    message = envelope(event, source)
    return IncomingRecord(
        topic=message.topic,
        partition=0,
        offset=offset,
        key=message.key.encode(),
        headers=message.headers,
        value=message.value,
    )
