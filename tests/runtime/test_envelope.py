"""Events leave as CloudEvents 1.0 in Kafka binary mode."""

import re
import uuid

import pytest

from contracts import ALL_EVENTS
from runtime.envelope import (
    correlation_id_var,
    envelope,
    trace_id_from,
    trace_id_var,
)
from tests.cloudevents import validated_cloudevent
from tests.events import referral_submitted


def test_an_emitted_envelope_validates_against_the_cloudevents_schema() -> None:
    message = envelope(referral_submitted(), "/brobygger/referrals")
    event = validated_cloudevent(message.headers, message.value)
    assert event["specversion"] == "1.0"
    assert event["datacontenttype"] == "application/json"


def test_the_key_and_subject_are_the_aggregate_id_and_the_id_is_a_fresh_uuid() -> None:
    event = referral_submitted()
    first = envelope(event, "/brobygger/referrals")
    second = envelope(event, "/brobygger/referrals")
    assert first.key == first.headers["ce_subject"] == str(event.referral_id)
    assert uuid.UUID(first.headers["ce_id"]) != uuid.UUID(second.headers["ce_id"])
    assert first.topic == "referrals.referral.v1"


def test_a_consumed_events_trace_and_correlation_carry_on_into_what_it_causes() -> None:
    trace = trace_id_var.set("4bf92f3577b34da6a3ce929d0e0e4736")
    correlation = correlation_id_var.set("referral-1")
    try:
        message = envelope(referral_submitted(), "/brobygger/referrals")
    finally:
        trace_id_var.reset(trace)
        correlation_id_var.reset(correlation)
    assert message.headers["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    assert message.headers["ce_correlationid"] == "referral-1"


@pytest.mark.parametrize("event", ALL_EVENTS, ids=lambda e: e.__name__)
def test_every_event_type_follows_the_naming_rules(event: type) -> None:
    service = event.topic.split(".")[0]
    assert event.event_type.startswith(f"dk.brobygger.{service}.")
    # A major version of an event type travels on the topic of that major version.
    version = event.event_type.rsplit(".", 1)[1]
    assert re.fullmatch(r"v[1-9][0-9]*", version) and event.topic.endswith(f".{version}")
    assert len(event.event_type.split(".")) == 6


@pytest.mark.parametrize(
    "traceparent",
    [
        None,
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473x-00f067aa0ba902b7-01",
    ],
)
def test_a_missing_or_malformed_traceparent_starts_a_new_trace(traceparent: str | None) -> None:
    assert trace_id_from(traceparent) is None


def test_a_valid_traceparent_gives_its_trace_id() -> None:
    header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert trace_id_from(header) == "4bf92f3577b34da6a3ce929d0e0e4736"
