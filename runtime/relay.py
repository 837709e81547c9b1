"""The outbox relay: publishes committed outbox rows to Kafka, in order, at least once.

A row is marked published only after the broker acknowledged it (idempotent producer,
acks=all). A crash between the acknowledgement and the mark publishes the row again on
restart, with the same `ce_id`; consumers drop it through their inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from runtime.envelope import OutgoingMessage
from runtime.logs import get_logger
from runtime.storage import outbox, utcnow

Publish = Callable[[OutgoingMessage], Awaitable[None]]

log = get_logger(component="outbox-relay")


@dataclass
class PendingRow:
    seq: int
    message: OutgoingMessage


class OutboxRelay:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        publish: Publish,
        *,
        batch_size: int = 200,
        poll_seconds: float = 1.0,
        max_backoff_seconds: float = 10.0,
    ) -> None:
        self._session_factory = session_factory
        self._publish = publish
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._max_backoff = max_backoff_seconds
        self._wakeup = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """Called after a commit, from any thread: publish now rather than at the next poll."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wakeup.set)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        backoff = 0.1
        while True:
            self._wakeup.clear()
            try:
                published_all = await self.publish_pending()
                backoff = 0.1
            except Exception as error:
                log.warning("outbox.publish_failed", error=repr(error), retry_in_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            if published_all:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self._poll_seconds)

    async def publish_pending(self) -> bool:
        """Publish one batch in outbox order; True when the outbox is empty afterwards.

        Stops at the first failure, so that a later event of an aggregate never overtakes
        an earlier one; what was acknowledged until then is marked.
        """
        rows = await asyncio.to_thread(self._fetch_pending)
        published: list[int] = []
        try:
            for row in rows:
                await self._publish(row.message)
                published.append(row.seq)
        except Exception as error:
            if rows:
                failed = rows[len(published)].seq
                await asyncio.to_thread(self._record_failure, failed, repr(error))
            raise
        finally:
            if published:
                await asyncio.to_thread(self._mark_published, published)
                log.debug("outbox.published", count=len(published))
        return len(rows) < self._batch_size

    def _fetch_pending(self) -> list[PendingRow]:
        with self._session_factory() as session:
            result = session.execute(
                select(outbox)
                .where(outbox.c.published_at.is_(None))
                .order_by(outbox.c.seq)
                .limit(self._batch_size)
            )
            return [
                PendingRow(
                    seq=row.seq,
                    message=OutgoingMessage(
                        event_id=row.event_id,
                        topic=row.topic,
                        key=row.key,
                        headers=dict(row.headers),
                        value=bytes(row.value),
                    ),
                )
                for row in result
            ]

    def _mark_published(self, seqs: list[int]) -> None:
        with self._session_factory() as session:
            session.execute(
                update(outbox).where(outbox.c.seq.in_(seqs)).values(published_at=utcnow())
            )
            session.commit()

    def _record_failure(self, seq: int, error: str) -> None:
        with self._session_factory() as session:
            session.execute(
                update(outbox)
                .where(outbox.c.seq == seq)
                .values(attempts=outbox.c.attempts + 1, last_error=error[:2000])
            )
            session.commit()
