"""Notifications that reach people, across the four services on the real Kafka broker and
PostgreSQL: a named volunteer's e-mail arrives at an SMTP server (aiosmtpd, in this
process) in their language; a coordinator's SMS reaches the gateway's HTTP endpoint (a local
server speaking GatewayAPI); quiet hours hold a message until they end and a digest merges
three into one e-mail, on notifications' clock run fast; a webhook endpoint that keeps failing
is retried on schedule, then disabled, and its organisation and the operator are told."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller

from runtime.auth import Role
from tests.e2e.grants import open_pool_today
from tests.e2e.personal_data import NAME, PERSONAL_NUMBER
from tests.e2e.referrals import submit, wait_offered, wait_status
from tests.e2e.system import System
from tests.kit import wait_for
from tests.notifications.mail import MailServer, free_port

pytestmark = pytest.mark.infra

COPENHAGEN = ZoneInfo("Europe/Copenhagen")
SMS_TOKEN = "gatewayapi-test-token"


@dataclass
class Gateway:
    """A local stand-in for GatewayAPI: records each SMS request and answers with an id."""

    port: int = 0
    requests: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)


@pytest.fixture(scope="module")
def mail() -> Iterator[MailServer]:
    server = MailServer()
    controller = Controller(server, hostname="127.0.0.1", port=free_port())
    controller.start()
    server.port = controller.port
    yield server
    controller.stop()


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    gateway = Gateway()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["content-length"])
            gateway.requests.append((dict(self.headers), json.loads(self.rfile.read(length))))
            answer = json.dumps({"ids": [len(gateway.requests)]}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    gateway.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield gateway
    server.shutdown()


@pytest.fixture(scope="module")
def restart_notifications(system: System, mail: MailServer) -> Iterator[Callable[..., None]]:
    """Restarts notifications with a test's settings (always with the test's mail server);
    with the defaults again after this module, for the other tests sharing the system."""
    smtp = {
        "NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
        "NOTIFICATIONS_SMTP_PORT": str(mail.port),
        "NOTIFICATIONS_SMTP_SENDER": "Brobygger <brobygger@example.dk>",
        "NOTIFICATIONS_APP_URL": "https://brobygger.example.dk",
    }
    try:
        yield lambda **env: system.restart("notifications", **smtp, **env)
    finally:
        figures = dict(sorted(_figures(system).items()))
        print(f"\ndelivery figures after this module (the whole session's): {figures}")
        system.restart("notifications")


def _figures(system: System) -> Counter[str]:
    """How many deliveries there are of each channel and status (at most 200 of each)."""
    figures: Counter[str] = Counter()
    with system.client("notifications", Role.OPERATOR) as operator:
        for channel in ("inbox", "email", "sms", "webhook"):
            for status in ("pending", "sent", "delivered", "failed", "skipped", "merged"):
                params = {"channel": channel, "status": status, "limit": 200}
                found = operator.get("/deliveries", params=params).json()["count"]
                if found:
                    figures[f"{channel}:{status}"] = found
    return figures


def emails_to(mail: MailServer, address: str) -> list[EmailMessage]:
    return [a.message for a in mail.arrived if a.message["To"] == address]


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    content: str = body.get_content()
    return content


def set_preferences(system: System, role: Role, subject: str, **preferences: Any) -> None:
    claims: dict[str, Any] = {"subject": subject}
    if "organization_id" in preferences:
        claims["organization_id"] = preferences.pop("organization_id")
    with system.client("notifications", role, **claims) as caller:
        response = caller.put("/preferences", json={"language": "da", **preferences})
    assert response.status_code == 200, response.text


def organizations(system: System) -> list[UUID]:
    with system.client("directory") as public:
        found = public.get("/organizations", params={"per_page": 100}).json()["contents"]
    return [UUID(o["id"]) for o in found]


def assert_nothing_personal(*texts: str) -> None:
    for text in texts:
        for personal in (NAME, PERSONAL_NUMBER, "Nørrebro"):
            assert personal not in text


# --- a volunteer, a coordinator: e-mail and SMS -----------------------------------------------


def test_a_named_volunteer_is_emailed_in_swedish_and_a_coordinators_sms_reaches_the_gateway(
    system: System,
    restart_notifications: Callable[..., None],
    mail: MailServer,
    gateway: Gateway,
) -> None:
    restart_notifications(
        NOTIFICATIONS_SMS_PROVIDER="gatewayapi",
        NOTIFICATIONS_SMS_BASE_URL=f"http://127.0.0.1:{gateway.port}",
        NOTIFICATIONS_SMS_TOKEN=SMS_TOKEN,
    )
    run = uuid.uuid4().hex[:6]
    # One coordinator per organisation, told of new offers by SMS, so that whichever the
    # referral is offered to, its coordinator is told.
    phones = {}
    for n, organization_id in enumerate(organizations(system)):
        phones[organization_id] = f"+45{20000000 + n}"
        set_preferences(
            system,
            Role.PARTNER,
            f"coordinator-{run}-{n}",
            organization_id=organization_id,
            email=f"coordinator-{run}-{n}@example.dk",
            phone=phones[organization_id],
            channels={"referral_offered": ["inbox", "sms"]},
        )
    referral = submit(system)
    offered = wait_offered(system, referral["id"])
    holder = UUID(offered["offered_organization_id"])

    msisdn = int(phones[holder].removeprefix("+"))
    [(headers, sms)] = wait_for(
        lambda: [r for r in gateway.requests if r[1]["recipients"] == [{"msisdn": msisdn}]],
        "the coordinator's SMS at the gateway",
    )
    assert headers["Authorization"] == f"Token {SMS_TOKEN}"
    assert sms["message"].startswith("Brobygger:")
    assert "https://brobygger.example.dk/referrals/" in sms["message"]
    assert_nothing_personal(sms["message"])

    address = f"birgit-{run}@example.se"
    with system.client("notifications", Role.PARTNER, organization_id=holder) as partner:
        response = partner.post(
            "/partner/volunteers",
            json={"name": "Birgit Holm", "email": address, "language": "sv"},
        )
    assert response.status_code == 201, response.text
    volunteer_id = response.json()["id"]
    with system.client("referrals", Role.PARTNER, organization_id=holder) as partner:
        accepted = partner.post(f"/partner/referrals/{referral['id']}/accept")
        assert accepted.status_code == 200, accepted.text
        named = partner.post(
            f"/partner/referrals/{referral['id']}/volunteer", json={"volunteer_id": volunteer_id}
        )
        assert named.status_code == 200, named.text
    wait_status(system, referral["id"], "accepted")

    [email] = wait_for(lambda: emails_to(mail, address), "the volunteer's e-mail")
    assert email["Subject"] == "Du ska träffa en person"
    assert "samordnare" in text_of(email)
    assert_nothing_personal(email.as_string(), "Birgit")


# --- quiet hours and the digest, on a fast clock -----------------------------------------------

SPEED = 600
"""notifications' clock: an hour passes in 6 s."""


def test_quiet_hours_hold_an_email_until_they_end_and_a_digest_merges_three_into_one(
    system: System, restart_notifications: Callable[..., None], mail: MailServer
) -> None:
    restart_notifications(NOTIFICATIONS_CLOCK_SPEED=str(SPEED))
    run = uuid.uuid4().hex[:6]
    # notifications' clock started with the service, and is ahead of this one by the time
    # since then (some seconds: an hour or so, at this speed); these leave room for that.
    now = datetime.now(COPENHAGEN)
    quiet_start, quiet_end = now - timedelta(hours=1), now + timedelta(hours=3)
    digest_at = (now + timedelta(hours=4)).replace(minute=0, second=0, microsecond=0)
    night_owl, reader = f"quiet-{run}@example.dk", f"digest-{run}@example.dk"
    organization_id = uuid.uuid4()
    set_preferences(
        system,
        Role.PARTNER,
        f"quiet-{run}",
        organization_id=organization_id,
        email=night_owl,
        quiet_hours={"start": f"{quiet_start:%H:%M}", "end": f"{quiet_end:%H:%M}"},
    )
    set_preferences(
        system,
        Role.PARTNER,
        f"digest-{run}",
        organization_id=organization_id,
        email=reader,
        language="en",
        digest_hour=digest_at.hour,
    )

    for n in range(3):
        open_pool_today(system, f"Puljen {run}-{n}")

    held = wait_for(
        lambda: len(emails_to(mail, night_owl)) == 3 and emails_to(mail, night_owl),
        "the three e-mails held for the quiet hours",
        timeout=60,
    )
    [digest] = wait_for(lambda: emails_to(mail, reader), "the digest", timeout=60)
    assert digest["Subject"] == "Brobygger: 3 new messages"
    for n in range(3):
        assert f"Puljen {run}-{n}" in text_of(digest)
    assert sorted(m["Subject"] for m in held) == [f"Ny pulje: Puljen {run}-{n}" for n in range(3)]
    with system.client("notifications", Role.OPERATOR) as operator:
        emails = operator.get("/deliveries", params={"channel": "email", "limit": 200}).json()
    quiet_end_utc = quiet_end.replace(second=0, microsecond=0).astimezone(UTC)
    mine = [d for d in emails["data"] if d["kind"] == "pool_opened" and d["recorded_at"]]
    sent_after_quiet = [
        d
        for d in mine
        if d["status"] == "sent"
        and not d["digest"]
        and datetime.fromisoformat(d["created_at"])
        < quiet_end_utc
        <= datetime.fromisoformat(d["recorded_at"])
    ]
    assert len(sent_after_quiet) >= 3, "held from before the quiet hours ended until after"
    digests = Counter(d["status"] for d in mine if d["digest"])
    assert digests["merged"] >= 2 and digests["sent"] >= 1


# --- a webhook endpoint that keeps failing -----------------------------------------------------

FAST = 36_000
"""An hour in 0.1 s: three days of failing in some 7 s."""


@dataclass
class FailingEndpoint:
    """Answers every webhook with 500 and keeps each attempt's `webhook-timestamp`."""

    port: int = 0
    timestamps: list[int] = field(default_factory=list)


@pytest.fixture
def failing_endpoint() -> Iterator[FailingEndpoint]:
    endpoint = FailingEndpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            endpoint.timestamps.append(int(self.headers["webhook-timestamp"]))
            self.send_response(500)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    endpoint.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield endpoint
    server.shutdown()


def test_a_failing_webhook_is_retried_on_schedule_then_disabled_and_the_operator_told(
    system: System,
    restart_notifications: Callable[..., None],
    mail: MailServer,
    failing_endpoint: FailingEndpoint,
) -> None:
    restart_notifications(
        NOTIFICATIONS_CLOCK_SPEED=str(FAST),
        NOTIFICATIONS_RETRY_FIRST_SECONDS="3600",
        NOTIFICATIONS_DELIVERY_MAX_ATTEMPTS="20",
        NOTIFICATIONS_DISPATCHER_POLL_SECONDS="0.02",
    )
    run = uuid.uuid4().hex[:6]
    organization_id = uuid.uuid4()
    operator_address = f"operator-{run}@example.dk"
    set_preferences(system, Role.OPERATOR, f"operator-{run}", email=operator_address)
    with system.client("notifications", Role.PARTNER, organization_id=organization_id) as partner:
        response = partner.post(
            "/webhooks",
            json={
                "url": f"http://127.0.0.1:{failing_endpoint.port}/hook",
                "event_types": ["dk.brobygger.grants.pool.opened.v1"],
            },
        )
        assert response.status_code == 201, response.text
        webhook_id = response.json()["id"]

        open_pool_today(system, f"Puljen {run}")

        def disabled() -> dict[str, Any] | None:
            found: dict[str, Any] = partner.get(f"/webhooks/{webhook_id}").json()
            return found if found["disabled_at"] else None

        endpoint = wait_for(disabled, "the endpoint disabled", timeout=120)
        [told] = wait_for(
            lambda: [
                m for m in partner.get("/inbox").json()["data"] if m["kind"] == "webhook_disabled"
            ],
            "the organisation told",
        )
    failing_since = datetime.fromisoformat(endpoint["failing_since"])
    assert datetime.fromisoformat(endpoint["disabled_at"]) - failing_since >= timedelta(hours=72)

    attempts = failing_endpoint.timestamps
    assert len(attempts) >= 8, attempts
    waits = [later - earlier for earlier, later in pairwise(attempts)]
    for n, wait in enumerate(waits):
        planned = min(3600 * 2**n, 6 * 3600)
        assert wait >= planned * 0.8 - 1, f"retry {n + 1} came after {wait} s, before its time"

    [email] = wait_for(lambda: emails_to(mail, operator_address), "the operator's e-mail")
    assert str(organization_id) in email["Subject"] or str(organization_id) in text_of(email)
    with system.client("notifications", Role.OPERATOR) as operator:
        shared = operator.get("/inbox").json()["data"]
    assert any(
        m["kind"] == "webhook_disabled" and str(organization_id) in m["text"] for m in shared
    )
    assert str(organization_id) in told["text"]
