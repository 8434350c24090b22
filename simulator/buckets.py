"""Kalshi-style token buckets: a read and a write bucket per account, refilled continuously (docs/kalshi.md §4.3)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# tier -> (read tokens/s, write tokens/s); "unlimited" keeps the simulator out of the way of benches
TIERS: dict[str, tuple[int, int]] = {
    "basic": (200, 100), "advanced": (300, 300), "premier": (1000, 1000), "paragon": (2000, 2000),
    "prime": (4000, 4000), "unlimited": (1_000_000, 1_000_000),
}
DEFAULT_COST = 10


@dataclass(slots=True)
class _Bucket:
    rate: float
    capacity: float
    tokens: float
    stamp: float


class Buckets:
    """Per-account read/write buckets; capacity = ``burst_s`` seconds of budget. Thread-safe."""

    def __init__(self, tier: str = "unlimited", burst_s: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if tier not in TIERS:
            raise ValueError(f"unknown tier {tier!r} (one of {', '.join(TIERS)})")
        self.tier = tier
        self.burst_s = burst_s
        self._clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._lock = threading.Lock()

    def rate(self, kind: str) -> int:
        """Refill rate of ``kind`` (``read``|``write``) in tokens per second."""
        read, write = TIERS[self.tier]
        return read if kind == "read" else write

    def take(self, account: str, kind: str, cost: int) -> bool:
        """Spend ``cost`` tokens; False (nothing spent) when the bucket cannot pay — the caller answers 429."""
        if self.tier == "unlimited":
            return True
        now = self._clock()
        with self._lock:
            b = self._buckets.get((account, kind))
            if b is None:
                rate = float(self.rate(kind))
                b = self._buckets[(account, kind)] = _Bucket(rate, rate * self.burst_s, rate * self.burst_s, now)
            b.tokens = min(b.capacity, b.tokens + (now - b.stamp) * b.rate)
            b.stamp = now
            if b.tokens < cost:
                return False
            b.tokens -= cost
            return True

    def limits(self) -> dict[str, object]:
        """``GET /account/limits`` body."""
        read, write = TIERS[self.tier]
        return {"usage_tier": self.tier,
                "read": {"refill_rate": read, "bucket_capacity": int(read * self.burst_s)},
                "write": {"refill_rate": write, "bucket_capacity": int(write * self.burst_s)}}
