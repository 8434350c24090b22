"""Token buckets with a fake clock: refill, reserve for urgent requests, blocking acquire with timeout."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kalshi_guard.core.errors import RateLimited
from kalshi_guard.exchange.buckets import BucketKind, Priority, RateBuckets, TokenBucket
from kalshi_guard.exchange.wire_reads import AccountLimits, BucketLimit


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def sleep(self, s):
        self.now += s


class TestTokenBucket:
    def test_starts_full_and_drains(self):
        """A new bucket holds its capacity and refuses once drained."""
        clock = FakeClock()
        b = TokenBucket(10, 20, clock=clock)
        assert all(b.try_acquire(10) for _ in range(2))
        assert not b.try_acquire(10)

    def test_refills_at_rate(self):
        """Tokens come back at ``rate`` per second, capped at capacity."""
        clock = FakeClock()
        b = TokenBucket(10, 20, clock=clock)
        b.try_acquire(20)
        clock.now += 0.5
        assert b.tokens() == pytest.approx(5)
        clock.now += 100
        assert b.tokens() == pytest.approx(20)

    def test_reserve_only_for_urgent(self):
        """NORMAL requests stop at the reserve; URGENT ones may use it."""
        clock = FakeClock()
        b = TokenBucket(100, 100, reserve_fraction=0.2, clock=clock)
        assert b.try_acquire(80, Priority.NORMAL)
        assert not b.try_acquire(2, Priority.NORMAL)
        assert b.try_acquire(2, Priority.URGENT)
        assert b.try_acquire(18, Priority.URGENT)
        assert not b.try_acquire(1, Priority.URGENT)

    def test_wait_time(self):
        """wait_time says how long until the cost fits above the floor; inf when it never can."""
        clock = FakeClock()
        b = TokenBucket(10, 20, reserve_fraction=0.5, clock=clock)
        b.try_acquire(20, Priority.URGENT)
        assert b.wait_time(10, Priority.URGENT) == pytest.approx(1.0)
        assert b.wait_time(10, Priority.NORMAL) == pytest.approx(2.0)
        assert b.wait_time(15, Priority.NORMAL) == float("inf")

    def test_most_is_capacity_above_the_floor(self):
        """The largest cost a request can ever get: the capacity, less the reserve for NORMAL."""
        b = TokenBucket(100, 200, reserve_fraction=0.2, clock=FakeClock())
        assert b.most(Priority.NORMAL) == pytest.approx(160)
        assert b.most(Priority.URGENT) == pytest.approx(200)

    def test_configure_caps_tokens(self):
        """Shrinking the capacity caps the tokens held."""
        clock = FakeClock()
        b = TokenBucket(10, 100, clock=clock)
        b.configure(5, 10)
        assert b.tokens() == pytest.approx(10)

    def test_invalid_parameters(self):
        """Non-positive rate or a reserve of 1 is refused."""
        with pytest.raises(ValueError, match="positive"):
            TokenBucket(0, 1)
        with pytest.raises(ValueError, match="reserve"):
            TokenBucket(1, 1, reserve_fraction=1.0)


class TestRateBuckets:
    def test_acquire_waits_for_refill(self):
        """A blocking acquire sleeps (on the injected sleeper) until tokens refill."""
        clock = FakeClock()
        rb = RateBuckets(100, 100, reserve_fraction=0.0, clock=clock, sleep=clock.sleep)
        rb.acquire(BucketKind.WRITE, 100)
        start = clock.now
        rb.acquire(BucketKind.WRITE, 50, timeout=5)
        assert clock.now - start == pytest.approx(0.5, abs=0.01)

    def test_acquire_raises_when_too_long(self):
        """An acquire that would wait beyond its timeout raises RateLimited without taking tokens."""
        clock = FakeClock()
        rb = RateBuckets(100, 10, reserve_fraction=0.0, clock=clock, sleep=clock.sleep)
        rb.acquire(BucketKind.WRITE, 10)
        with pytest.raises(RateLimited):
            rb.acquire(BucketKind.WRITE, 10, timeout=0.5)

    def test_read_and_write_independent(self):
        """Draining the write bucket leaves reads untouched."""
        clock = FakeClock()
        rb = RateBuckets(100, 100, reserve_fraction=0.0, clock=clock)
        assert rb.try_acquire(BucketKind.WRITE, 100)
        assert rb.try_acquire(BucketKind.READ, 100)

    def test_configure_from_limits(self):
        """Budgets from /account/limits resize both buckets."""
        clock = FakeClock()
        rb = RateBuckets(10, 10, clock=clock)
        rb.configure_from_limits(AccountLimits("advanced", BucketLimit(Decimal(300), Decimal(600)),
                                               BucketLimit(Decimal(300), Decimal(300))))
        assert (rb.read.rate, rb.read.capacity, rb.write.capacity) == (300, 600, 300)

    def test_a_grown_bucket_keeps_its_share_full(self):
        """A full bucket resized larger is full at its new size: a NORMAL request need not wait for the new
        reserve to refill; one half spent stays half spent; a shrunk one never holds more than before."""
        clock = FakeClock()
        rb = RateBuckets(100, 100, reserve_fraction=0.2, clock=clock)
        assert rb.try_acquire(BucketKind.READ, 50)
        rb.configure_from_limits(AccountLimits("premier", BucketLimit(Decimal(1_000_000), Decimal(2_000_000)),
                                               BucketLimit(Decimal(1_000_000), Decimal(2_000_000))))
        assert rb.write.tokens() == pytest.approx(2_000_000)
        assert rb.try_acquire(BucketKind.WRITE, 10)
        assert rb.read.tokens() == pytest.approx(1_000_000)
        rb.read.configure(10, 20)
        assert rb.read.tokens() == pytest.approx(10)

    def test_from_requests_per_s(self):
        """Settings in requests/s become tokens at 10 per request."""
        rb = RateBuckets.from_requests_per_s(20, 10, 0.2)
        assert (rb.read.rate, rb.write.rate, rb.write.reserve) == (200, 100, pytest.approx(20))
