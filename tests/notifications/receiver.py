"""A real HTTP endpoint on a free local port that checks Standard Webhooks signatures.

It verifies independently of `notifications.webhooks.sign`, straight from the spec, so a
wrong signature in the service cannot be agreed with by the same code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    webhook_id: str
    timestamp: int
    body: dict[str, Any]
    signature_valid: bool
    answered: int
    raw: bytes
    """The body as it came, byte for byte: what was signed."""
    signatures: str
    """The `webhook-signature` header."""


@dataclass
class Receiver:
    url: str
    secret: str = ""
    """Set once known (the service makes it when the webhook is registered)."""
    failures_first: int = 0
    """Answer 500 to this many requests before accepting."""
    received: list[Received] = field(default_factory=list)

    def verify(self, webhook_id: str, timestamp: str, raw: bytes, signatures: str) -> bool:
        key = base64.b64decode(self.secret.removeprefix("whsec_"))
        signed = webhook_id.encode() + b"." + timestamp.encode() + b"." + raw
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        return any(
            version == "v1" and hmac.compare_digest(value, expected)
            for version, _, value in (s.partition(",") for s in signatures.split())
        )


@contextmanager
def webhook_receiver(**options: Any) -> Iterator[Receiver]:
    receiver = Receiver(url="", **options)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["content-length"]))
            webhook_id = self.headers["webhook-id"]
            timestamp = self.headers["webhook-timestamp"]
            signatures = self.headers["webhook-signature"]
            valid = receiver.verify(webhook_id, timestamp, raw, signatures)
            if len(receiver.received) < receiver.failures_first:
                answer = 500
            else:
                answer = 204 if valid else 401
            receiver.received.append(
                Received(
                    webhook_id, int(timestamp), json.loads(raw), valid, answer, raw, signatures
                )
            )
            self.send_response(answer)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test output is not the place for access logs."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
