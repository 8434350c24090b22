"""Client-side token buckets mirroring Kalshi's read and write budgets, with a reserve for cancels and exits.

Costs follow docs/kalshi.md §4.3 (default 10 tokens; get-order, cancel and cancel-all 2; batch cancel 2 per item;
batch create 10 per item). A NORMAL request may not take the write bucket below its reserve; an URGENT one
(cancel, exit/flatten) may drain it to zero, so an emergency never meets our own limiter.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import StrEnum

from kalshi_guard.core.errors import RateLimited
from kalshi_guard.exchange.wire_reads import AccountLimits

DEFAULT_COST = 10
CHEAP_COST = 2


class Priority(StrEnum):
    """NORMAL orders and reads; URGENT cancels and exposure-reducing exits (may use the reserve)."""

    NORMAL = "normal"
    URGENT = "urgent"


class BucketKind(StrEnum):
    """Kalshi's two independent buckets."""

    READ = "read"
    WRITE = "write"


class TokenBucket:
    """A token bucket (``rate`` tokens/s, ``capacity`` tokens) with a reserve only URGENT may use.

    Thread-safe. The clock is injectable (seconds, monotonic). Starts full.
    """

    def __init__(self, rate: float, capacity: float, *, reserve_fraction: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or capacity <= 0 or not 0 <= reserve_fraction < 1:
            raise ValueError("rate and capacity must be positive and reserve_fraction in [0, 1)")
        self._clock = clock
        self._lock = threading.Lock()
        self.rate = float(rate)
        self.capacity = float(capacity)
        self.reserve_fraction = float(reserve_fraction)
        self._tokens = self.capacity
        self._stamp = clock()

    @property
    def reserve(self) -> float:
        """Tokens that only URGENT requests may take."""
        return self.capacity * self.reserve_fraction

    def configure(self, rate: float, capacity: float) -> None:
        """Resize (from ``/account/limits``) keeping the share of the bucket that is full: a full bucket stays
        full, a half-spent one half-spent. (Keeping the token count instead left a grown bucket below its new
        reserve, so every NORMAL request waited for a refill it did not need: ~0.4 s at each start in paper
        mode.) Raises ValueError for a non-positive rate or capacity, leaving the bucket as it was."""
        if rate <= 0 or capacity <= 0:
            raise ValueError("rate and capacity must be positive")
        with self._lock:
            self._refill()
            full = self._tokens / self.capacity
            self.rate, self.capacity = float(rate), float(capacity)
            self._tokens = full * self.capacity

    def tokens(self) -> float:
        """Tokens available now (to URGENT; NORMAL sees this minus the reserve)."""
        with self._lock:
            self._refill()
            return self._tokens

    def _refill(self) -> None:
        now = self._clock()
        if now > self._stamp:
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def most(self, priority: Priority = Priority.NORMAL) -> float:
        """The largest cost one request of ``priority`` can ever be granted (capacity above its floor)."""
        with self._lock:
            return self.capacity - self._floor(priority)

    def _floor(self, priority: Priority) -> float:
        return 0.0 if priority is Priority.URGENT else self.reserve

    def try_acquire(self, cost: float, priority: Priority = Priority.NORMAL) -> bool:
        """Take ``cost`` tokens now if available above the priority's floor; never blocks."""
        with self._lock:
            self._refill()
            if self._tokens - cost >= self._floor(priority) - 1e-9:
                self._tokens -= cost
                return True
            return False

    def wait_time(self, cost: float, priority: Priority = Priority.NORMAL) -> float:
        """Seconds until ``cost`` tokens would be available (inf when it exceeds what the bucket can hold)."""
        with self._lock:
            self._refill()
            need = cost + self._floor(priority) - self._tokens
            if cost + self._floor(priority) > self.capacity + 1e-9:
                return float("inf")
            return max(0.0, need / self.rate)


class RateBuckets:
    """The read and write buckets of one member (shared by every client of the process)."""

    def __init__(self, read_rate: float = 200.0, write_rate: float = 100.0, *, reserve_fraction: float = 0.2,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], object] | None = None) -> None:
        self.read = TokenBucket(read_rate, read_rate, clock=clock)
        self.write = TokenBucket(write_rate, write_rate, reserve_fraction=reserve_fraction, clock=clock)
        self._sleep = sleep or threading.Event().wait

    @classmethod
    def from_requests_per_s(cls, read_per_s: float, write_per_s: float, reserve_fraction: float = 0.2,
                            **kw: object) -> RateBuckets:
        """Buckets sized from settings given in default-cost requests per second (10 tokens each)."""
        return cls(read_per_s * DEFAULT_COST, write_per_s * DEFAULT_COST, reserve_fraction=reserve_fraction,
                   **kw)  # type: ignore[arg-type]  # kw is __init__'s keywords

    def configure_from_limits(self, limits: AccountLimits) -> None:
        """Adopt the member's real budgets from ``GET /account/limits``."""
        self.read.configure(float(limits.read.refill_rate), float(limits.read.bucket_capacity))
        self.write.configure(float(limits.write.refill_rate), float(limits.write.bucket_capacity))

    def bucket(self, kind: BucketKind) -> TokenBucket:
        """The bucket of that kind."""
        return self.read if kind is BucketKind.READ else self.write

    def try_acquire(self, kind: BucketKind, cost: float, priority: Priority = Priority.NORMAL) -> bool:
        """Non-blocking take from one bucket."""
        return self.bucket(kind).try_acquire(cost, priority)

    def acquire(self, kind: BucketKind, cost: float, priority: Priority = Priority.NORMAL,
                timeout: float = 5.0) -> None:
        """Take tokens, waiting for refill up to ``timeout`` seconds.

        Raises RateLimited (nothing sent) when the wait would exceed ``timeout``.
        """
        bucket = self.bucket(kind)
        waited = 0.0
        while not bucket.try_acquire(cost, priority):
            delay = bucket.wait_time(cost, priority)
            if waited + delay > timeout:
                raise RateLimited(f"client-side {kind} bucket empty (cost {cost}, {priority})",
                                  retry_after=min(delay, 60.0) if delay != float("inf") else 60.0)
            delay = max(delay, 0.0005)
            self._sleep(delay)
            waited += delay
