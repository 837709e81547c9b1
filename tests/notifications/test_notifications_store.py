"""The notifications store on the real databases, fed through the runtime's consumer."""

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from sqlalchemy import Engine, Table, func, select
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from contracts import DeliveryRecorded, PoolOpened, ReferralOffered
from notifications import services
from notifications.app import MIGRATIONS
from notifications.domain import Channel, DeliveryStatus, Message, RetryPolicy
from notifications.store import NotificationsUnitOfWork
from runtime.migrations import upgrade
from runtime.storage import inbox, outbox
from tests.notifications.support import consume, offered, pool_opened, record_of

ORG = uuid4()
OTHER_ORG = uuid4()
LEASE = timedelta(seconds=30)

StartUow = Callable[[], NotificationsUnitOfWork]


@pytest.fixture
def start_uow(engine_for: Callable[[str], Engine]) -> StartUow:
    engine = engine_for("notifications")
    upgrade(MIGRATIONS, engine)
    factory = sessionmaker(engine, class_=Session, expire_on_commit=False)
    return lambda: NotificationsUnitOfWork(factory, "/brobygger/notifications")


def count(start_uow: StartUow, table: Table) -> int:
    with start_uow() as uow:
        return int(uow.session.execute(select(func.count()).select_from(table)).scalar_one())


def register(start_uow: StartUow, organization_id: UUID = ORG) -> None:
    command = services.RegisterWebhook(organization_id, "https://partner.example/hook")
    services.register_webhook(command, start_uow, allow_private_targets=False)


async def test_an_offer_stores_message_delivery_event_and_inbox_row_in_one_transaction(
    start_uow: StartUow,
) -> None:
    record = record_of(offered(ORG))
    assert await consume(start_uow, record) == []
    [message] = services.inbox(ORG, start_uow, unread_only=False, limit=10)
    assert message.created_at.tzinfo is not None
    assert "Nørrebro" in message.text
    with start_uow() as uow:
        row = uow.session.execute(select(outbox)).one()
    assert row.headers["ce_type"] == DeliveryRecorded.event_type
    event = DeliveryRecorded.model_validate_json(row.value)
    assert str(event.source_event_id) == record.headers["ce_id"]
    assert event.source_event_type == ReferralOffered.event_type
    assert (event.organization_id, event.channel, event.status) == (ORG, "inbox", "delivered")
    assert count(start_uow, inbox) == 1


async def test_a_redelivered_event_changes_nothing(start_uow: StartUow) -> None:
    register(start_uow)
    record = record_of(offered(ORG))
    assert await consume(start_uow, record, record) == []
    assert len(services.inbox(ORG, start_uow, unread_only=False, limit=10)) == 1
    assert len(services.recent_deliveries(start_uow, status=None, limit=10)) == 2
    assert count(start_uow, outbox) == 1


async def test_a_pool_broadcast_reaches_every_partner_and_every_webhook(
    start_uow: StartUow,
) -> None:
    register(start_uow, ORG)
    register(start_uow, OTHER_ORG)
    assert await consume(start_uow, record_of(pool_opened())) == []
    for org in (ORG, OTHER_ORG, uuid4()):
        [message] = services.inbox(org, start_uow, unread_only=False, limit=10)
        assert message.organization_id is None
    pending = services.recent_deliveries(start_uow, status=DeliveryStatus.PENDING, limit=10)
    assert {d.organization_id for d in pending} == {ORG, OTHER_ORG}
    assert {d.source.type for d in pending} == {PoolOpened.event_type}
    assert count(start_uow, outbox) == 0


async def test_the_inbox_is_own_messages_and_broadcasts_newest_first_with_own_read_marks(
    start_uow: StartUow,
) -> None:
    await consume(start_uow, record_of(offered(ORG)), record_of(offered(OTHER_ORG)))
    await consume(start_uow, record_of(pool_opened()))
    own: list[Message] = []
    broadcast: list[Message] = []
    for message in services.inbox(ORG, start_uow, unread_only=False, limit=10):
        (broadcast if message.organization_id is None else own).append(message)
    assert (len(own), len(broadcast)) == (1, 1)
    assert [m.id for m in services.inbox(ORG, start_uow, unread_only=False, limit=10)] == [
        broadcast[0].id,
        own[0].id,
    ]
    services.mark_read(broadcast[0].id, ORG, start_uow)
    assert [m.id for m in services.inbox(ORG, start_uow, unread_only=True, limit=10)] == [own[0].id]
    assert len(services.inbox(OTHER_ORG, start_uow, unread_only=True, limit=10)) == 2
    with pytest.raises(services.MessageNotFound):
        services.mark_read(own[0].id, OTHER_ORG, start_uow)


async def test_a_due_delivery_is_claimed_once_and_its_outcome_published(
    start_uow: StartUow,
) -> None:
    register(start_uow)
    await consume(start_uow, record_of(offered(ORG)))
    [attempt] = services.claim_due_webhooks(start_uow, lease=LEASE, limit=10)
    assert services.claim_due_webhooks(start_uow, lease=LEASE, limit=10) == []
    policy = RetryPolicy(max_attempts=3, first_delay=timedelta(seconds=30))
    outcome = services.RecordWebhookOutcome(attempt.delivery_id, None)
    services.record_webhook_outcome(outcome, start_uow, policy)
    delivered = {
        d.id: d
        for d in services.recent_deliveries(start_uow, status=DeliveryStatus.DELIVERED, limit=10)
    }
    webhook = delivered[attempt.delivery_id]
    assert (webhook.channel, webhook.attempts) == (Channel.WEBHOOK, 1)
    with start_uow() as uow:
        values = uow.session.execute(select(outbox.c.value).order_by(outbox.c.seq)).scalars()
        events = [DeliveryRecorded.model_validate_json(v) for v in values]
    assert [(e.channel, e.status) for e in events] == [
        ("inbox", "delivered"),
        ("webhook", "delivered"),
    ]


def test_replacing_and_removing_a_webhook(start_uow: StartUow) -> None:
    register(start_uow)
    register(start_uow)
    with start_uow() as uow:
        assert len(uow.webhooks.all()) == 1
    services.remove_webhook(ORG, start_uow)
    with pytest.raises(services.WebhookNotFound):
        services.remove_webhook(ORG, start_uow)


def at_the_same_moment(work: Callable[[], object], threads: int = 6) -> list[object]:
    """Run `work` in `threads` threads released together; return results or exceptions."""
    barrier = threading.Barrier(threads)

    def run() -> object:
        barrier.wait()
        try:
            return work()
        except Exception as error:
            return error

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda _: run(), range(threads)))


def test_two_first_webhook_registrations_at_once_both_succeed_and_one_remains(
    start_uow: StartUow,
) -> None:
    results = at_the_same_moment(lambda: register(start_uow))
    assert not [r for r in results if isinstance(r, Exception)]
    with start_uow() as uow:
        webhook = uow.webhooks.get(ORG)
    assert webhook is not None and webhook.url == "https://partner.example/hook"


async def test_marking_a_message_read_twice_at_once_keeps_one_time(start_uow: StartUow) -> None:
    await consume(start_uow, record_of(offered(ORG)))
    [message] = services.inbox(ORG, start_uow, unread_only=False, limit=10)
    results = at_the_same_moment(lambda: services.mark_read(message.id, ORG, start_uow))
    assert all(isinstance(r, Message) for r in results), results
    read_times = {r.read_at for r in results if isinstance(r, Message)}
    [stored] = services.inbox(ORG, start_uow, unread_only=False, limit=10)
    assert stored.read_at in read_times
