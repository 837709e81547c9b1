"""The fakes every service's unit tests build on: a unit of work's transaction machinery,
written once, and a clock that stands still until the test moves it.

A service's fake unit of work subclasses `FakeUnitOfWork`, adds its fake repositories and
names in `_tables` what holds their rows.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Self

from contracts import IntegrationEvent
from runtime.storage import ConsumedEvent

_State = tuple[set[tuple[str, str]], dict[tuple[str, str], tuple[str, str]], list[dict[str, Any]]]
"""The inbox, the idempotency keys and the attributes of each table, as copied for a rollback."""


class FakeUnitOfWork:
    """One in-memory database and its unit of work at once: its own factory (`start_uow()`
    returns it), so a test can look inside afterwards.

    Like the real one: leaving the block without `commit` rolls back the tables, the inbox
    and the idempotency keys, and drops the events queued by `publish`; `commit` publishes
    them (to `committed_events`, in order) and makes the writes stay.
    """

    def __init__(self) -> None:
        self.committed = False
        self.commits = 0
        self.committed_events: list[IntegrationEvent] = []
        self.forwarded: list[tuple[str, IntegrationEvent]] = []
        """(topic, event) of each consumed event forwarded, as committed, in order."""
        self.consumed: ConsumedEvent | None = None
        self.inbox: set[tuple[str, str]] = set()
        """(source, event id) of every event a consumer processed."""
        self.keys: dict[tuple[str, str], tuple[str, str]] = {}
        """(principal, Idempotency-Key) -> (fingerprint, id of what it created)."""
        self._pending: list[IntegrationEvent] = []
        self._pending_forwards: list[tuple[str, IntegrationEvent]] = []
        self._saved: _State | None = None
        """What a rollback goes back to; None while no transaction is open."""

    def _tables(self) -> list[object]:
        """The objects whose attributes are the service's rows (its fake repositories, say):
        a rollback gives each its attributes back as they were at `__enter__` or `commit`."""
        return []

    def __call__(self) -> Self:
        return self

    def __enter__(self) -> Self:
        self.committed = False
        self._saved = self._state()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._pending.clear()
        self._pending_forwards.clear()
        if self._saved is not None:
            self._put(self._saved)
        self._saved = None

    def publish(self, event: IntegrationEvent) -> None:
        self._pending.append(event)

    def forward(self, event: IntegrationEvent, topic: str) -> None:
        if self.consumed is None:
            raise RuntimeError("only an event being consumed can be forwarded")
        self._pending_forwards.append((topic, event))

    def record_processed(
        self,
        event_id: str,
        event_type: str,
        source: str,
        attributes: Mapping[str, str] | None = None,
    ) -> bool:
        if (source, event_id) in self.inbox:
            return False
        self.consumed = ConsumedEvent(event_id, event_type, source, dict(attributes or {}))
        self.inbox.add((source, event_id))
        return True

    def find_idempotency_key(self, principal: str, key: str) -> tuple[str, str] | None:
        return self.keys.get((principal, key))

    def record_idempotency_key(
        self, principal: str, key: str, fingerprint: str, resource_id: str
    ) -> None:
        self.keys[(principal, key)] = (fingerprint, resource_id)

    def commit(self) -> None:
        self.committed = True
        self.commits += 1
        self.committed_events += self._pending
        self.forwarded += self._pending_forwards
        self._pending.clear()
        self._pending_forwards.clear()
        self._saved = self._state()

    def committed_elsewhere(self, write: Callable[[], object]) -> None:
        """Run `write` as another transaction that commits at once: on what a rollback of
        this one goes back to as well as on what this one sees."""
        if self._saved is not None:
            ours = self._state()
            self._put(self._saved)
            write()
            self._saved = self._state()
            self._put(ours)
        write()

    def _state(self) -> _State:
        tables = self._tables()
        # Pinned, a table that refers to another (a repository that reads its neighbour's
        # rows) goes on referring to the live one rather than to a copy.
        pinned: dict[int, Any] = {id(table): table for table in [self, *tables]}
        copied: _State = copy.deepcopy(
            (self.inbox, self.keys, [vars(table) for table in tables]), pinned
        )
        return copied

    def _put(self, state: _State) -> None:
        self.inbox, self.keys, contents = state
        for table, attributes in zip(self._tables(), contents, strict=True):
            vars(table).update(attributes)


class FakeClock:
    """The time the test says it is; tests move it instead of sleeping."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> datetime:
        self.now += by
        return self.now
