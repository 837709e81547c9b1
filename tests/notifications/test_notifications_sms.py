"""SMS through GatewayAPI, against a real HTTP server on a local port that plays the gateway.

The server checks nothing itself: it records what arrived and answers what the test says,
so each test states what GatewayAPI's documentation asks for.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from notifications.channels.sms import (
    GatewayApi,
    InvalidPhoneNumber,
    SmsNotSent,
    SmsSettings,
    normalise_phone_number,
    sms_gateway,
)

TOKEN = "gw-token-Zq8v1XkT0pLr"
PHONE = "+45 23 45 67 89"
PHONE_FORMS = ("+4523456789", "4523456789", "23456789", "23 45 67 89")
"""The recipient's number as it might be quoted: none of these may leak."""
INCIDENT = "d8127429-fa0c-4316-b1f2-e610c3958f43"
TEXT = "Der er nyt i Brobygger. Log ind på brobygger.kk.dk for at læse det."


@dataclass
class Arrived:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeGateway:
    """What the local server answers, and what reached it."""

    url: str = ""
    status: int = 200
    answer: Any = field(default_factory=lambda: {"ids": [421332671], "usage": {}})
    hang: bool = False
    """Answer nothing until the test ends: a gateway that does not answer in time."""
    arrived: list[Arrived] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def gateway_server() -> Iterator[FakeGateway]:
    fake = FakeGateway()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["content-length"]))
            fake.arrived.append(
                Arrived(
                    "POST",
                    self.path,
                    {name.lower(): value for name, value in self.headers.items()},
                    json.loads(raw),
                )
            )
            if fake.hang:
                fake.release.wait(timeout=30)
                return
            payload = json.dumps(fake.answer).encode()
            self.send_response(fake.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test output is not the place for access logs."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    # A short poll interval: shutdown waits for the current one to end.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.release.set()
        server.shutdown()
        server.server_close()


def gatewayapi(base_url: str, *, timeout_seconds: float = 5.0) -> GatewayApi:
    gateway = sms_gateway(
        SmsSettings(
            provider="gatewayapi",
            base_url=base_url,
            token=TOKEN,
            sender="Brobygger",
            timeout_seconds=timeout_seconds,
        )
    )
    assert isinstance(gateway, GatewayApi)
    return gateway


async def refusal(gateway: GatewayApi, to: str = PHONE, text: str = TEXT) -> SmsNotSent:
    with pytest.raises(SmsNotSent) as caught:
        await gateway.send(to, text, "delivery-1")
    return caught.value


def assert_tells_nothing_personal_or_secret(error: SmsNotSent) -> None:
    told = "".join(traceback.format_exception(error)) + repr(error)
    for secret in (TOKEN, *PHONE_FORMS):
        assert secret not in told


# Sending


async def test_an_sms_is_posted_to_gatewayapis_mtsms_endpoint_with_the_token_and_documented_json(
    gateway_server: FakeGateway,
) -> None:
    message_id = await gatewayapi(gateway_server.url + "/").send(PHONE, TEXT, "delivery-1")

    assert message_id == "421332671"
    [request] = gateway_server.arrived
    assert (request.method, request.path) == ("POST", "/rest/mtsms")
    assert request.headers["authorization"] == f"Token {TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert request.body == {
        "sender": "Brobygger",
        "message": TEXT,
        "encoding": "UTF8",
        "recipients": [{"msisdn": 4523456789}],
        "userref": "delivery-1",
    }


async def test_sending_logs_neither_the_token_nor_the_number(
    gateway_server: FakeGateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    await gatewayapi(gateway_server.url).send(PHONE, TEXT, "delivery-1")

    assert caplog.records, "the HTTP client's own logs are captured"
    for secret in (TOKEN, *PHONE_FORMS):
        assert secret not in caplog.text


async def test_a_long_danish_text_goes_whole_as_gsm7_for_the_gateway_to_split(
    gateway_server: FakeGateway,
) -> None:
    text = "Æbler, øl og ål på Nørrebro. " * 10

    await gatewayapi(gateway_server.url).send(PHONE, text, "delivery-1")

    assert len(text) > 160
    [request] = gateway_server.arrived
    assert (request.body["message"], request.body["encoding"]) == (text, "UTF8")


async def test_a_text_with_a_character_outside_gsm7_goes_whole_as_ucs2(
    gateway_server: FakeGateway,
) -> None:
    text = "Nyt i Brobygger \u2013 log ind for at læse det \u201ci dag\u201d \U0001f642. " * 2

    await gatewayapi(gateway_server.url).send(PHONE, text, "delivery-1")

    [request] = gateway_server.arrived
    assert (request.body["message"], request.body["encoding"]) == (text, "UCS2")


# Failures


@pytest.mark.parametrize(
    ("status", "permanent"),
    [
        (400, True),
        (401, True),
        (403, True),
        (422, True),
        (408, False),
        (429, False),
        (500, False),
        (503, False),
    ],
)
async def test_a_refusal_by_the_gateway_is_final_for_a_client_error_and_temporary_otherwise(
    gateway_server: FakeGateway, status: int, permanent: bool
) -> None:
    gateway_server.status = status
    gateway_server.answer = {"code": "0x0213", "incident_uuid": INCIDENT, "message": "No."}

    error = await refusal(gatewayapi(gateway_server.url))

    assert error.permanent is permanent
    assert (
        str(error) == f"the gateway answered HTTP {status} (code 0x0213, incident_uuid {INCIDENT})"
    )


async def test_an_error_answer_quoting_the_token_and_number_is_not_quoted_further(
    gateway_server: FakeGateway,
) -> None:
    gateway_server.status = 400
    gateway_server.answer = {
        "code": "0x0b00",
        "incident_uuid": "23456789",
        "message": "Invalid recipient %1 for token %2",
        "variables": [4523456789, TOKEN],
    }

    error = await refusal(gatewayapi(gateway_server.url))

    assert_tells_nothing_personal_or_secret(error)
    assert str(error) == "the gateway answered HTTP 400 (code 0x0b00)"


async def test_a_gateway_that_refuses_the_connection_is_tried_again_later() -> None:
    # Bound but not listening: a connection to it is refused at once.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        error = await refusal(gatewayapi(f"http://127.0.0.1:{closed.getsockname()[1]}"))

    assert error.permanent is False
    assert str(error) == "could not reach the gateway: ConnectError"
    assert_tells_nothing_personal_or_secret(error)


async def test_a_gateway_that_does_not_answer_in_time_is_tried_again_later(
    gateway_server: FakeGateway,
) -> None:
    gateway_server.hang = True

    error = await refusal(gatewayapi(gateway_server.url, timeout_seconds=0.2))

    assert (error.permanent, str(error)) == (False, "the gateway did not answer in time")
    assert len(gateway_server.arrived) == 1
    assert_tells_nothing_personal_or_secret(error)


async def test_an_answer_without_a_message_id_is_final_so_the_sms_is_not_sent_twice(
    gateway_server: FakeGateway,
) -> None:
    gateway_server.answer = {"usage": {}}

    error = await refusal(gatewayapi(gateway_server.url))

    assert error.permanent is True
    assert "without a message id" in str(error)


@pytest.mark.parametrize(("to", "text"), [("2345678x", TEXT), ("4523456789", TEXT), (PHONE, " ")])
async def test_a_number_that_is_not_one_or_an_empty_text_is_refused_without_calling_the_gateway(
    gateway_server: FakeGateway, to: str, text: str
) -> None:
    error = await refusal(gatewayapi(gateway_server.url), to=to, text=text)

    assert error.permanent is True
    assert gateway_server.arrived == []
    assert_tells_nothing_personal_or_secret(error)


# Phone numbers


@pytest.mark.parametrize(
    ("number", "e164"),
    [
        ("+45 12 34 56 78", "+4512345678"),
        ("+4512345678", "+4512345678"),
        ("12345678", "+4512345678"),
        ("12 34 56 78", "+4512345678"),
        ("0045 12345678", "+4512345678"),
        ("0045-1234-5678", "+4512345678"),
        ("(+45) 12.34.56.78", "+4512345678"),
        ("+46 70 123 45 67", "+46701234567"),
        ("0046 70-123 45 67", "+46701234567"),
    ],
)
def test_a_phone_number_is_normalised_to_e164_danish_ones_getting_plus_45(
    number: str, e164: str
) -> None:
    assert normalise_phone_number(number) == e164


@pytest.mark.parametrize(
    "number",
    [
        "",
        "+",
        "1234567a",
        "tolv tre",
        "+45 12 34 56 7B",
        "1234567",  # seven digits: not a Danish number, and no country code
        "4512345678",  # a country code without + or 00 is not guessed at
        "+45 1234567",
        "+45 123456789",
        "0045 12345678 9",
        "+0123456789",
        "+1234567890123456",  # 16 digits: longer than E.164 allows
        "+123456",
        "\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18",  # full-width digits
    ],
)
def test_what_is_not_a_phone_number_is_refused_without_being_quoted(number: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as caught:
        normalise_phone_number(number)

    if number.strip("+"):
        assert number not in str(caught.value)


# Settings


def test_no_gateway_without_a_provider() -> None:
    assert sms_gateway(SmsSettings()) is None


@pytest.mark.parametrize(
    "settings",
    [
        {"provider": "smsbox"},
        {"base_url": "gatewayapi.com"},
        {"token": ""},
        {"sender": "Brobygger København"},
        {"sender": "Brobygger!"},
        {"sender": "1234567890123456"},
        {"timeout_seconds": 0},
    ],
)
def test_a_provider_that_cannot_work_is_refused_at_start(settings: dict[str, Any]) -> None:
    good: dict[str, Any] = {
        "provider": "gatewayapi",
        "base_url": "https://gatewayapi.eu",
        "token": TOKEN,
        "sender": "Brobygger",
    }
    with pytest.raises(ValueError, match="SMS") as caught:
        SmsSettings(**(good | settings))

    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize("sender", ["Brobygger", "KK Bro 2200", "4512345678", "451234567890123"])
def test_a_sender_of_up_to_11_letters_or_15_digits_is_taken(sender: str) -> None:
    settings = SmsSettings(
        provider="gatewayapi", base_url="https://gatewayapi.com", token=TOKEN, sender=sender
    )

    assert isinstance(sms_gateway(settings), GatewayApi)
    assert TOKEN not in repr(settings)
