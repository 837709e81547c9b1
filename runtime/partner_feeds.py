"""Which partner organisations read their events on Kafka: the partners' topics this
service may write, as the broker's metadata lists them.

`brobygger partners kafka-access` creates a partner's topic and gives notifications WRITE on
it, and `--revoke` takes that away. A metadata request lists only the topics the asking
principal may describe, which WRITE implies, so the list is exactly where the service may
write; no database keeps a second copy that could disagree. It is fetched again every
`refresh_seconds`: a partner given access is written to from the next fetch on; one whose
access was revoked drops out at the next, and what was already queued for it is discarded
by the outbox relay.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterable
from uuid import UUID

from aiokafka.client import AIOKafkaClient

from contracts.partners import partner_of
from runtime.consumer import Unavailable
from runtime.kafka_security import KafkaLogin
from runtime.logs import get_logger
from runtime.relay import describe

ListTopics = Callable[[], Awaitable[Iterable[str]]]
"""The topics this service's principal may describe, as the broker lists them now."""

log = get_logger(component="partner-feeds")


class PartnerFeedsUnknown(Unavailable):
    """The broker has not yet said which partners read on Kafka."""


class PartnerFeeds:
    def __init__(
        self,
        list_topics: ListTopics,
        *,
        refresh_seconds: float = 10.0,
        wait_seconds: float = 10.0,
    ) -> None:
        """`wait_seconds`: how long a caller waits for the first list before it is told
        to try again later (`PartnerFeedsUnknown`)."""
        self._list_topics = list_topics
        self._refresh_seconds = refresh_seconds
        self._wait_seconds = wait_seconds
        self._organizations: frozenset[UUID] = frozenset()
        self._known = threading.Event()

    @classmethod
    def none(cls) -> PartnerFeeds:
        """Known to be empty: for a process, or a test, that writes no partner's topic."""

        async def no_topics() -> Iterable[str]:
            return ()

        feeds = cls(no_topics)
        feeds._known.set()
        return feeds

    def organizations(self) -> frozenset[UUID]:
        """The organisations with a topic of their own; from any thread. Until the broker
        first answered, waits a little, then raises `PartnerFeedsUnknown`: an event is
        never handled as if no partner read Kafka only because the broker was slow."""
        if not self._known.wait(self._wait_seconds):
            raise PartnerFeedsUnknown("the broker has not listed the partners' topics yet")
        return self._organizations

    async def refresh(self) -> None:
        topics = await self._list_topics()
        found = frozenset(org for org in map(partner_of, topics) if org is not None)
        if found != self._organizations or not self._known.is_set():
            log.info("partner_feeds.listed", partners=len(found))
        self._organizations = found
        self._known.set()

    async def run(self) -> None:
        """Fetch the list now and every `refresh_seconds`, for the life of the process."""
        while True:
            try:
                await self.refresh()
            except Exception as error:
                log.warning("partner_feeds.refresh_failed", error=describe(error))
            await asyncio.sleep(self._refresh_seconds)


class BrokerTopics:
    """A `ListTopics` asking the broker with a metadata client of its own, logged in as
    `login`: opened at the first call, kept open until `close`."""

    def __init__(self, bootstrap_servers: str, login: KafkaLogin, client_id: str) -> None:
        self._options = {
            "bootstrap_servers": bootstrap_servers,
            "client_id": client_id,
            **login.aiokafka_options(),
        }
        self._client: AIOKafkaClient | None = None

    async def __call__(self) -> Iterable[str]:
        if self._client is None:
            client = AIOKafkaClient(**self._options)
            try:
                await client.bootstrap()
            except BaseException:
                await client.close()
                raise
            self._client = client
        metadata = await self._client.fetch_all_metadata()
        return set(metadata.topics())

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
