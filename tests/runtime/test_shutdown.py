"""A service asked to stop stops within BROBYGGER_SHUTDOWN_SECONDS, also when the broker went
away while its producer still held events: aiokafka's producer alone waits for ever to flush
them, and an orchestrator's SIGTERM would end in a SIGKILL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from runtime.envelope import OutgoingMessage
from tests.conftest import TEST_KAFKA_PORT, control_test_broker, log_events, script_broker
from tests.kit import wait_for
from tests.runtime.test_health import bare_service, kafka_in_health

# A broker of this module's own, which it stops; never the session's.
OWN_BROKER_PORT = TEST_KAFKA_PORT + 12
SHUTDOWN_SECONDS = 2.0


@pytest.fixture
def own_broker() -> Iterator[str]:
    with script_broker(OWN_BROKER_PORT) as bootstrap:
        yield bootstrap


@pytest.mark.infra
def test_a_service_stops_within_its_shutdown_time_when_the_broker_left_with_events_unsent(
    own_broker: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    runtime, app = bare_service(
        f"sqlite:///{tmp_path}/probe.db", own_broker, BROBYGGER_SHUTDOWN_SECONDS=SHUTDOWN_SECONDS
    )
    message = OutgoingMessage("e-1", "referrals.referral.v1", "k", {}, b"{}")
    client = TestClient(app)
    client.__enter__()
    wait_for(lambda: kafka_in_health(client), "the service connects to the broker", 30)
    portal = client.portal
    assert portal is not None
    portal.call(runtime.publish, message)  # the topic's leader is known from now on

    control_test_broker("stop", OWN_BROKER_PORT)
    portal.call(runtime.publish, message)  # held by the producer: nobody to take it

    stopped = threading.Event()

    def stop() -> None:
        client.__exit__(None, None, None)
        stopped.set()

    began = time.monotonic()
    threading.Thread(target=stop, daemon=True).start()
    # Generous beside the 2 s asked for; without the bound it does not stop in minutes.
    assert stopped.wait(SHUTDOWN_SECONDS + 30), "the service did not stop"
    assert time.monotonic() - began >= SHUTDOWN_SECONDS  # it did wait for the flush first
    assert "service.kafka_stop_timed_out" in [line["event"] for line in log_events(caplog)]
