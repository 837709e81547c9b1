"""Use cases on fakes: what is stored, queued and published for each event and request."""

import copy
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from uuid import UUID, uuid4

import pytest

from contracts import (
    ConsentWithdrawn,
    DeliveryRecorded,
    FollowUpOverdue,
    IntegrationEvent,
    PoolOpened,
    ReferralErased,
    ReferralOffered,
)
from contracts.referrals import FollowUpPart, OfferEvent, WithdrawalReason
from notifications import consumers, events, services
from notifications.domain import (
    Audience,
    Channel,
    Delivery,
    DeliveryStatus,
    Language,
    Message,
    PartnerReader,
    Reader,
    RetryPolicy,
    Template,
)
from notifications.webhooks import Owner, WebhookEndpoint, new_secret
from tests.events import (
    offer_expired,
    offer_withdrawn,
    pool_opened,
    referral_escalated,
    referral_offered,
)
from tests.fakes import FakeClock
from tests.kit import record_of
from tests.notifications.fakes import FakeUnitOfWork
from tests.notifications.support import (
    BOX,
    LEASE,
    NOW,
    OPERATOR,
    ORG,
    OTHER_OPERATOR,
    OTHER_ORG,
    OTHER_PARTNER,
    PARTNER,
    claim_webhooks,
    consent_withdrawn,
    consume,
    follow_up_due,
    follow_up_escalated,
    follow_up_overdue,
    record_outcome,
    referral_erased,
)

POLICY = RetryPolicy(max_attempts=2, first_delay=timedelta(seconds=30))


def with_webhook(uow: FakeUnitOfWork, organization_id: UUID = ORG) -> WebhookEndpoint:
    """An endpoint of the organisation's wanting every event, added a day before NOW."""
    endpoint_id = uuid4()
    endpoint = WebhookEndpoint(
        id=endpoint_id,
        url="https://partner.example/hook",
        secret=BOX.seal(new_secret(), endpoint_id),
        created_at=NOW - timedelta(days=1),
        organization_id=organization_id,
    )
    uow.webhooks.add(endpoint)
    return endpoint


def handle(
    event: IntegrationEvent,
    language: Language = Language.DA,
    uow: FakeUnitOfWork | None = None,
) -> FakeUnitOfWork:
    """Consume `event` through its subscriber, the clock standing at NOW."""
    consuming = (uow or FakeUnitOfWork()).consuming(event.event_type)
    consumers.handlers(language, FakeClock(NOW))[type(event)](event, consuming)
    return consuming


def _as_offered(offer: ReferralOffered) -> ReferralOffered:
    return offer


# What the organisation holding an offer is told of: the offer, and its end unanswered.
TO_THE_HOLDER: dict[str, Callable[[ReferralOffered], OfferEvent]] = {
    "offered": _as_offered,
    "withdrawn": offer_withdrawn,
    "expired": offer_expired,
}


def test_an_offer_puts_a_danish_message_in_the_organisations_inbox() -> None:
    uow = FakeUnitOfWork().consuming(ReferralOffered.event_type)
    services.notify_referral_offered(referral_offered(organization_id=ORG), uow, Language.DA)
    [message] = uow.messages.for_reader(PARTNER, unread_only=False, limit=10)
    assert message.text == (
        "Ny henvisning: en borger (80-84 år, Nørrebro) med interesse for gåture søger et "
        "fællesskab. Svar inden 25.11.2026 kl. 13:00."
    )
    assert message.organization_id == ORG
    assert uow.messages.for_reader(OTHER_PARTNER, unread_only=False, limit=10) == []
    assert uow.commits == 1


def test_the_message_can_be_in_english() -> None:
    uow = FakeUnitOfWork().consuming(ReferralOffered.event_type)
    services.notify_referral_offered(referral_offered(organization_id=ORG), uow, Language.EN)
    [message] = uow.messages.rows.values()
    assert message.text.startswith("New referral: a citizen (80-84 years, Nørrebro)")


def test_the_inbox_message_does_not_even_carry_the_pseudonym() -> None:
    uow = FakeUnitOfWork().consuming(ReferralOffered.event_type)
    services.notify_referral_offered(referral_offered(organization_id=ORG), uow, Language.DA)
    [message] = uow.messages.rows.values()
    assert "cit_" not in message.text


def test_an_offer_publishes_the_inbox_delivery_naming_the_event_that_caused_it() -> None:
    uow = FakeUnitOfWork().consuming(ReferralOffered.event_type)
    services.notify_referral_offered(referral_offered(organization_id=ORG), uow, Language.DA)
    [event] = uow.committed_events
    assert isinstance(event, DeliveryRecorded)
    [delivery] = uow.deliveries.rows.values()
    assert (event.delivery_id, event.organization_id) == (delivery.id, ORG)
    assert (event.channel, event.status) == ("inbox", "delivered")
    assert uow.consumed is not None
    assert (event.source_event_id, event.source_event_type) == (
        UUID(uow.consumed.id),
        ReferralOffered.event_type,
    )


@pytest.mark.parametrize("notice", TO_THE_HOLDER.values(), ids=TO_THE_HOLDER.keys())
def test_without_a_webhook_nothing_is_queued_for_one(
    notice: Callable[[ReferralOffered], OfferEvent],
) -> None:
    uow = handle(notice(referral_offered(organization_id=ORG)))
    assert len(uow.deliveries.of_channel(Channel.INBOX)) == 1
    assert uow.deliveries.of_channel(Channel.WEBHOOK) == []


def test_with_a_webhook_a_pending_delivery_carries_the_event_as_standard_webhook_json() -> None:
    uow = FakeUnitOfWork().consuming(ReferralOffered.event_type)
    with_webhook(uow)
    with_webhook(uow, OTHER_ORG)
    event = referral_offered(organization_id=ORG)
    services.notify_referral_offered(event, uow, Language.DA, FakeClock(NOW))
    [delivery] = uow.deliveries.of_channel(Channel.WEBHOOK)
    assert (delivery.organization_id, delivery.status) == (ORG, DeliveryStatus.PENDING)
    assert delivery.next_attempt_at == NOW  # due at once
    assert delivery.body is not None
    body = json.loads(delivery.body)
    assert body["type"] == ReferralOffered.event_type
    assert body["data"] == event.model_dump(mode="json")
    assert datetime.fromisoformat(body["timestamp"]) == NOW
    assert len(uow.committed_events) == 1  # the webhook's outcome is published when sent


def test_a_pool_opening_is_one_broadcast_seen_by_every_partner() -> None:
    uow = FakeUnitOfWork().consuming(PoolOpened.event_type)
    services.announce_pool(pool_opened(), uow, Language.DA)
    [message] = uow.messages.rows.values()
    assert message.organization_id is None
    assert "Nye fællesskaber 2026" in message.text
    assert "30.04.2026" in message.text
    for org in (ORG, OTHER_ORG):
        assert [
            m.id for m in uow.messages.for_reader(PartnerReader(org), unread_only=False, limit=9)
        ] == [message.id]


def test_a_pool_opening_publishes_the_broadcast_and_queues_a_webhook_to_every_registered_one() -> (
    None
):
    uow = FakeUnitOfWork().consuming(PoolOpened.event_type)
    with_webhook(uow, ORG)
    with_webhook(uow, OTHER_ORG)
    services.announce_pool(pool_opened(), uow, Language.DA)
    webhooks = uow.deliveries.of_channel(Channel.WEBHOOK)
    assert {d.organization_id for d in webhooks} == {ORG, OTHER_ORG}
    assert all(d.status is DeliveryStatus.PENDING for d in webhooks)
    [inbox] = uow.deliveries.of_channel(Channel.INBOX)
    assert (inbox.organization_id, inbox.status) == (None, DeliveryStatus.DELIVERED)
    # The broadcast's delivery only: each webhook's is published when it has been sent.
    [recorded] = uow.committed_events
    assert isinstance(recorded, DeliveryRecorded)
    assert (recorded.delivery_id, recorded.recipient_kind, recorded.organization_id) == (
        inbox.id,
        "partners",
        None,
    )
    assert (recorded.channel, recorded.status) == ("inbox", "delivered")


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("cancelled", "henvisningen er annulleret"),
        ("reassigned", "en brobygger har givet den til et andet fællesskab"),
    ],
)
def test_a_withdrawn_offer_tells_the_organisation_that_held_it_which_referral_and_why(
    reason: WithdrawalReason, words: str
) -> None:
    offer = referral_offered(organization_id=ORG)
    uow = handle(offer_withdrawn(offer, reason=reason))
    [message] = uow.messages.for_reader(PARTNER, unread_only=False, limit=10)
    assert message.text == (
        f"Henvisning {offer.referral_id} er trukket tilbage: {words}. "
        "I skal ikke gøre mere ved den."
    )
    assert (message.template, message.organization_id, message.referral_id) == (
        Template.OFFER_WITHDRAWN,
        ORG,
        offer.referral_id,
    )
    assert uow.messages.for_reader(OTHER_PARTNER, unread_only=False, limit=10) == []


def test_an_expired_offer_tells_the_organisation_when_it_lapsed_on_the_citys_clock() -> None:
    offer = referral_offered(organization_id=ORG)
    uow = handle(offer_expired(offer), Language.SV)
    [message] = uow.messages.for_reader(PARTNER, unread_only=False, limit=10)
    assert message.text == (
        f"Erbjudandet om remiss {offer.referral_id} gick ut 2026-11-25 13:00 utan svar. "
        "Remissen går vidare, och ni kan inte längre ta emot den."
    )
    assert (message.template, message.referral_id, message.created_at) == (
        Template.OFFER_EXPIRED,
        offer.referral_id,
        NOW,
    )


@pytest.mark.parametrize("notice", [offer_withdrawn, offer_expired], ids=["withdrawn", "expired"])
def test_the_end_of_an_offer_publishes_the_inbox_delivery_and_sends_the_event_by_webhook(
    notice: Callable[[ReferralOffered], OfferEvent],
) -> None:
    uow = FakeUnitOfWork()
    with_webhook(uow)
    with_webhook(uow, OTHER_ORG)
    event = notice(referral_offered(organization_id=ORG))
    handle(event, uow=uow)
    [recorded] = uow.committed_events
    assert isinstance(recorded, DeliveryRecorded)
    assert (recorded.organization_id, recorded.channel, recorded.source_event_type) == (
        ORG,
        "inbox",
        event.event_type,
    )
    [delivery] = uow.deliveries.of_channel(Channel.WEBHOOK)
    assert (delivery.organization_id, delivery.next_attempt_at) == (ORG, NOW)
    assert delivery.body is not None
    body = json.loads(delivery.body)
    assert (body["type"], body["data"]) == (event.event_type, event.model_dump(mode="json"))
    assert uow.commits == 1


def test_messages_about_a_referral_carry_its_id_and_a_pool_announcement_none() -> None:
    offer = referral_offered(organization_id=ORG)
    uow = handle(offer)
    handle(pool_opened(), uow=uow)
    referrals = {m.template: m.referral_id for m in uow.messages.rows.values()}
    assert referrals == {Template.REFERRAL_OFFERED: offer.referral_id, Template.POOL_OPENED: None}


def test_an_escalation_is_a_message_to_the_operators_naming_district_reason_and_interests() -> None:
    event = referral_escalated(reason="all_expired", interests=["walking", "chess"])
    uow = handle(event)
    [message] = uow.messages.for_reader(OPERATOR, unread_only=False, limit=10)
    assert message.text == (
        f"Henvisning {event.referral_id} fra Nørrebro venter på en brobygger: ingen af de "
        "foreslåede fællesskaber svarede i tide. Interesser: gåture, skak."
    )
    assert (
        message.audience,
        message.organization_id,
        message.template,
        message.referral_id,
        message.created_at,
    ) == (Audience.OPERATORS, None, Template.REFERRAL_ESCALATED, event.referral_id, NOW)


def test_an_escalation_is_written_in_the_services_language() -> None:
    event = referral_escalated(reason="no_match", interests=["walking", "chess"])
    [message] = handle(event, Language.EN).messages.rows.values()
    assert message.text == (
        f"Referral {event.referral_id} from Nørrebro needs an operator: nothing in the "
        "directory fits. Interests: walking, chess."
    )


def test_no_partner_is_told_of_an_escalation_in_the_inbox_by_webhook_or_event() -> None:
    uow = FakeUnitOfWork()
    with_webhook(uow)
    handle(referral_escalated(), uow=uow)
    assert uow.messages.for_reader(PARTNER, unread_only=False, limit=10) == []
    assert uow.deliveries.of_channel(Channel.WEBHOOK) == []
    [inbox] = uow.deliveries.of_channel(Channel.INBOX)
    assert (inbox.organization_id, inbox.status) == (None, DeliveryStatus.DELIVERED)
    assert operators_inbox_only(uow) == [inbox.id]
    assert uow.commits == 1


def operators_inbox_only(uow: FakeUnitOfWork) -> list[UUID]:
    """The deliveries the published events tell of, after checking that each is a message in
    the operators' inbox: no partner, no person."""
    for event in uow.committed_events:
        assert isinstance(event, DeliveryRecorded)
        assert (event.recipient_kind, event.organization_id, event.recipient_id) == (
            "operators",
            None,
            None,
        )
        assert (event.channel, event.status) == ("inbox", "delivered")
    return [e.delivery_id for e in uow.committed_events if isinstance(e, DeliveryRecorded)]


def test_every_operator_sees_an_escalation_and_marks_it_read_only_for_themselves() -> None:
    uow = handle(referral_escalated())
    [message] = uow.messages.rows.values()
    read = services.mark_read(message.id, OPERATOR, uow, FakeClock(NOW))
    assert read.read_at == NOW
    assert services.inbox(OPERATOR, uow, unread_only=True, limit=10) == []
    [unread] = services.inbox(OTHER_OPERATOR, uow, unread_only=True, limit=10)
    assert (unread.id, unread.read_at) == (message.id, None)


def test_an_operator_cannot_mark_a_partners_message_read_nor_a_partner_an_operators() -> None:
    uow = handle(referral_offered(organization_id=ORG))
    handle(pool_opened(), uow=uow)
    handle(referral_escalated(), uow=uow)
    by_template = {m.template: m.id for m in uow.messages.rows.values()}
    for template in (Template.REFERRAL_OFFERED, Template.POOL_OPENED):
        with pytest.raises(services.MessageNotFound):
            services.mark_read(by_template[template], OPERATOR, uow)
    with pytest.raises(services.MessageNotFound):
        services.mark_read(by_template[Template.REFERRAL_ESCALATED], PARTNER, uow)
    assert uow.messages.reads == {}


def test_a_handler_outside_a_consumed_event_refuses_to_run() -> None:
    uow = FakeUnitOfWork()
    with pytest.raises(RuntimeError):
        services.notify_referral_offered(referral_offered(organization_id=ORG), uow, Language.DA)
    assert uow.commits == 0


def test_marking_read_is_per_organisation_and_keeps_the_first_time() -> None:
    uow = FakeUnitOfWork().consuming(PoolOpened.event_type)
    services.announce_pool(pool_opened(), uow, Language.DA)
    [message] = uow.messages.rows.values()
    clock = FakeClock(NOW)
    first = services.mark_read(message.id, PARTNER, uow, clock)
    clock.advance(timedelta(minutes=5))
    again = services.mark_read(message.id, PARTNER, uow, clock)
    assert first.read_at == again.read_at == NOW
    assert services.inbox(PARTNER, uow, unread_only=True, limit=10) == []
    assert len(services.inbox(OTHER_PARTNER, uow, unread_only=True, limit=10)) == 1


def test_another_organisations_message_cannot_be_marked_read() -> None:
    uow = FakeUnitOfWork().consuming(ReferralOffered.event_type)
    services.notify_referral_offered(referral_offered(organization_id=ORG), uow, Language.DA)
    [message] = uow.messages.rows.values()
    with pytest.raises(services.MessageNotFound):
        services.mark_read(message.id, OTHER_PARTNER, uow)
    assert uow.messages.reads == {}


def queued_webhook(uow: FakeUnitOfWork) -> UUID:
    """A webhook delivery queued at NOW, and so due from then on."""
    consuming = uow.consuming(ReferralOffered.event_type)
    with_webhook(consuming)
    services.notify_referral_offered(
        referral_offered(organization_id=ORG), consuming, Language.DA, FakeClock(NOW)
    )
    uow.committed_events.clear()
    [delivery] = uow.deliveries.of_channel(Channel.WEBHOOK)
    return delivery.id


def record(
    uow: FakeUnitOfWork, delivery_id: UUID, error: str | None, clock: FakeClock
) -> Delivery | None:
    return record_outcome(uow, delivery_id, error, policy=POLICY, clock=clock)


def recorded_outcome(
    uow: FakeUnitOfWork, delivery_id: UUID, error: str | None, clock: FakeClock
) -> Delivery:
    """`record` of a delivery that is there."""
    delivery = record(uow, delivery_id, error, clock)
    assert delivery is not None
    return delivery


def test_a_claimed_delivery_is_not_handed_out_again_until_its_lease_runs_out() -> None:
    uow = FakeUnitOfWork()
    delivery_id = queued_webhook(uow)
    clock = FakeClock(NOW)
    [attempt] = claim_webhooks(uow, clock)
    assert attempt.delivery_id == delivery_id
    assert attempt.url == "https://partner.example/hook"
    clock.advance(LEASE - timedelta(milliseconds=1))
    assert claim_webhooks(uow, clock) == []
    clock.advance(timedelta(milliseconds=1))  # a sender that crashed mid-send leaves it again
    [again] = claim_webhooks(uow, clock)
    assert again.delivery_id == delivery_id


def test_a_successful_attempt_publishes_the_webhook_delivery() -> None:
    uow = FakeUnitOfWork()
    delivery_id = queued_webhook(uow)
    clock = FakeClock(NOW)
    claim_webhooks(uow, clock)
    clock.advance(timedelta(seconds=1))
    delivery = recorded_outcome(uow, delivery_id, None, clock)
    assert (delivery.status, delivery.recorded_at) == (DeliveryStatus.DELIVERED, clock.now)
    [event] = uow.committed_events
    assert isinstance(event, DeliveryRecorded)
    assert (event.delivery_id, event.channel, event.status) == (delivery_id, "webhook", "delivered")
    assert (event.recipient_kind, event.organization_id, event.attempts) == (
        "organization",
        ORG,
        1,
    )


def test_a_failed_attempt_is_retried_later_and_publishes_nothing_yet() -> None:
    uow = FakeUnitOfWork()
    delivery_id = queued_webhook(uow)
    clock = FakeClock(NOW)
    claim_webhooks(uow, clock)
    clock.advance(timedelta(seconds=4))  # the attempt took this long
    delivery = recorded_outcome(uow, delivery_id, "HTTP 503", clock)
    assert (delivery.status, delivery.attempts, delivery.last_error) == (
        DeliveryStatus.PENDING,
        1,
        "HTTP 503",
    )
    assert delivery.next_attempt_at == clock.now + POLICY.first_delay
    assert uow.committed_events == []


def test_the_last_failed_attempt_publishes_the_failure() -> None:
    uow = FakeUnitOfWork()
    delivery_id = queued_webhook(uow)
    clock = FakeClock(NOW)
    for attempt in range(1, POLICY.max_attempts + 1):
        delivery = recorded_outcome(uow, delivery_id, "HTTP 500", clock)
        clock.advance(POLICY.delay_after(attempt))
    assert (delivery.status, delivery.next_attempt_at) == (DeliveryStatus.FAILED, None)
    [event] = uow.committed_events
    assert isinstance(event, DeliveryRecorded)
    assert (event.channel, event.status) == ("webhook", "failed")


def test_a_late_outcome_does_not_change_a_settled_delivery() -> None:
    uow = FakeUnitOfWork()
    delivery_id = queued_webhook(uow)
    clock = FakeClock(NOW)
    record(uow, delivery_id, None, clock)
    clock.advance(timedelta(minutes=1))
    again = recorded_outcome(uow, delivery_id, "timeout", clock)
    assert (again.status, again.recorded_at) == (DeliveryStatus.DELIVERED, NOW)
    assert len(uow.committed_events) == 1


def test_a_delivery_to_a_removed_webhook_fails_without_being_sent() -> None:
    uow = FakeUnitOfWork()
    delivery_id = queued_webhook(uow)
    [endpoint] = uow.webhooks.rows.values()
    services.remove_webhook(Owner(organization_id=ORG), endpoint.id, uow)
    assert claim_webhooks(uow, FakeClock(NOW)) == []
    assert uow.deliveries.rows[delivery_id].status is DeliveryStatus.FAILED
    [event] = uow.committed_events
    assert isinstance(event, DeliveryRecorded)
    assert (event.delivery_id, event.status, event.attempts) == (delivery_id, "failed", 0)


# What the organisations a referral was offered to are told to do when it goes.
DeletionNotice = Callable[..., ConsentWithdrawn | ReferralErased]
DELETION_NOTICES: dict[str, DeletionNotice] = {
    "consent_withdrawn": consent_withdrawn,
    "erased": referral_erased,
}


def test_a_consent_withdrawal_tells_each_organisation_offered_the_referral_to_delete_it() -> None:
    offer = referral_offered(organization_id=ORG)
    uow = handle(offer)
    handle(consent_withdrawn(offer.referral_id, ORG, OTHER_ORG), uow=uow)
    for reader, organization_id in ((PARTNER, ORG), (OTHER_PARTNER, OTHER_ORG)):
        [notice] = [
            m
            for m in uow.messages.for_reader(reader, unread_only=False, limit=10)
            if m.template is Template.DELETION_REQUESTED
        ]
        assert notice.text == (
            f"Henvisning {offer.referral_id}: borgeren har trukket sit samtykke tilbage. "
            "Slet alt, hvad I har om henvisningen og borgeren."
        )
        assert (
            notice.template,
            notice.organization_id,
            notice.referral_id,
            notice.created_at,
        ) == (Template.DELETION_REQUESTED, organization_id, offer.referral_id, NOW)
    recorded = uow.committed_events[1:]  # after the offer's own
    assert [(e.organization_id, e.channel, e.source_event_type) for e in recorded] == [
        (ORG, "inbox", ConsentWithdrawn.event_type),
        (OTHER_ORG, "inbox", ConsentWithdrawn.event_type),
    ]
    assert uow.commits == 2


def test_after_a_consent_withdrawal_the_messages_about_the_referral_stay() -> None:
    offer = referral_offered(organization_id=ORG)
    uow = handle(offer)
    handle(offer_withdrawn(offer), uow=uow)
    handle(consent_withdrawn(offer.referral_id, ORG), uow=uow)
    messages = uow.messages.for_reader(PARTNER, unread_only=False, limit=10)
    assert sorted(m.template for m in messages) == sorted(
        [Template.REFERRAL_OFFERED, Template.OFFER_WITHDRAWN, Template.DELETION_REQUESTED]
    )
    assert {m.referral_id for m in messages} == {offer.referral_id}


@pytest.mark.parametrize(
    ("notice", "language", "text"),
    [
        (
            consent_withdrawn,
            Language.SV,
            "Remiss {}: personen har återkallat sitt samtycke. "
            "Radera allt ni har om remissen och personen.",
        ),
        (
            referral_erased,
            Language.SV,
            "Remiss {}: personens uppgifter har raderats. "
            "Radera allt ni har om remissen och personen.",
        ),
        (
            consent_withdrawn,
            Language.EN,
            "Referral {}: the citizen withdrew consent. "
            "Please delete everything you hold about the referral and the citizen.",
        ),
        (
            referral_erased,
            Language.EN,
            "Referral {}: the citizen's data was erased. "
            "Please delete everything you hold about the referral and the citizen.",
        ),
        (
            referral_erased,
            Language.DA,
            "Henvisning {}: borgerens oplysninger er slettet. "
            "Slet alt, hvad I har om henvisningen og borgeren.",
        ),
    ],
    ids=["withdrawn-sv", "erased-sv", "withdrawn-en", "erased-en", "erased-da"],
)
def test_a_deletion_notice_says_why_in_the_services_language(
    notice: DeletionNotice, language: Language, text: str
) -> None:
    event = notice(uuid4(), ORG)
    [message] = handle(event, language).messages.rows.values()
    assert message.text == text.format(event.referral_id)
    assert (message.template, message.language) == (Template.DELETION_REQUESTED, language)


@pytest.mark.parametrize("notice", DELETION_NOTICES.values(), ids=DELETION_NOTICES.keys())
def test_a_deletion_notice_goes_by_webhook_as_the_event_naming_only_its_recipient(
    notice: DeletionNotice,
) -> None:
    uow = FakeUnitOfWork()
    with_webhook(uow)
    with_webhook(uow, OTHER_ORG)
    without_webhook = uuid4()
    event = notice(uuid4(), ORG, OTHER_ORG, without_webhook)
    handle(event, uow=uow)
    webhooks = uow.deliveries.of_channel(Channel.WEBHOOK)
    assert sorted(str(d.organization_id) for d in webhooks) == sorted([str(ORG), str(OTHER_ORG)])
    for delivery in webhooks:
        assert (delivery.status, delivery.next_attempt_at, delivery.referral_id) == (
            DeliveryStatus.PENDING,
            NOW,
            event.referral_id,
        )
        assert delivery.body is not None
        body = json.loads(delivery.body)
        assert body["type"] == event.event_type
        assert body["data"] == {
            **event.model_dump(mode="json"),
            "organization_ids": [str(delivery.organization_id)],
        }
    assert (
        len(uow.messages.for_reader(PartnerReader(without_webhook), unread_only=False, limit=9))
        == 1
    )
    assert uow.commits == 1


@pytest.mark.parametrize("notice", DELETION_NOTICES.values(), ids=DELETION_NOTICES.keys())
def test_an_organisation_named_twice_is_told_once(notice: DeletionNotice) -> None:
    uow = FakeUnitOfWork()
    with_webhook(uow)
    handle(notice(uuid4(), ORG, ORG), uow=uow)
    assert len(uow.messages.rows) == 1
    assert len(uow.deliveries.of_channel(Channel.WEBHOOK)) == 1
    assert len(uow.committed_events) == 1


def reader_of(message: Message) -> Reader:
    return OPERATOR if message.audience is Audience.OPERATORS else PARTNER


def test_an_erasure_deletes_every_message_about_the_referral_with_every_readers_marks() -> None:
    offer = referral_offered(organization_id=ORG)
    uow = handle(offer)
    handle(offer_withdrawn(offer, reason="reassigned"), uow=uow)
    handle(referral_escalated(referral_id=offer.referral_id), uow=uow)
    handle(consent_withdrawn(offer.referral_id, ORG), uow=uow)
    other = referral_offered(organization_id=ORG)
    handle(other, uow=uow)
    handle(pool_opened(), uow=uow)
    for message in list(uow.messages.rows.values()):
        services.mark_read(message.id, reader_of(message), uow, FakeClock(NOW))
    kept = {m.id for m in uow.messages.rows.values() if m.referral_id != offer.referral_id}
    assert len(uow.messages.reads) == 6

    handle(referral_erased(offer.referral_id, ORG), uow=uow)

    [notice] = [m for m in uow.messages.rows.values() if m.id not in kept]
    assert (notice.template, notice.referral_id) == (Template.DELETION_REQUESTED, offer.referral_id)
    assert "borgerens oplysninger er slettet" in notice.text
    assert services.inbox(OPERATOR, uow, unread_only=False, limit=10) == []
    assert {message_id for message_id, _ in uow.messages.reads} == kept
    assert [m.id for m in services.inbox(PARTNER, uow, unread_only=True, limit=10)] == [notice.id]


def test_an_erasure_deletes_the_referrals_unsent_webhooks_and_what_the_sent_ones_carried() -> None:
    uow = FakeUnitOfWork()
    with_webhook(uow)
    with_webhook(uow, OTHER_ORG)
    clock = FakeClock(NOW)
    offer = referral_offered(organization_id=ORG)

    def webhook_of(event: IntegrationEvent) -> UUID:
        handle(event, uow=uow)
        [delivery] = [
            d
            for d in uow.deliveries.of_channel(Channel.WEBHOOK)
            if d.body and json.loads(d.body)["data"] == event.model_dump(mode="json")
        ]
        return delivery.id

    def outcome(delivery_id: UUID, error: str | None) -> None:
        record(uow, delivery_id, error, clock)

    delivered = webhook_of(offer)
    outcome(delivered, None)
    failed = webhook_of(offer_withdrawn(offer, reason="reassigned"))
    for _ in range(POLICY.max_attempts):
        outcome(failed, "HTTP 500")
    retrying = webhook_of(offer_expired(offer))
    outcome(retrying, "HTTP 503")
    not_yet_tried = webhook_of(
        referral_offered(referral_id=offer.referral_id, organization_id=OTHER_ORG)
    )
    others = webhook_of(referral_offered(organization_id=ORG))
    before = copy.deepcopy(uow.deliveries.rows)
    assert (before[failed].status, before[retrying].status, before[retrying].attempts) == (
        DeliveryStatus.FAILED,
        DeliveryStatus.PENDING,
        1,
    )

    handle(referral_erased(offer.referral_id, ORG, OTHER_ORG), uow=uow)

    after = uow.deliveries.rows
    assert retrying not in after and not_yet_tried not in after
    for finished in (delivered, failed):
        kept = after[finished]
        assert kept.body is None
        assert (kept.status, kept.attempts, kept.recorded_at, kept.source) == (
            before[finished].status,
            before[finished].attempts,
            before[finished].recorded_at,
            before[finished].source,
        )
    assert after[others] == before[others]
    notices = [d for d in after.values() if d.id not in before and d.channel is Channel.WEBHOOK]
    assert sorted((str(d.organization_id), d.status, d.source.type) for d in notices) == sorted(
        (str(org), DeliveryStatus.PENDING, ReferralErased.event_type) for org in (ORG, OTHER_ORG)
    )
    inbox_records = [d for d in before.values() if d.channel is Channel.INBOX]
    assert all(after[d.id] == d for d in inbox_records), "the inbox's delivery records stay"


def test_a_webhook_erased_while_it_was_being_sent_is_let_go_and_nothing_published() -> None:
    uow = FakeUnitOfWork()
    delivery_id = queued_webhook(uow)
    referral_id = uow.deliveries.rows[delivery_id].referral_id
    assert referral_id is not None
    [attempt] = claim_webhooks(uow, FakeClock(NOW))
    handle(referral_erased(referral_id), uow=uow)
    uow.committed_events.clear()
    assert record(uow, attempt.delivery_id, None, FakeClock(NOW)) is None
    assert delivery_id not in uow.deliveries.rows
    assert uow.committed_events == []


def test_every_consumed_event_type_has_a_subscriber_and_every_subscriber_a_consumed_type() -> None:
    assert set(consumers.handlers(Language.DA)) == set(events.CONSUMES)


def webhook_data(uow: FakeUnitOfWork) -> list[tuple[UUID | None, str, object]]:
    """Each queued webhook: to whom, the event type it carries and the event's data."""
    bodies = [(d.organization_id, d.body) for d in uow.deliveries.of_channel(Channel.WEBHOOK)]
    return [
        (org, json.loads(body)["type"], json.loads(body)["data"]) for org, body in bodies if body
    ]


@pytest.mark.parametrize(
    ("language", "text"),
    [
        (
            Language.DA,
            "Opfølgning 1 på henvisning {id} skal besvares nu (20.12.2026 kl. 10:00). Fortæl "
            "os, om borgeren stadig deltager i fællesskabet: POST /partner/referrals/{id}/"
            "follow-ups/1",
        ),
        (
            Language.SV,
            "Uppföljning 1 av remiss {id} ska besvaras nu (2026-12-20 10:00). Berätta för "
            "oss om personen fortfarande deltar i gemenskapen: POST /partner/referrals/{id}/"
            "follow-ups/1",
        ),
        (
            Language.EN,
            "Follow-up 1 of referral {id} is due (20 December 2026, 10:00). Please "
            "tell us whether the citizen still takes part in the community: POST "
            "/partner/referrals/{id}/follow-ups/1",
        ),
    ],
    ids=["da", "sv", "en"],
)
def test_a_due_follow_up_reaches_the_accepting_organisations_inbox_in_its_language_and_webhook(
    language: Language, text: str
) -> None:
    uow = FakeUnitOfWork()
    with_webhook(uow)
    with_webhook(uow, OTHER_ORG)
    event = follow_up_due(ORG)
    handle(event, language, uow)
    [message] = uow.messages.for_reader(PARTNER, unread_only=False, limit=10)
    assert message.text == text.format(id=event.referral_id)
    assert (message.template, message.language, message.referral_id, message.created_at) == (
        Template.FOLLOW_UP_DUE,
        language,
        event.referral_id,
        NOW,
    )
    assert uow.messages.for_reader(OTHER_PARTNER, unread_only=False, limit=10) == []
    assert webhook_data(uow) == [(ORG, event.event_type, event.model_dump(mode="json"))]
    [recorded] = uow.committed_events
    assert isinstance(recorded, DeliveryRecorded)
    assert (recorded.organization_id, recorded.channel, recorded.source_event_type) == (
        ORG,
        "inbox",
        event.event_type,
    )
    assert uow.commits == 1


@pytest.mark.parametrize(
    "waiting_for",
    [("participation",), ("participation", "wellbeing"), ("wellbeing", "participation")],
    ids=["participation", "both", "both-in-another-order"],
)
def test_a_reminder_reaches_the_organisation_while_its_participation_report_is_missing(
    waiting_for: tuple[FollowUpPart, ...],
) -> None:
    uow = FakeUnitOfWork()
    with_webhook(uow)
    event = follow_up_overdue(*waiting_for, follow_up=2)
    handle(event, uow=uow)
    [message] = uow.messages.for_reader(PARTNER, unread_only=False, limit=10)
    assert message.text == (
        f"Påmindelse: opfølgning 2 på henvisning {event.referral_id} har ventet på jeres svar "
        "siden 20.12.2026 kl. 10:00. Fortæl os, om borgeren stadig deltager i fællesskabet: "
        f"POST /partner/referrals/{event.referral_id}/follow-ups/2"
    )
    assert (message.template, message.referral_id) == (
        Template.FOLLOW_UP_OVERDUE,
        event.referral_id,
    )
    # Told of its own part only: whether the care system asked the citizen is not its business.
    sent = {**event.model_dump(mode="json"), "waiting_for": ["participation"]}
    assert webhook_data(uow) == [(ORG, event.event_type, sent)]
    [recorded] = uow.committed_events
    assert isinstance(recorded, DeliveryRecorded)
    assert (recorded.organization_id, recorded.source_event_type) == (ORG, event.event_type)


async def test_a_reminder_of_the_care_systems_answers_alone_tells_the_partner_nothing() -> None:
    uow = FakeUnitOfWork()
    with_webhook(uow)
    record = record_of(follow_up_overdue("wellbeing"))
    assert await consume(uow, record, clock=FakeClock(NOW)) == []  # type: ignore[arg-type]
    assert uow.messages.rows == {}
    assert uow.deliveries.rows == {}
    assert uow.committed_events == []
    assert (record.headers["ce_source"], record.headers["ce_id"]) in uow.inbox, "handled"


async def test_a_redelivered_reminder_is_not_sent_twice() -> None:
    uow = FakeUnitOfWork()
    with_webhook(uow)
    record = record_of(follow_up_overdue("participation"))
    for _ in range(2):
        assert await consume(uow, record, clock=FakeClock(NOW)) == []  # type: ignore[arg-type]
    assert [m.template for m in uow.messages.rows.values()] == [Template.FOLLOW_UP_OVERDUE]
    assert len(uow.deliveries.of_channel(Channel.WEBHOOK)) == 1
    assert [
        e.source_event_type for e in uow.committed_events if isinstance(e, DeliveryRecorded)
    ] == [FollowUpOverdue.event_type]


@pytest.mark.parametrize(
    ("waiting_for", "missing"),
    [
        (("participation",), "partnerens besked om, hvorvidt borgeren deltager"),
        (("wellbeing",), "omsorgssystemets svar om borgerens trivsel"),
        (
            ("wellbeing", "participation"),
            "partnerens besked om, hvorvidt borgeren deltager og omsorgssystemets svar om "
            "borgerens trivsel",
        ),
    ],
    ids=["partner", "care-system", "both"],
)
def test_an_escalated_follow_up_reaches_the_operators_naming_district_follow_up_and_whats_missing(
    waiting_for: tuple[FollowUpPart, ...], missing: str
) -> None:
    uow = FakeUnitOfWork()
    with_webhook(uow)
    event = follow_up_escalated(*waiting_for, district="Vesterbro", follow_up=2)
    handle(event, uow=uow)
    [message] = uow.messages.for_reader(OPERATOR, unread_only=False, limit=10)
    assert message.text == (
        f"Opfølgning 2 på henvisning {event.referral_id} fra Vesterbro er ikke besvaret trods "
        f"påmindelse (skulle besvares fra 20.12.2026 kl. 10:00). Mangler: {missing}."
    )
    assert (message.audience, message.template, message.referral_id, message.created_at) == (
        Audience.OPERATORS,
        Template.FOLLOW_UP_ESCALATED,
        event.referral_id,
        NOW,
    )
    assert uow.messages.for_reader(PARTNER, unread_only=False, limit=10) == []
    assert uow.deliveries.of_channel(Channel.WEBHOOK) == []
    [inbox] = uow.deliveries.of_channel(Channel.INBOX)
    assert operators_inbox_only(uow) == [inbox.id]
    assert uow.commits == 1


def test_an_escalated_follow_up_is_written_in_the_services_language() -> None:
    event = follow_up_escalated("participation", "wellbeing", follow_up=1)
    [message] = handle(event, Language.EN).messages.rows.values()
    assert message.text == (
        f"Follow-up 1 of referral {event.referral_id} from Nørrebro is still unanswered after "
        "a reminder (due since 20 December 2026, 10:00). Missing: the partner's "
        "report on whether the citizen takes part and the care system's answers on the "
        "citizen's well-being."
    )
