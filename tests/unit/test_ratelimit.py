"""Token bucket arithmetic on a fake clock."""

from __future__ import annotations

import pytest

from damselfly.common.clock import FakeClock
from damselfly.common.ratelimit import TokenBucket


def test_burst_passes_then_the_rate_holds() -> None:
    clock = FakeClock()
    bucket = TokenBucket(100.0, burst=10.0, clock=clock.now)
    assert bucket.delay_for(10) == 0.0
    assert bucket.delay_for(50) == pytest.approx(0.5)  # 50 bytes of debt at 100 B/s
    clock.advance(0.5)
    assert bucket.delay_for(100) == pytest.approx(1.0)


def test_refill_is_capped_at_the_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(100.0, burst=20.0, clock=clock.now)
    clock.advance(60)
    assert bucket.delay_for(20) == 0.0
    assert bucket.delay_for(10) == pytest.approx(0.1)


def test_long_run_average_equals_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1000.0, clock=clock.now)
    for _ in range(100):
        clock.advance(bucket.delay_for(64))
    assert 100 * 64 / (clock.now() - 1000.0) == pytest.approx(1000.0, rel=0.05)


def test_zero_rate_is_unlimited() -> None:
    assert TokenBucket(0).unlimited
    assert not TokenBucket(1).unlimited
