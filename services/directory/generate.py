"""`brobygger directory generate`: synthetic communities for load tests (placeholder until
the generator lands)."""

from __future__ import annotations

from directory import services


def fill(start_uow: services.UnitOfWorkFactory, *, services: int, seed: int) -> int:
    raise NotImplementedError("the generator is not written yet")
