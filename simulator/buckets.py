"""Kalshi-style token buckets: a read and a write bucket per account, refilled continuously (docs/kalshi.md §4.3)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# Kalshi's tiers -> (read tokens/s, write tokens/s)
TIERS: dict[str, tuple[int, int]] = {
    "basic": (200, 100), "advanced": (300, 300), "expert": (600, 600), "premier": (1000, 1000),
    "paragon": (2000, 2000), "prime": (4000, 4000), "prestige": (6000, 8000),
}
# "unlimited" is the simulator's own setting (keeps it out of the way of benches): it is not a Kalshi tier,
# so /account/limits reports it as the highest tier, granted manually, with the budget it really enforces.
UNLIMITED = "unlimited"
UNLIMITED_AS = ("prestige", 1_000_000, 1_000_000)
SELF_SERVICE = ("basic", "advanced")  # tiers without a grant (signup, self-service upgrade)
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
        if tier not in TIERS and tier != UNLIMITED:
            raise ValueError(f"unknown tier {tier!r} (one of {', '.join(TIERS)}, {UNLIMITED})")
        self.tier = tier
        self.burst_s = burst_s
        self._clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._lock = threading.Lock()

    def rate(self, kind: str) -> int:
        """Refill rate of ``kind`` (``read``|``write``) in tokens per second."""
        read, write = UNLIMITED_AS[1:] if self.tier == UNLIMITED else TIERS[self.tier]
        return read if kind == "read" else write

    def take(self, account: str, kind: str, cost: int) -> bool:
        """Spend ``cost`` tokens; False (nothing spent) when the bucket cannot pay — the caller answers 429."""
        if self.tier == UNLIMITED:
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
        """``GET /account/limits`` body: the Kalshi tier, both budgets and the grants that raised the tier
        (none for the self-service tiers; a manual grant without expiry otherwise)."""
        tier = UNLIMITED_AS[0] if self.tier == UNLIMITED else self.tier
        read, write = self.rate("read"), self.rate("write")
        grants = [] if tier in SELF_SERVICE else [{"exchange_instance": "event_contract", "level": tier,
                                                    "source": "manual"}]  # no expires_ts: a permanent grant
        return {"usage_tier": tier, "grants": grants,
                "read": {"refill_rate": read, "bucket_capacity": int(read * self.burst_s)},
                "write": {"refill_rate": write, "bucket_capacity": int(write * self.burst_s)}}
