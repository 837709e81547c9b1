"""A partner that reads Kafka gets on its own topic exactly what its webhook carries: use
cases on fakes, the partners reading Kafka named by the test."""

import json
from collections.abc import Callable
from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from contracts import IntegrationEvent
from contracts.partners import PARTNER_EVENTS, partner_topic
from notifications import consumers
from notifications.domain import Channel, Language
from notifications.webhooks import WebhookEndpoint, new_secret
from tests.events import (
    offer_expired,
    offer_withdrawn,
    pool_opened,
    referral_escalated,
    referral_offered,
)
from tests.fakes import FakeClock
from tests.notifications.fakes import FakeUnitOfWork
from tests.notifications.support import (
    BOX,
    NOW,
    ORG,
    OTHER_ORG,
    application_decided,
    consent_withdrawn,
    follow_up_due,
    follow_up_escalated,
    follow_up_overdue,
    referral_erased,
    report_overdue,
    volunteer_named,
)

FOR_ORG: dict[str, Callable[[], IntegrationEvent]] = {
    "referral_offered": lambda: referral_offered(organization_id=ORG),
    "offer_withdrawn": lambda: offer_withdrawn(referral_offered(organization_id=ORG)),
    "offer_expired": lambda: offer_expired(referral_offered(organization_id=ORG)),
    "follow_up_due": lambda: follow_up_due(ORG),
    "follow_up_overdue": lambda: follow_up_overdue("participation", organization_id=ORG),
    "consent_withdrawn": lambda: consent_withdrawn(uuid4(), ORG),
    "referral_erased": lambda: referral_erased(uuid4(), ORG),
    "pool_opened": pool_opened,
    "application_decided": lambda: application_decided(ORG),
    "report_overdue": lambda: report_overdue(ORG),
}
"""One event of each type a partner is sent, meant for ORG (a pool opening: for every one)."""


def handle(event: IntegrationEvent, uow: FakeUnitOfWork) -> FakeUnitOfWork:
    consuming = uow.consuming(event.event_type)
    consumers.handlers(Language.DA, FakeClock(NOW))[type(event)](event, consuming)
    return consuming


def reading_kafka(*organizations: UUID) -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    uow.partner_feeds.reading.update(organizations)
    return uow


def with_webhook(uow: FakeUnitOfWork, organization_id: UUID) -> None:
    endpoint_id = uuid4()
    uow.webhooks.add(
        WebhookEndpoint(
            id=endpoint_id,
            url="https://partner.example/hook",
            secret=BOX.seal(new_secret(), endpoint_id),
            created_at=NOW - timedelta(days=1),
            organization_id=organization_id,
        )
    )


def test_there_is_an_example_of_every_event_a_partner_is_sent() -> None:
    assert {type(make()) for make in FOR_ORG.values()} == set(PARTNER_EVENTS)


@pytest.mark.parametrize("make", FOR_ORG.values(), ids=FOR_ORG.keys())
def test_each_event_a_partner_is_sent_goes_on_its_topic_with_the_data_its_webhook_carries(
    make: Callable[[], IntegrationEvent],
) -> None:
    uow = reading_kafka(ORG)
    with_webhook(uow, ORG)
    event = make()

    handle(event, uow)

    [(topic, sent)] = uow.forwarded
    assert topic == partner_topic(ORG) == f"partner.{ORG}.v1"
    [webhook] = uow.deliveries.of_channel(Channel.WEBHOOK)
    assert webhook.body is not None
    assert sent.model_dump(mode="json") == json.loads(webhook.body)["data"]
    assert uow.commits == 1


NOT_BROADCAST = {name: make for name, make in FOR_ORG.items() if name != "pool_opened"}


@pytest.mark.parametrize("make", NOT_BROADCAST.values(), ids=NOT_BROADCAST.keys())
def test_an_organisation_without_a_topic_of_its_own_gets_nothing_on_kafka(
    make: Callable[[], IntegrationEvent],
) -> None:
    uow = handle(make(), reading_kafka(OTHER_ORG))
    assert uow.forwarded == []
    assert uow.commits == 1


def test_a_pool_opening_goes_on_the_topic_of_every_partner_reading_kafka() -> None:
    event = pool_opened()
    uow = handle(event, reading_kafka(ORG, OTHER_ORG))
    assert sorted(uow.forwarded, key=lambda sent: sent[0]) == sorted(
        [(partner_topic(ORG), event), (partner_topic(OTHER_ORG), event)], key=lambda s: s[0]
    )


@pytest.mark.parametrize("notice", [consent_withdrawn, referral_erased])
def test_a_deletion_notice_on_each_topic_names_only_the_organisation_reading_it(
    notice: Callable[..., IntegrationEvent],
) -> None:
    without_topic = uuid4()
    uow = handle(notice(uuid4(), ORG, OTHER_ORG, without_topic), reading_kafka(ORG, OTHER_ORG))
    sent = {
        topic: event.model_dump(mode="json")["organization_ids"] for topic, event in uow.forwarded
    }
    assert sent == {partner_topic(ORG): [str(ORG)], partner_topic(OTHER_ORG): [str(OTHER_ORG)]}


def test_an_overdue_follow_up_on_the_topic_names_only_the_partners_own_missing_part() -> None:
    uow = handle(follow_up_overdue("participation", "wellbeing"), reading_kafka(ORG))
    [(_, sent)] = uow.forwarded
    assert sent.model_dump(mode="json")["waiting_for"] == ["participation"]


def test_an_overdue_follow_up_waiting_only_for_the_care_system_is_not_on_the_topic() -> None:
    assert handle(follow_up_overdue("wellbeing"), reading_kafka(ORG)).forwarded == []


@pytest.mark.parametrize(
    "event",
    [
        referral_escalated(),
        follow_up_escalated("participation"),
        volunteer_named(uuid4(), ORG),
    ],
    ids=["escalated", "follow_up_escalated", "volunteer_named"],
)
def test_what_is_for_operators_or_volunteers_never_reaches_a_partners_topic(
    event: IntegrationEvent,
) -> None:
    assert handle(event, reading_kafka(ORG)).forwarded == []
