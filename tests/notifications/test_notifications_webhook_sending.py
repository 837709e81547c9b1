"""Sending one webhook against real local endpoints, over TLS too: the name is resolved
once, judged, connected to at that very address and verified by its certificate; the
deadline and the cap on the answer bound what an endpoint can cost. And the dispatcher,
which records each outcome as soon as it is known."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from notifications import services
from notifications.channels.webhook import Resolve, WebhookResult, send_webhook
from notifications.domain import Delivery, DeliveryStatus, RetryPolicy
from notifications.webhooks import new_secret, sign
from tests.events import referral_offered
from tests.fakes import FakeClock
from tests.kit import eventually, record_of
from tests.notifications.receiver import Receiver, webhook_receiver
from tests.notifications.support import (
    ORG,
    OTHER_ORG,
    StartUow,
    add_webhook,
    consume,
    webhook_dispatcher,
)

NAME = "partner.test"
BODY = b'{"type":"dk.brobygger.test","data":{}}'
HEADERS = {"content-type": "application/json", "webhook-id": "msg_1"}
PATTERN = bytes(range(256)) * 256
"""What an endless answer repeats: 64 KiB, every byte value, so a cut shows where it fell."""


@dataclass(frozen=True)
class Certificate:
    cert_file: Path
    key_file: Path
    pem: str

    def trusted(self) -> ssl.SSLContext:
        """A client's trust in this certificate alone, verifying names as for the internet."""
        return ssl.create_default_context(cadata=self.pem)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for NAME only: not for 127.0.0.1, where the server is."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])
    now = datetime.now(UTC)  # what OpenSSL checks the validity against
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (folder / "cert.pem").write_bytes(pem)
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(folder / "cert.pem", folder / "key.pem", pem.decode())


@dataclass
class Request:
    host: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Endpoint:
    port: int
    requests: list[Request] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)
    """The TLS server name (SNI) of each handshake."""
    arrived: threading.Event = field(default_factory=threading.Event)
    """Set when a request has come in."""
    release: threading.Event = field(default_factory=threading.Event)
    """Set to let an endpoint that holds its answer back go."""


def answer(handler: BaseHTTPRequestHandler, endpoint: Endpoint) -> None:
    handler.send_response(204)
    handler.end_headers()


def redirect(handler: BaseHTTPRequestHandler, endpoint: Endpoint) -> None:
    handler.send_response(307)
    handler.send_header("location", f"http://127.0.0.1:{endpoint.port}/elsewhere")
    handler.send_header("content-length", "0")
    handler.end_headers()


def never_answer(handler: BaseHTTPRequestHandler, endpoint: Endpoint) -> None:
    """Hold the request until released, then hang up without a word."""
    endpoint.release.wait()


def trickle(handler: BaseHTTPRequestHandler, endpoint: Endpoint) -> None:
    """Answer a byte of a never-ending header every 50 ms: no read ever waits long."""
    handler.wfile.write(b"HTTP/1.1 200 OK\r\nx-slow: ")
    while not endpoint.release.wait(0.05):
        handler.wfile.write(b"a")
        handler.wfile.flush()


def endless(handler: BaseHTTPRequestHandler, endpoint: Endpoint) -> None:
    """A 200 whose body goes on until the client hangs up."""
    handler.send_response(200)
    handler.send_header("content-length", str(10**12))
    handler.end_headers()
    try:
        while not endpoint.release.is_set():
            handler.wfile.write(PATTERN)
    except OSError:
        return  # the client stopped reading and closed


Behaviour = Callable[[BaseHTTPRequestHandler, Endpoint], None]


@contextmanager
def endpoint(behaviour: Behaviour, certificate: Certificate | None = None) -> Iterator[Endpoint]:
    """An HTTP(S) endpoint on 127.0.0.1 that records each request, then behaves so."""
    seen = Endpoint(port=0)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            headers = {name.lower(): value for name, value in self.headers.items()}
            seen.requests.append(Request(self.headers["host"], self.path, headers, body))
            seen.arrived.set()
            behaviour(self, seen)
            self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test output is not the place for access logs."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    seen.port = server.server_address[1]
    if certificate is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate.cert_file, certificate.key_file)
        context.sni_callback = lambda _socket, name, _context: seen.server_names.append(name)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        seen.release.set()
        server.shutdown()
        server.server_close()


@dataclass
class Resolver:
    """A resolver answering from a script, one answer per call, the last one from then on."""

    answers: list[list[str]]
    asked: list[tuple[str, int]] = field(default_factory=list)

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        return self.answers[min(len(self.asked), len(self.answers)) - 1]


def no_lookups(host: str, port: int) -> list[str]:
    raise AssertionError("an address literal needs no lookup")


async def send(
    url: str,
    *,
    resolve: Resolve = no_lookups,
    allow_private: bool = True,
    deadline: float = 10,
    cap: int = 64 * 1024,
    tls: ssl.SSLContext | None = None,
) -> WebhookResult:
    return await send_webhook(
        url,
        BODY,
        HEADERS,
        resolve=resolve,
        allow_private=allow_private,
        deadline_seconds=deadline,
        max_response_bytes=cap,
        tls=tls,
    )


async def test_tls_verifies_the_name_while_the_connection_goes_to_the_address_it_resolved_to(
    certificate: Certificate,
) -> None:
    with endpoint(answer, certificate) as partner:
        url = f"https://{NAME}:{partner.port}/hooks?kind=referral"
        resolver = Resolver([["127.0.0.1"]])
        result = await send(url, resolve=resolver, tls=certificate.trusted())
    assert (result.status, result.error, result.failure) == (204, None, None)
    assert partner.server_names == [NAME]
    [request] = partner.requests
    assert (request.host, request.path, request.body) == (
        f"{NAME}:{partner.port}",
        "/hooks?kind=referral",
        BODY,
    )
    assert request.headers["webhook-id"] == "msg_1"
    assert resolver.asked == [(NAME, partner.port)]


async def test_a_certificate_for_another_name_fails_the_attempt_before_any_request(
    certificate: Certificate,
) -> None:
    with endpoint(answer, certificate) as partner:
        url = f"https://other.test:{partner.port}/hooks"
        result = await send(url, resolve=Resolver([["127.0.0.1"]]), tls=certificate.trusted())
    assert result.status is None
    assert result.failure == result.error
    assert result.error is not None
    assert result.error.startswith("ConnectError: ")
    assert "certificate verify failed" in result.error
    assert partner.server_names == ["other.test"]
    assert partner.requests == []


@pytest.mark.parametrize(
    "answers",
    [["127.0.0.1"], ["93.184.215.14", "127.0.0.1"], ["64:ff9b::7f00:1"], ["::ffff:127.0.0.1"]],
)
async def test_a_name_resolving_to_a_private_address_is_refused_without_connecting(
    answers: list[str],
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listening:
        port = listening.getsockname()[1]
        resolver = Resolver([answers])
        result = await send(f"https://{NAME}:{port}/hooks", resolve=resolver, allow_private=False)
        listening.setblocking(False)
        with pytest.raises(BlockingIOError):
            listening.accept()  # nobody knocked
    private = next(a for a in answers if a != "93.184.215.14")
    assert result.error == f"refused: {NAME} resolves to a private address {private}"
    assert resolver.asked == [(NAME, port)]


async def test_the_name_is_resolved_once_and_a_changed_second_answer_is_never_used(
    certificate: Certificate,
) -> None:
    with endpoint(answer, certificate) as partner:
        # Rebound after the first answer, to an address where nothing answers.
        resolver = Resolver([["127.0.0.1"], ["192.0.2.1"]])
        result = await send(
            f"https://{NAME}:{partner.port}/hooks", resolve=resolver, tls=certificate.trusted()
        )
    assert result.status == 204
    assert resolver.asked == [(NAME, partner.port)]
    assert len(partner.requests) == 1


async def test_outside_development_a_url_that_is_not_https_is_refused_before_any_lookup() -> None:
    result = await send(f"http://{NAME}/hooks", resolve=no_lookups, allow_private=False)
    assert result.error == "refused: a webhook URL must be https"


async def test_an_address_literal_is_connected_to_without_a_lookup() -> None:
    with endpoint(answer) as partner:
        result = await send(f"http://127.0.0.1:{partner.port}/hooks", resolve=no_lookups)
    assert result.status == 204
    assert partner.requests[0].host == f"127.0.0.1:{partner.port}"


@pytest.mark.parametrize("behaviour", [never_answer, trickle], ids=["silent", "trickling"])
async def test_an_endpoint_that_does_not_finish_answering_is_cut_at_the_deadline(
    behaviour: Behaviour,
) -> None:
    deadline = 0.5
    with endpoint(behaviour) as partner:
        started = time.monotonic()
        # The test's own limit, far beyond the deadline, in case it is not kept.
        async with asyncio.timeout(20):
            result = await send(f"http://127.0.0.1:{partner.port}/hooks", deadline=deadline)
        took = time.monotonic() - started
        assert partner.arrived.is_set()
    assert result.error == "TimeoutError: no answer within 0.5 s"
    assert deadline <= took < deadline + 2


async def test_a_huge_answer_is_read_only_up_to_the_cap() -> None:
    with endpoint(endless) as partner:
        # An endless body read whole would run into the deadline instead.
        result = await send(f"http://127.0.0.1:{partner.port}/hooks", cap=1000, deadline=20)
    assert (result.status, result.error) == (200, None)
    assert result.body == PATTERN[:1000]


async def test_a_redirect_is_not_followed_and_fails_the_attempt() -> None:
    with endpoint(redirect) as partner:
        result = await send(f"http://127.0.0.1:{partner.port}/hooks")
    assert (result.status, result.failure) == (307, "HTTP 307")
    assert [r.path for r in partner.requests] == ["/hooks"]


async def test_an_unreachable_endpoint_is_an_error_naming_neither_path_nor_query() -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    result = await send(f"http://127.0.0.1:{port}/hooks-s3cr3t?token=t0k3n")
    assert result.error is not None
    assert result.error.startswith("ConnectError: ")
    assert "s3cr3t" not in result.error
    assert "t0k3n" not in result.error


async def test_a_name_that_does_not_resolve_is_an_error() -> None:
    def unknown(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    result = await send(f"https://{NAME}/hooks", resolve=unknown, allow_private=False)
    assert result.error == "gaierror: [Errno -2] Name or service not known"


def test_while_a_secret_is_rotated_the_old_and_the_new_one_both_sign() -> None:
    old, new = new_secret(), new_secret()
    signatures = sign([old, new], "msg_1", 1700000000, "{}")
    assert len(signatures.split(" ")) == 2
    assert all(s.startswith("v1,") for s in signatures.split(" "))
    for secret, verifies in [(old, True), (new, True), (new_secret(), False)]:
        receiver = Receiver(url="", secret=secret)
        assert receiver.verify("msg_1", "1700000000", b"{}", signatures) is verifies


def test_a_webhook_is_not_signed_with_no_secret() -> None:
    with pytest.raises(ValueError, match="at least one secret"):
        sign([], "msg_1", 1700000000, "{}")


# The dispatcher: one round, one endpoint that hangs and one that answers at once.


async def register_and_offer(
    start_uow: StartUow, organization_id: UUID, url: str, offset: int
) -> str:
    """Register `url` as the organisation's webhook and consume an offer to it; returns
    the webhook's secret."""
    _, secret = add_webhook(start_uow, url, organization_id)
    record = record_of(referral_offered(organization_id=organization_id), offset)
    assert await consume(start_uow, record) == []
    return secret


def pending_to(start_uow: StartUow, organization_id: UUID) -> Delivery:
    pending = services.recent_deliveries(start_uow, status=DeliveryStatus.PENDING, limit=10)
    [delivery] = [d for d in pending if d.organization_id == organization_id]
    return delivery


def stored(start_uow: StartUow, delivery_id: UUID) -> Delivery:
    with start_uow() as uow:
        found = uow.deliveries.get(delivery_id)
    assert found is not None
    return found


async def test_a_hanging_endpoint_holds_back_neither_the_sending_nor_the_recording_of_others(
    start_uow: StartUow,
) -> None:
    with endpoint(never_answer) as hanging, webhook_receiver() as quick:
        slow_url = f"http://127.0.0.1:{hanging.port}/hooks"
        await register_and_offer(start_uow, ORG, slow_url, 0)
        quick.secret = await register_and_offer(start_uow, OTHER_ORG, quick.url, 1)
        slow, fast = pending_to(start_uow, ORG), pending_to(start_uow, OTHER_ORG)
        assert slow.next_attempt_at is not None and fast.next_attempt_at is not None
        sender = webhook_dispatcher(
            start_uow,
            FakeClock(max(slow.next_attempt_at, fast.next_attempt_at)),
            policy=RetryPolicy(max_attempts=3, first_delay=timedelta(minutes=5)),
            resolve=no_lookups,
            timeout_seconds=60,
        )
        round_ = asyncio.create_task(sender.dispatch_due())
        await eventually(
            lambda: stored(start_uow, fast.id).status is DeliveryStatus.DELIVERED,
            "the quick endpoint's delivery to be recorded",
            timeout=20,
        )
        # Recorded while the other request is still held, long before its deadline.
        assert hanging.arrived.is_set()
        assert not round_.done()
        assert stored(start_uow, slow.id).attempts == 0
        hanging.release.set()
        assert await asyncio.wait_for(round_, timeout=20) == 2
    assert [r.signature_valid for r in quick.received] == [True]
    held = stored(start_uow, slow.id)
    assert (held.status, held.attempts) == (DeliveryStatus.PENDING, 1)
    assert held.last_error is not None
    assert held.last_error.startswith("RemoteProtocolError: ")


async def test_a_delivery_due_while_an_endpoint_hangs_is_sent_without_waiting_for_it(
    start_uow: StartUow,
) -> None:
    with endpoint(never_answer) as hanging, webhook_receiver() as quick:
        await register_and_offer(start_uow, ORG, f"http://127.0.0.1:{hanging.port}/hooks", 0)
        slow = pending_to(start_uow, ORG)
        sender = webhook_dispatcher(
            start_uow,
            # Past when anything of this test falls due: the offers are consumed on the
            # wall clock.
            FakeClock(datetime.now(UTC) + timedelta(hours=1)),
            policy=RetryPolicy(max_attempts=3, first_delay=timedelta(minutes=5)),
            resolve=no_lookups,
            timeout_seconds=60,
        )
        running = asyncio.create_task(sender.run())
        try:
            assert await asyncio.to_thread(hanging.arrived.wait, 20)
            quick.secret = await register_and_offer(start_uow, OTHER_ORG, quick.url, 1)
            fast = pending_to(start_uow, OTHER_ORG)
            await eventually(
                lambda: stored(start_uow, fast.id).status is DeliveryStatus.DELIVERED,
                "the later delivery to be sent and recorded",
                timeout=20,
            )
            assert not hanging.release.is_set()
            assert stored(start_uow, slow.id).attempts == 0
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
    assert [r.signature_valid for r in quick.received] == [True]
