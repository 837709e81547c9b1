"""Fixtures of the referrals tests."""

import pytest

from referrals import services
from tests.fakes import FakeClock
from tests.referrals.fakes import FakeUnitOfWork
from tests.referrals.support import NOW, TTL


@pytest.fixture
def clock() -> FakeClock:
    """The time, NOW until the test moves it."""
    return FakeClock(NOW)


@pytest.fixture
def uow() -> FakeUnitOfWork:
    """The referrals' fake unit of work, for service-layer tests."""
    return FakeUnitOfWork()


@pytest.fixture
def lifecycle(uow: FakeUnitOfWork, clock: FakeClock) -> services.Lifecycle:
    """The use cases' dependencies on fakes; store and API tests override it."""
    return services.Lifecycle(uow, TTL, clock)
