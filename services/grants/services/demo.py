"""The use case that fills an empty grants service with the demo (`grants.demo`)."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from grants import demo
from grants.services.common import UnitOfWorkFactory


def seed_demo(start_uow: UnitOfWorkFactory) -> bool:
    """Write the demo's past pool, its applications and their reviews in one transaction
    when grants has no pool yet; True if it did. A service with any pool is left alone, so
    restarts change nothing.

    Publishes nothing: the demo pool happened in the past, and no partner is to hear of it
    as news (nor a decision letter reach a demo organisation)."""
    with start_uow() as uow:
        if uow.pools.all():
            return False
        made = demo.grants()
        try:
            uow.pools.add(made.pool)
            for application in made.applications:
                uow.applications.add(application)
            for reviews in made.reviews:
                uow.reviews.save(reviews)
            uow.commit()
        except IntegrityError:
            # Another replica seeded the same stable ids between the look and now.
            return False
    return True
