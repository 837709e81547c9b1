"""Checks events against the CloudEvents 1.0 JSON Schema (contracts/standards/cloudevents)."""

from __future__ import annotations

import json

import jsonschema

from tools.contracts import STANDARDS

SCHEMA = json.loads((STANDARDS / "cloudevents" / "cloudevents.json").read_text())


def validated_cloudevent(headers: dict[str, str], value: bytes) -> dict[str, object]:
    """A binary-mode Kafka record in CloudEvents' structured form, validated by the schema."""
    event: dict[str, object] = {
        name.removeprefix("ce_"): text for name, text in headers.items() if name.startswith("ce_")
    }
    event["datacontenttype"] = headers["content-type"]
    event["data"] = json.loads(value)
    jsonschema.Draft7Validator(SCHEMA).validate(event)
    return event
