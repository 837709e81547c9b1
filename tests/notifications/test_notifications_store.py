"""The notifications store on the real databases, fed through the runtime's consumer."""

import itertools
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import Table, func, select

from contracts import (
    DeliveryRecorded,
    IntegrationEvent,
    PoolOpened,
    ReferralErased,
    ReferralOffered,
)
from notifications import events, services
from notifications.domain import (
    Audience,
    Channel,
    DeliveryStatus,
    Message,
    PartnerReader,
    RetryPolicy,
    Template,
)
from notifications.recipients import Recipient, RecipientKind
from notifications.store import (
    DeliveryRow,
    MessageReadRow,
    MessageRow,
    SqlDeliveryRepository,
    SqlMessageRepository,
)
from notifications.webhooks import Owner
from runtime.storage import inbox, outbox
from tests.events import (
    offer_expired,
    offer_withdrawn,
    pool_opened,
    referral_escalated,
    referral_offered,
)
from tests.fakes import FakeClock
from tests.kit import record_of
from tests.notifications.support import (
    BOX,
    CARE_SYSTEM,
    NOW,
    OPERATOR,
    ORG,
    OTHER_OPERATOR,
    OTHER_ORG,
    OTHER_PARTNER,
    PARTNER,
    StartUow,
    add_webhook,
    application_decided,
    care_follow_up_due,
    claim_webhooks,
    consent_withdrawn,
    consume,
    follow_up_due,
    follow_up_escalated,
    follow_up_overdue,
    people_to_tell,
    record_outcome,
    referral_erased,
    referral_status_changed,
    report_overdue,
    volunteer_named,
)

POLICY = RetryPolicy(max_attempts=3, first_delay=timedelta(seconds=30))


def count(start_uow: StartUow, table: Table | type[Any]) -> int:
    with start_uow() as uow:
        return int(uow.session.execute(select(func.count()).select_from(table)).scalar_one())


def register(start_uow: StartUow, organization_id: UUID = ORG) -> None:
    add_webhook(start_uow, organization_id=organization_id, allow_private_targets=False)


async def test_an_offer_stores_message_delivery_event_and_inbox_row_in_one_transaction(
    start_uow: StartUow,
) -> None:
    record = record_of(referral_offered(organization_id=ORG))
    assert await consume(start_uow, record) == []
    [message] = services.inbox(PARTNER, start_uow, unread_only=False, limit=10)
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


def rows(start_uow: StartUow) -> dict[str, int]:
    tables: dict[str, Table | type[Any]] = {
        "message": MessageRow,
        "delivery": DeliveryRow,
        "outbox": outbox,
        "inbox": inbox,
    }
    return {name: count(start_uow, table) for name, table in tables.items()}


VOLUNTEER = uuid4()
"""The volunteer every redelivery case has registered."""

# Each consumed event, and how many inbox messages it makes: a volunteer and a care system
# are told by e-mail and by webhook only.
CONSUMED: dict[str, tuple[Callable[[], IntegrationEvent], int]] = {
    "referral.offered": (lambda: referral_offered(organization_id=ORG), 1),
    "referral.offer_withdrawn": (
        lambda: offer_withdrawn(referral_offered(organization_id=ORG)),
        1,
    ),
    "referral.offer_expired": (lambda: offer_expired(referral_offered(organization_id=ORG)), 1),
    "referral.escalated": (referral_escalated, 1),
    "referral.follow_up_due": (follow_up_due, 1),
    "referral.follow_up_overdue": (lambda: follow_up_overdue("participation", "wellbeing"), 1),
    "referral.follow_up_escalated": (lambda: follow_up_escalated("participation"), 1),
    "referral.volunteer_named": (lambda: volunteer_named(VOLUNTEER), 0),
    "pool.opened": (pool_opened, 1),
    "application.decided": (application_decided, 1),
    "application.report_overdue": (report_overdue, 1),
    "referral.consent_withdrawn": (lambda: consent_withdrawn(uuid4(), ORG), 1),
    "referral.erased": (lambda: referral_erased(uuid4(), ORG), 1),
    "status.changed": (referral_status_changed, 0),
    "status.follow_up_due": (care_follow_up_due, 0),
}


def test_the_redelivery_cases_are_every_type_the_service_consumes() -> None:
    assert {make().event_type for make, _ in CONSUMED.values()} == {
        consumed.event_type for consumed in events.CONSUMES
    }


def everyone_to_tell(start_uow: StartUow) -> None:
    """ORG's and the care system's webhooks, a coordinator of ORG, an operator and a
    volunteer of ORG, each with an e-mail address: whoever an event reaches, it reaches."""
    register(start_uow)
    command = services.AddWebhook(Owner(care_system=CARE_SYSTEM), "https://care.example/hook")
    services.add_webhook(command, start_uow, BOX, allow_private_targets=False)
    people_to_tell(start_uow)
    volunteer = Recipient(
        VOLUNTEER, RecipientKind.VOLUNTEER, "da", ORG, email="volunteer@example.dk"
    )
    with start_uow() as uow:
        uow.recipients.add(volunteer, now=NOW)
        uow.commit()


@pytest.mark.parametrize(("event", "messages"), CONSUMED.values(), ids=CONSUMED.keys())
async def test_a_redelivered_event_changes_nothing(
    start_uow: StartUow, event: Callable[[], IntegrationEvent], messages: int
) -> None:
    everyone_to_tell(start_uow)
    record = record_of(event())
    assert await consume(start_uow, record, clock=FakeClock(NOW)) == []
    once = rows(start_uow)
    assert (once["message"], once["inbox"]) == (messages, 1)
    assert once["delivery"] > messages, "someone is told by e-mail or webhook too"
    assert await consume(start_uow, record, clock=FakeClock(NOW)) == []
    assert rows(start_uow) == once


async def test_the_end_of_an_offer_reaches_the_organisation_that_held_it_about_that_referral(
    start_uow: StartUow,
) -> None:
    offer = referral_offered(organization_id=ORG)
    clock = FakeClock(NOW)
    assert await consume(start_uow, record_of(offer), clock=clock) == []
    clock.advance(timedelta(hours=1))
    assert (
        await consume(
            start_uow, record_of(offer_withdrawn(offer, reason="reassigned"), 1), clock=clock
        )
        == []
    )
    messages = services.inbox(PARTNER, start_uow, unread_only=False, limit=10)
    assert [(m.template, m.referral_id, m.created_at) for m in messages] == [
        (Template.OFFER_WITHDRAWN, offer.referral_id, NOW + timedelta(hours=1)),
        (Template.REFERRAL_OFFERED, offer.referral_id, NOW),
    ]
    assert services.inbox(OTHER_PARTNER, start_uow, unread_only=False, limit=10) == []


async def test_only_operators_see_escalations_and_each_operator_keeps_their_own_read_marks(
    start_uow: StartUow,
) -> None:
    event = referral_escalated()
    records = [
        record_of(e, i)
        for i, e in enumerate([referral_offered(organization_id=ORG), pool_opened(), event])
    ]
    assert await consume(start_uow, *records) == []
    [message] = services.inbox(OPERATOR, start_uow, unread_only=False, limit=10)
    assert (message.audience, message.organization_id, message.referral_id) == (
        Audience.OPERATORS,
        None,
        event.referral_id,
    )
    partners = services.inbox(PARTNER, start_uow, unread_only=False, limit=10)
    assert {m.template for m in partners} == {Template.REFERRAL_OFFERED, Template.POOL_OPENED}
    assert len(services.inbox(OTHER_PARTNER, start_uow, unread_only=False, limit=10)) == 1
    with pytest.raises(services.MessageNotFound):
        services.mark_read(message.id, PARTNER, start_uow)
    for theirs in partners:
        with pytest.raises(services.MessageNotFound):
            services.mark_read(theirs.id, OPERATOR, start_uow)
    services.mark_read(message.id, OPERATOR, start_uow, lambda: NOW)
    assert services.inbox(OPERATOR, start_uow, unread_only=True, limit=10) == []
    [unread] = services.inbox(OTHER_OPERATOR, start_uow, unread_only=True, limit=10)
    assert (unread.id, unread.read_at) == (message.id, None)
    assert count(start_uow, MessageReadRow) == 1


async def test_a_pool_broadcast_reaches_every_partner_and_every_webhook(
    start_uow: StartUow,
) -> None:
    register(start_uow, ORG)
    register(start_uow, OTHER_ORG)
    assert await consume(start_uow, record_of(pool_opened())) == []
    for org in (ORG, OTHER_ORG, uuid4()):
        [message] = services.inbox(PartnerReader(org), start_uow, unread_only=False, limit=10)
        assert message.organization_id is None
    pending = services.recent_deliveries(start_uow, status=DeliveryStatus.PENDING, limit=10)
    assert {d.organization_id for d in pending} == {ORG, OTHER_ORG}
    assert {d.source.type for d in pending} == {PoolOpened.event_type}
    # The broadcast's delivery only: each webhook's is published when it has been sent.
    with start_uow() as uow:
        [value] = uow.session.execute(select(outbox.c.value)).scalars()
    recorded = DeliveryRecorded.model_validate_json(value)
    assert (recorded.recipient_kind, recorded.organization_id, recorded.channel) == (
        "partners",
        None,
        "inbox",
    )


async def test_the_inbox_is_own_messages_and_broadcasts_newest_first_with_own_read_marks(
    start_uow: StartUow,
) -> None:
    await consume(
        start_uow,
        record_of(referral_offered(organization_id=ORG)),
        record_of(referral_offered(organization_id=OTHER_ORG)),
    )
    await consume(start_uow, record_of(pool_opened()))
    own: list[Message] = []
    broadcast: list[Message] = []
    for message in services.inbox(PARTNER, start_uow, unread_only=False, limit=10):
        (broadcast if message.organization_id is None else own).append(message)
    assert (len(own), len(broadcast)) == (1, 1)
    assert [m.id for m in services.inbox(PARTNER, start_uow, unread_only=False, limit=10)] == [
        broadcast[0].id,
        own[0].id,
    ]
    services.mark_read(broadcast[0].id, PARTNER, start_uow)
    assert [m.id for m in services.inbox(PARTNER, start_uow, unread_only=True, limit=10)] == [
        own[0].id
    ]
    assert len(services.inbox(OTHER_PARTNER, start_uow, unread_only=True, limit=10)) == 2
    with pytest.raises(services.MessageNotFound):
        services.mark_read(own[0].id, OTHER_PARTNER, start_uow)


def clock_when_all_due(start_uow: StartUow) -> FakeClock:
    """A clock standing at the moment the last pending delivery fell due."""
    pending = services.recent_deliveries(start_uow, status=DeliveryStatus.PENDING, limit=50)
    return FakeClock(max(d.next_attempt_at for d in pending if d.next_attempt_at is not None))


async def test_a_claimed_and_delivered_webhook_is_published_after_the_inbox_delivery(
    start_uow: StartUow,
) -> None:
    register(start_uow)
    await consume(start_uow, record_of(referral_offered(organization_id=ORG)))
    clock = clock_when_all_due(start_uow)
    [attempt] = claim_webhooks(start_uow, clock)
    assert claim_webhooks(start_uow, clock) == []
    record_outcome(start_uow, attempt.delivery_id, None, policy=POLICY, clock=clock)
    delivered = {
        d.id: d
        for d in services.recent_deliveries(start_uow, status=DeliveryStatus.DELIVERED, limit=10)
    }
    webhook = delivered[attempt.delivery_id]
    assert (webhook.channel, webhook.attempts) == (Channel.WEBHOOK, 1)
    with start_uow() as uow:
        values = uow.session.execute(select(outbox.c.value).order_by(outbox.c.seq)).scalars()
        events = [DeliveryRecorded.model_validate_json(v) for v in values]
    assert [(e.channel, e.status, e.recipient_kind) for e in events] == [
        ("inbox", "delivered", "organization"),
        ("webhook", "delivered", "organization"),
    ]


def at_the_same_moment(work: Callable[[], object], threads: int = 6) -> list[object]:
    """Run `work` in `threads` threads released together; return results or exceptions."""
    barrier = threading.Barrier(threads, timeout=30)

    def run() -> object:
        barrier.wait()
        try:
            return work()
        except Exception as error:
            return error

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda _: run(), range(threads)))


@contextmanager
def all_read_before_any_writes(repository: type, read: str, callers: int) -> Iterator[None]:
    """Inside the block, each caller's first `repository.read` waits, once it has its
    answer, until all `callers` have theirs: every one of them then writes on what it read,
    so the race the store must settle happens every time instead of now and then."""
    original = getattr(repository, read)
    everyone_has_read = threading.Barrier(callers, timeout=30)
    waited = threading.local()

    def read_then_wait(self: object, *args: Any, **kwargs: Any) -> Any:
        found = original(self, *args, **kwargs)
        if not getattr(waited, "once", False):
            waited.once = True
            everyone_has_read.wait()
        return found

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(repository, read, read_then_wait)
        yield


async def test_dispatchers_claiming_at_once_get_each_due_delivery_exactly_once_between_them(
    start_uow: StartUow,
) -> None:
    register(start_uow)
    await consume(
        start_uow,
        *(record_of(referral_offered(organization_id=ORG), offset) for offset in range(4)),
    )
    due = services.recent_deliveries(start_uow, status=DeliveryStatus.PENDING, limit=10)
    assert len(due) == 4
    clock = clock_when_all_due(start_uow)
    dispatchers = 3
    with all_read_before_any_writes(SqlDeliveryRepository, "due", dispatchers):
        results = at_the_same_moment(
            lambda: claim_webhooks(start_uow, clock),
            threads=dispatchers,
        )
    assert all(isinstance(r, list) for r in results), results
    claimed = Counter(a.delivery_id for r in results if isinstance(r, list) for a in r)
    assert claimed == Counter(d.id for d in due)


async def test_marking_a_message_read_at_once_gives_every_caller_the_one_stored_time(
    start_uow: StartUow,
) -> None:
    await consume(start_uow, record_of(referral_offered(organization_id=ORG)))
    [message] = services.inbox(PARTNER, start_uow, unread_only=False, limit=10)
    ticks = itertools.count()
    start = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)

    def clock() -> datetime:
        """Another time for each caller, so that whose time was kept shows."""
        return start + timedelta(seconds=next(ticks))

    callers = 6
    with all_read_before_any_writes(SqlMessageRepository, "get_for_reader", callers):
        results = at_the_same_moment(
            lambda: services.mark_read(message.id, PARTNER, start_uow, clock), threads=callers
        )
    assert all(isinstance(r, Message) for r in results), results
    assert next(ticks) == callers, "every caller tried to mark it read"
    [read_at] = {r.read_at for r in results if isinstance(r, Message)}
    [stored] = services.inbox(PARTNER, start_uow, unread_only=False, limit=10)
    assert stored.read_at == read_at
    assert count(start_uow, MessageReadRow) == 1


async def test_a_caller_overtaken_between_its_read_and_its_write_gets_the_time_that_stands(
    start_uow: StartUow, monkeypatch: pytest.MonkeyPatch
) -> None:
    await consume(start_uow, record_of(referral_offered(organization_id=ORG)))
    [message] = services.inbox(PARTNER, start_uow, unread_only=False, limit=10)
    first = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
    read = SqlMessageRepository.get_for_reader

    def read_then_overtaken(self: SqlMessageRepository, *args: Any) -> Message | None:
        found = read(self, *args)
        monkeypatch.setattr(SqlMessageRepository, "get_for_reader", read)
        services.mark_read(message.id, PARTNER, start_uow, lambda: first)  # another request
        return found

    monkeypatch.setattr(SqlMessageRepository, "get_for_reader", read_then_overtaken)
    late = services.mark_read(message.id, PARTNER, start_uow, lambda: first + timedelta(minutes=1))
    assert late.read_at == first
    [stored] = services.inbox(PARTNER, start_uow, unread_only=False, limit=10)
    assert stored.read_at == first


def about(start_uow: StartUow, referral_id: UUID) -> tuple[list[MessageRow], list[DeliveryRow]]:
    """The rows of the messages and deliveries about the referral, as stored (copies, to
    read after the transaction)."""
    with start_uow() as uow:
        messages = uow.session.scalars(
            select(MessageRow).where(MessageRow.referral_id == referral_id)
        )
        deliveries = uow.session.scalars(
            select(DeliveryRow).where(DeliveryRow.referral_id == referral_id)
        )
        return [m.model_copy() for m in messages], [d.model_copy() for d in deliveries]


async def test_an_erasure_leaves_of_the_referral_only_its_notices_and_what_was_sent_when(
    start_uow: StartUow,
) -> None:
    register(start_uow, ORG)
    register(start_uow, OTHER_ORG)
    offer = referral_offered(organization_id=ORG)
    story = [
        offer,
        offer_withdrawn(offer, reason="reassigned"),
        referral_offered(referral_id=offer.referral_id, organization_id=OTHER_ORG),
        referral_escalated(referral_id=offer.referral_id),
        consent_withdrawn(offer.referral_id, ORG, OTHER_ORG),
        referral_offered(organization_id=ORG),
        pool_opened(),
    ]
    clock = FakeClock(NOW)
    for offset, event in enumerate(story):
        clock.advance(timedelta(seconds=1))  # so that the webhooks fall due in this order
        assert await consume(start_uow, record_of(event, offset), clock=clock) == []
    # The offer's webhook is delivered, the withdrawal's waits for a retry, the rest for
    # their first attempt.
    sent, retrying = claim_webhooks(start_uow, clock, limit=2)
    for attempt, error in ((sent, None), (retrying, "HTTP 503")):
        record_outcome(start_uow, attempt.delivery_id, error, policy=POLICY, clock=clock)
    for reader in (PARTNER, OTHER_PARTNER, OPERATOR):
        for message in services.inbox(reader, start_uow, unread_only=False, limit=20):
            services.mark_read(message.id, reader, start_uow, clock)
    assert count(start_uow, MessageReadRow) == 9
    messages, deliveries = about(start_uow, offer.referral_id)
    assert len(messages) == 6
    finished = {d.id: d for d in deliveries if d.status != DeliveryStatus.PENDING.value}
    assert sent.delivery_id in finished
    assert finished[sent.delivery_id].body is not None
    with start_uow() as uow:
        unrelated = {r.id: r.model_dump() for r in uow.session.scalars(select(DeliveryRow))}
    for delivery in deliveries:
        del unrelated[delivery.id]

    erasure = record_of(referral_erased(offer.referral_id, ORG, OTHER_ORG), len(story))
    assert await consume(start_uow, erasure, clock=clock) == []
    once = rows(start_uow) | {"read": count(start_uow, MessageReadRow)}
    assert await consume(start_uow, erasure, clock=clock) == []
    assert rows(start_uow) | {"read": count(start_uow, MessageReadRow)} == once

    messages, deliveries = about(start_uow, offer.referral_id)
    assert sorted((m.template, str(m.organization_id)) for m in messages) == sorted(
        (Template.DELETION_REQUESTED.value, str(org)) for org in (ORG, OTHER_ORG)
    )
    assert all("borgerens oplysninger er slettet" in m.text for m in messages)
    assert services.inbox(OPERATOR, start_uow, unread_only=False, limit=20) == []
    with start_uow() as uow:
        marked = set(uow.session.scalars(select(MessageReadRow.message_id)))
        kept = set(uow.session.scalars(select(MessageRow.id)))
    assert len(marked) == 2 and marked <= kept, "only the other referral's and the pool's"
    new = {d.id: d for d in deliveries if d.source_event_type == ReferralErased.event_type}
    assert sorted((d.channel, d.status, str(d.organization_id)) for d in new.values()) == sorted(
        (channel, status, str(org))
        for org in (ORG, OTHER_ORG)
        for channel, status in (("inbox", "delivered"), ("webhook", "pending"))
    )
    assert {d.id for d in deliveries} - new.keys() == finished.keys()
    for delivery in deliveries:
        if delivery.id in finished:
            before = finished[delivery.id]
            assert delivery.body is None
            assert (delivery.status, delivery.attempts, delivery.recorded_at) == (
                before.status,
                before.attempts,
                before.recorded_at,
            )
    with start_uow() as uow:
        for delivery_id, before in unrelated.items():
            row = uow.session.get(DeliveryRow, delivery_id)
            assert row is not None and row.model_dump() == before
