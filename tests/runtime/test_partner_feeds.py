"""Which partners read their events on Kafka, from the topics the broker lists to the
service: the broker's answer played by the test."""

from collections.abc import Iterable
from uuid import uuid4

import pytest

from contracts.partners import partner_topic
from runtime.consumer import Unavailable
from runtime.partner_feeds import PartnerFeeds, PartnerFeedsUnknown


class Broker:
    def __init__(self, *topics: str) -> None:
        self.topics = set(topics)
        self.down = False

    async def list_topics(self) -> Iterable[str]:
        if self.down:
            raise ConnectionError("no broker answers")
        return set(self.topics)


async def test_the_partners_reading_kafka_are_those_whose_topics_the_broker_lists() -> None:
    reader, other = uuid4(), uuid4()
    broker = Broker(
        partner_topic(reader),
        partner_topic(other),
        "referrals.referral.v1",
        f"partner.{reader}.v2",
        "partner.not-a-uuid.v1",
        f"partner.{str(reader).upper()}.v1",  # not how the command names it
    )
    feeds = PartnerFeeds(broker.list_topics)
    await feeds.refresh()
    assert feeds.organizations() == {reader, other}


async def test_until_the_broker_first_answers_the_caller_is_told_to_try_again_later() -> None:
    broker = Broker(partner_topic(uuid4()))
    broker.down = True
    feeds = PartnerFeeds(broker.list_topics, wait_seconds=0.01)
    with pytest.raises(ConnectionError):
        await feeds.refresh()
    with pytest.raises(PartnerFeedsUnknown) as raised:
        feeds.organizations()
    assert isinstance(raised.value, Unavailable), "a consumer retries it, never dead-letters"


async def test_a_revoked_partner_drops_out_at_the_next_answer_a_failed_one_changes_nothing() -> (
    None
):
    kept, revoked = uuid4(), uuid4()
    broker = Broker(partner_topic(kept), partner_topic(revoked))
    feeds = PartnerFeeds(broker.list_topics)
    await feeds.refresh()
    broker.topics.discard(partner_topic(revoked))
    broker.down = True
    with pytest.raises(ConnectionError):
        await feeds.refresh()
    assert feeds.organizations() == {kept, revoked}
    broker.down = False
    await feeds.refresh()
    assert feeds.organizations() == {kept}


def test_a_process_writing_no_partners_topic_knows_at_once_that_none_reads_kafka() -> None:
    assert PartnerFeeds.none().organizations() == frozenset()
