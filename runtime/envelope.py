"""CloudEvents 1.0 in Kafka binary mode: attributes as `ce_` headers, `data` as the value.

W3C trace context travels in the `traceparent` header; a correlation id (the id of what
started the chain, e.g. the referral) travels as the `correlationid` extension.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime

from contracts import IntegrationEvent

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"

correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)
trace_id_var: ContextVar[str | None] = ContextVar("trace_id", default=None)


@dataclass(frozen=True)
class OutgoingMessage:
    """Everything the relay needs to put one event on Kafka."""

    event_id: str
    topic: str
    key: str
    headers: dict[str, str]
    value: bytes


def new_traceparent() -> str:
    """Continue the current trace with a new span, or start a new trace."""
    trace_id = trace_id_var.get() or secrets.token_hex(16)
    return f"00-{trace_id}-{secrets.token_hex(8)}-01"


TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")


def trace_id_from(traceparent: str | None) -> str | None:
    """The trace id of a W3C `traceparent`, or None when it is absent or malformed."""
    found = TRACEPARENT.match(traceparent or "")
    if found is None or found.group(1) == "0" * 32:
        return None
    return found.group(1)


CLOUDEVENT_ATTRIBUTES = (
    "ce_specversion",
    "ce_id",
    "ce_source",
    "ce_type",
    "ce_subject",
    "ce_time",
    "ce_dataschema",
    "ce_correlationid",
)


def attributes_of(headers: Mapping[str, str]) -> dict[str, str]:
    """The CloudEvents attributes among a record's headers: what a forward repeats."""
    return {name: headers[name] for name in CLOUDEVENT_ATTRIBUTES if name in headers}


_FORWARDS = uuid.UUID("0b9f6c54-34a5-4a58-9a59-3c4f0d1c7e21")
"""Namespace of the outbox ids of forwarded events (one per event and topic)."""


def forwarded(
    event: IntegrationEvent, topic: str, attributes: Mapping[str, str]
) -> OutgoingMessage:
    """`event`, consumed with `attributes`, on `topic` as the same CloudEvent: its id,
    source, type, subject and time stay, so that a reader of `topic` deduplicates and
    orders it as any reader of the original does. Its data is `event`: what this topic's
    reader may see of it."""
    subject = event.aggregate_id()
    headers = {
        "ce_specversion": SPEC_VERSION,
        "ce_time": datetime.now(UTC).isoformat(),
        "ce_correlationid": correlation_id_var.get() or subject,
        **attributes,
        "ce_type": event.event_type,
        "ce_subject": subject,
        "ce_dataschema": event.schema_uri(),
        "content-type": CONTENT_TYPE,
        "traceparent": new_traceparent(),
    }
    identity = f"{topic}\n{headers.get('ce_source', '')}\n{headers.get('ce_id', '')}"
    return OutgoingMessage(
        event_id=str(uuid.uuid5(_FORWARDS, identity)),
        topic=topic,
        key=subject,
        headers=headers,
        value=event.model_dump_json().encode(),
    )


def envelope(event: IntegrationEvent, source: str) -> OutgoingMessage:
    """Wrap `event` for Kafka; `source` is the producing service, e.g. `/brobygger/referrals`."""
    event_id = str(uuid.uuid4())
    subject = event.aggregate_id()
    headers = {
        "ce_specversion": SPEC_VERSION,
        "ce_id": event_id,
        "ce_source": source,
        "ce_type": event.event_type,
        "ce_subject": subject,
        "ce_time": datetime.now(UTC).isoformat(),
        "ce_dataschema": event.schema_uri(),
        "ce_correlationid": correlation_id_var.get() or subject,
        "content-type": CONTENT_TYPE,
        "traceparent": new_traceparent(),
    }
    return OutgoingMessage(
        event_id=event_id,
        topic=event.topic,
        key=subject,
        headers=headers,
        value=event.model_dump_json().encode(),
    )
