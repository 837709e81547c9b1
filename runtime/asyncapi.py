"""AsyncAPI 3.0 documents generated from a service's declared events.

Built from `contracts` rather than from FastStream's introspection, because a service's
single subscriber per topic receives several event types and FastStream cannot describe
the CloudEvents headers each message carries.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from contracts import IntegrationEvent

CLOUDEVENT_HEADERS: dict[str, Any] = {
    "type": "object",
    "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_subject", "ce_time"],
    "properties": {
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_id": {"type": "string", "format": "uuid", "description": "Deduplication key."},
        "ce_source": {"type": "string", "description": "The producing service."},
        "ce_type": {"type": "string"},
        "ce_subject": {"type": "string", "description": "The aggregate id; also the key."},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_dataschema": {"type": "string", "format": "uri"},
        "ce_correlationid": {"type": "string", "description": "What started the chain."},
        "content-type": {"type": "string", "const": "application/json"},
        "traceparent": {"type": "string", "description": "W3C trace context."},
    },
}


def _message_name(event: type[IntegrationEvent]) -> str:
    return event.__name__


def _channel_name(topic: str) -> str:
    return topic.replace(".", "_")


def _components(
    events: Iterable[type[IntegrationEvent]],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The messages and payload schemas of `events`, for `components`."""
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for event in events:
        name = _message_name(event)
        schema = event.model_json_schema(ref_template="#/components/schemas/{model}")
        for def_name, definition in schema.pop("$defs", {}).items():
            schemas[def_name] = definition
        schemas[name] = schema
        messages[name] = {
            "name": event.event_type,
            "title": name,
            "summary": (event.__doc__ or "").strip().splitlines()[0],
            "contentType": "application/json",
            "headers": CLOUDEVENT_HEADERS,
            "payload": {"$ref": f"#/components/schemas/{name}"},
            "bindings": {
                "kafka": {
                    "key": {"type": "string", "description": f"The event's `{event.key_field}`."},
                    "bindingVersion": "0.5.0",
                }
            },
        }
    return messages, schemas


def _partner_channel(message_names: Iterable[str]) -> dict[str, Any]:
    return {
        "address": "partner.{organizationId}.v1",
        "title": "A partner organisation's own topic",
        "parameters": {"organizationId": {"description": "The organisation's id (a UUID)."}},
        "messages": {
            name: {"$ref": f"#/components/messages/{name}"} for name in sorted(message_names)
        },
    }


def _partner_operation(action: str, message_names: Iterable[str]) -> dict[str, Any]:
    return {
        "action": action,
        "channel": {"$ref": "#/channels/partner"},
        "messages": [
            {"$ref": f"#/channels/partner/messages/{name}"} for name in sorted(message_names)
        ],
    }


def asyncapi_document(
    service: str,
    *,
    publishes: Iterable[type[IntegrationEvent]],
    consumes: Iterable[type[IntegrationEvent]],
    forwards_to_partners: Iterable[type[IntegrationEvent]] = (),
    version: str = "1.0.0",
    kafka_url: str = "127.0.0.1:9092",
) -> dict[str, Any]:
    """`forwards_to_partners`: the consumed events the service writes on partner
    organisations' own topics, as their sources published them."""
    published = list(publishes)
    consumed = list(consumes)
    partners = list(forwards_to_partners)
    forwarded = [_message_name(event) for event in partners]
    channels: dict[str, Any] = {}
    messages, schemas = _components([*published, *consumed, *partners])
    for event in [*published, *consumed]:
        name = _message_name(event)
        channel = channels.setdefault(
            _channel_name(event.topic),
            {"address": event.topic, "messages": {}},
        )
        channel["messages"][name] = {"$ref": f"#/components/messages/{name}"}

    operations: dict[str, Any] = {}
    for action, events in (("send", published), ("receive", consumed)):
        by_topic: dict[str, list[type[IntegrationEvent]]] = {}
        for event in events:
            by_topic.setdefault(event.topic, []).append(event)
        for topic, topic_events in sorted(by_topic.items()):
            channel = _channel_name(topic)
            operations[f"{action}_{channel}"] = {
                "action": action,
                "channel": {"$ref": f"#/channels/{channel}"},
                "messages": [
                    {"$ref": f"#/channels/{channel}/messages/{_message_name(e)}"}
                    for e in topic_events
                ],
            }
    if forwarded:
        channels["partner"] = _partner_channel(forwarded)
        operations["send_partner"] = _partner_operation("send", forwarded)

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": f"Brobygger {service}",
            "version": version,
            "description": (
                f"Events the {service} service publishes and consumes. Every message is a "
                "CloudEvents 1.0 event in Kafka binary mode, keyed by its aggregate id."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {"host": kafka_url, "protocol": "kafka", "description": "Local broker."}
        },
        "channels": dict(sorted(channels.items())),
        "operations": operations,
        "components": {
            "messages": dict(sorted(messages.items())),
            "schemas": dict(sorted(schemas.items())),
        },
    }


def partner_topic_document(
    events: Iterable[type[IntegrationEvent]],
    *,
    version: str = "1.0.0",
    kafka_url: str = "127.0.0.1:9092",
) -> dict[str, Any]:
    """The AsyncAPI document a partner organisation reads its own topic by: what it
    receives on `partner.{organizationId}.v1`, and how it logs in."""
    messages, schemas = _components(events)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Brobygger: a partner organisation's own topic",
            "version": version,
            "description": (
                "The events meant for one partner organisation, exactly as its webhook "
                "carries them and never with a citizen's personal data: new offers, "
                "withdrawn and expired offers, follow-ups due and overdue, deletion notices, "
                "grant pools opening, grant decisions and overdue grant reports. Each is the "
                "CloudEvents 1.0 event its source published, in Kafka binary mode, with the "
                "same `ce_id` and `ce_source` (deduplicate by them) and keyed by its "
                "aggregate id, whose events arrive in order. A partner reads only its own "
                "topic, logged in as `partner-<organisation-id>` with the password "
                "`brobygger partners kafka-access` printed, in consumer groups whose names "
                "start with `partner-<organisation-id>`."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": kafka_url,
                "protocol": "kafka",
                "description": "The local broker (SASL_PLAINTEXT); in production SASL_SSL.",
                "security": [{"$ref": "#/components/securitySchemes/partnerLogin"}],
            }
        },
        "channels": {"partner": _partner_channel(messages)},
        "operations": {"receive_partner": _partner_operation("receive", messages)},
        "components": {
            "messages": dict(sorted(messages.items())),
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "partnerLogin": {
                    "type": "scramSha512",
                    "description": "SASL/SCRAM-SHA-512 as `partner-<organisation-id>`.",
                }
            },
        },
    }
