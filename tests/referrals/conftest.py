"""Fixtures of the referrals tests."""

import pytest

from tests.fakes import FakeClock
from tests.referrals.support import NOW


@pytest.fixture
def clock() -> FakeClock:
    """The time, NOW until the test moves it."""
    return FakeClock(NOW)
