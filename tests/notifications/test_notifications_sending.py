"""The dispatcher sending e-mails over real SMTP (an in-process aiosmtpd server) from the
real store, on SQLite and PostgreSQL; and two dispatchers against one PostgreSQL database,
each e-mail sent by one of them, once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from contracts import DeliveryRecorded
from notifications import sending, services
from notifications.app import MIGRATIONS
from notifications.channels.email import SmtpEmailSender, SmtpSettings
from notifications.dispatcher import Dispatcher, Senders
from notifications.domain import DeliveryStatus, Language, RetryPolicy
from notifications.recipients import Preferences, RecipientKind
from notifications.sealing import SecretBox
from notifications.store import NotificationsUnitOfWork
from runtime.migrations import upgrade
from runtime.storage import make_engine, outbox
from tests.events import referral_offered
from tests.fakes import FakeClock
from tests.kit import record_of
from tests.notifications.mail import StartServer
from tests.notifications.support import ORG, StartUow, consume, volunteer_named

DAY = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
BOX = SecretBox.parse("test-1:" + "A" * 43 + "=")
POLICY = RetryPolicy(max_attempts=3, first_delay=timedelta(minutes=1))


def dispatcher(
    start_uow: StartUow, email: object, clock: Callable[[], datetime], batch_size: int = 50
) -> Dispatcher:
    return Dispatcher(
        start_uow,
        Senders(box=BOX, email=email),  # type: ignore[arg-type]
        policy=POLICY,
        links=sending.Links("https://brobygger.example.dk"),
        language=Language.DA,
        disable_webhooks_after=timedelta(days=3),
        poll_seconds=0.01,
        timeout_seconds=5,
        allow_private_targets=True,
        batch_size=batch_size,
        clock=clock,
    )


def register_volunteer(start_uow: StartUow, language: Language, email: str) -> UUID:
    volunteer = services.register_volunteer(
        services.RegisterVolunteer(ORG, "Birgit Holm", language, email=email), start_uow
    )
    return volunteer.id


async def test_a_named_volunteers_email_arrives_at_the_mail_server_in_their_language(
    start_uow: StartUow, smtp_server: StartServer
) -> None:
    server = smtp_server()
    volunteer_id = register_volunteer(start_uow, Language.EN, "birgit@example.dk")
    assert (
        await consume(start_uow, record_of(volunteer_named(volunteer_id)), clock=FakeClock(DAY))
        == []
    )
    smtp = SmtpEmailSender(SmtpSettings("127.0.0.1", server.port, "brobygger@example.dk"))

    assert await dispatcher(start_uow, smtp, FakeClock(DAY)).dispatch_due() == 1

    [arrived] = server.arrived
    assert arrived.message["To"] == "birgit@example.dk"
    assert arrived.message["Subject"] == "You are to meet a citizen"
    body = arrived.message.get_body(("plain",))
    assert body is not None and "Your coordinator will tell you" in body.get_content()
    assert "Birgit" not in arrived.message.as_string()
    [sent] = services.recent_deliveries(start_uow, status=DeliveryStatus.SENT, limit=5)
    assert (sent.channel.value, sent.attempts) == ("email", 1)
    with start_uow() as uow:
        rows = uow.session.execute(select(outbox).order_by(outbox.c.seq)).all()
    events = [
        DeliveryRecorded.model_validate_json(row.value)
        for row in rows
        if row.headers["ce_type"] == DeliveryRecorded.event_type
    ]
    assert [(e.channel, e.status, e.recipient_kind) for e in events] == [
        ("email", "sent", "volunteer")
    ]


async def test_an_email_the_server_refuses_for_a_while_is_sent_at_the_next_attempt(
    start_uow: StartUow, smtp_server: StartServer
) -> None:
    server = smtp_server(refusal="451 4.3.0 try again later")
    register_volunteer(start_uow, Language.DA, "birgit@example.dk")
    volunteer_id = register_volunteer(start_uow, Language.DA, "bo@example.dk")
    assert (
        await consume(start_uow, record_of(volunteer_named(volunteer_id)), clock=FakeClock(DAY))
        == []
    )
    smtp = SmtpEmailSender(SmtpSettings("127.0.0.1", server.port, "brobygger@example.dk"))
    clock = FakeClock(DAY)

    assert await dispatcher(start_uow, smtp, clock).dispatch_due() == 1
    [pending] = services.recent_deliveries(start_uow, status=DeliveryStatus.PENDING, limit=5)
    assert pending.last_error is not None and "bo@" not in pending.last_error
    server.refusal = None
    clock.advance(timedelta(seconds=47))  # within the first minute's jitter: not yet
    assert await dispatcher(start_uow, smtp, clock).dispatch_due() == 0
    clock.advance(timedelta(seconds=30))
    assert await dispatcher(start_uow, smtp, clock).dispatch_due() == 1

    assert [a.message["To"] for a in server.arrived] == ["bo@example.dk"]


class CountingSender:
    """An e-mail sender that counts what each dispatcher sends, and holds the first send of
    each until both dispatchers are sending: the two really overlap."""

    def __init__(self, sent: Counter[str], both_sending: asyncio.Event, sending: set[str]) -> None:
        self._sent = sent
        self._both = both_sending
        self._sending = sending
        self.name = ""

    async def send(self, to: str, subject: str, text: str, html: str, message_id: str) -> None:
        self._sending.add(self.name)
        if len(self._sending) == 2:
            self._both.set()
        await asyncio.wait_for(self._both.wait(), timeout=10)
        self._sent[message_id] += 1


@pytest.fixture
def postgres_start_uows(postgres_urls: dict[str, str]) -> list[StartUow]:
    """Two units of work factories, each with its own engine (its own connections), on one
    migrated PostgreSQL database: two replicas of the service."""
    engines: list[Engine] = [make_engine(postgres_urls["notifications"]) for _ in range(2)]
    with engines[0].begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade(MIGRATIONS, engines[0])
    factories = [sessionmaker(e, class_=Session, expire_on_commit=False) for e in engines]
    return [
        lambda factory=factory: NotificationsUnitOfWork(factory, "/brobygger/notifications")  # type: ignore[misc]
        for factory in factories
    ]


async def test_two_dispatchers_on_one_postgresql_database_send_each_email_exactly_once(
    postgres_start_uows: list[StartUow],
) -> None:
    first_uow = postgres_start_uows[0]
    coordinators = 40
    for n in range(coordinators):
        caller = services.SignedIn(RecipientKind.COORDINATOR, f"coordinator-{n}", ORG)
        services.set_preferences(
            caller,
            {"email": f"coordinator-{n}@example.dk"},
            Preferences(),
            first_uow,
            Language.DA,
        )
    offers = 5
    for _ in range(offers):
        event = referral_offered(organization_id=ORG, expires_at=DAY + timedelta(days=3))
        assert await consume(first_uow, record_of(event), clock=FakeClock(DAY)) == []
    sent: Counter[str] = Counter()
    both, sending_now = asyncio.Event(), set[str]()
    senders = [CountingSender(sent, both, sending_now) for _ in range(2)]
    for name, sender in zip(("first", "second"), senders, strict=True):
        sender.name = name
    clock = FakeClock(DAY)
    replicas = [
        dispatcher(start_uow, sender, clock, batch_size=10)
        for start_uow, sender in zip(postgres_start_uows, senders, strict=True)
    ]

    async def drain(replica: Dispatcher) -> None:
        while await replica.dispatch_due():
            pass

    await asyncio.wait_for(asyncio.gather(*(drain(r) for r in replicas)), timeout=60)

    assert both.is_set(), "the two dispatchers sent at the same time"
    assert len(sent) == coordinators * offers
    assert set(sent.values()) == {1}, "no e-mail was sent twice"
    assert services.recent_deliveries(first_uow, status=DeliveryStatus.PENDING, limit=500) == []
