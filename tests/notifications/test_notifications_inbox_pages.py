"""An inbox read a page at a time, newest first, on SQLite and PostgreSQL: every message
once across the pages, and the total of what is there (or unread)."""

from __future__ import annotations

from datetime import timedelta

from notifications import services
from tests.events import referral_offered
from tests.fakes import FakeClock
from tests.kit import record_of
from tests.notifications.support import NOW, ORG, OTHER_PARTNER, PARTNER, StartUow, consume


async def test_an_inbox_read_page_by_page_gives_every_message_once_newest_first(
    start_uow: StartUow,
) -> None:
    for minute in range(7):
        record = record_of(referral_offered(organization_id=ORG))
        assert (
            await consume(start_uow, record, clock=FakeClock(NOW + timedelta(minutes=minute))) == []
        )

    pages = [
        services.inbox(PARTNER, start_uow, unread_only=False, limit=3, offset=offset)
        for offset in (0, 3, 6)
    ]

    assert [len(page) for page in pages] == [3, 3, 1]
    times = [m.created_at for page in pages for m in page]
    assert times == sorted(times, reverse=True)
    assert len({m.id for page in pages for m in page}) == 7
    assert services.inbox_size(PARTNER, start_uow, unread_only=False) == 7
    assert services.inbox_size(OTHER_PARTNER, start_uow, unread_only=False) == 0


async def test_the_unread_total_falls_as_messages_are_marked_read(start_uow: StartUow) -> None:
    for _ in range(3):
        assert await consume(start_uow, record_of(referral_offered(organization_id=ORG))) == []
    newest = services.inbox(PARTNER, start_uow, unread_only=True, limit=1)[0]

    services.mark_read(newest.id, PARTNER, start_uow)

    assert services.inbox_size(PARTNER, start_uow, unread_only=True) == 2
    assert services.inbox_size(PARTNER, start_uow, unread_only=False) == 3
    unread = services.inbox(PARTNER, start_uow, unread_only=True, limit=10, offset=1)
    assert len(unread) == 1 and newest.id not in {m.id for m in unread}
