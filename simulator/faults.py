"""Fault injection, off by default and deterministic under a seed: HTTP, stream and pause faults."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

ANY = "*"


@dataclass(slots=True)
class FaultPlan:
    """What should go wrong. Endpoint names are route names (``create_order``, ``get_order``…) or ``*``.

    Rates are probabilities in [0, 1] drawn from one seeded RNG; ``*_next`` counters fire on the next N
    matching requests regardless of rates. Thread-safe.
    """

    seed: int = 0
    latency: dict[str, float] = field(default_factory=dict)  # endpoint -> seconds
    error_5xx_rate: dict[str, float] = field(default_factory=dict)
    rate_429: dict[str, float] = field(default_factory=dict)
    timeout_after_accept: dict[str, int] = field(default_factory=dict)  # endpoint -> next N requests
    timeout_hold_s: float = 6.0
    no_order_id: dict[str, int] = field(default_factory=dict)
    reset_before: dict[str, int] = field(default_factory=dict)  # reset without processing
    reset_after_accept: dict[str, int] = field(default_factory=dict)  # process, then reset
    error_5xx_next: dict[str, int] = field(default_factory=dict)  # 500 without processing, next N
    error_5xx_after_accept: dict[str, int] = field(default_factory=dict)  # process, then answer 500
    short_page: dict[str, int] = field(default_factory=dict)  # next N list answers truncated, no cursor
    stream_drop_rate: float = 0.0
    stream_duplicate_rate: float = 0.0
    stream_reorder_rate: float = 0.0
    stream_delay_s: float = 0.0
    unlisted: list[str] = field(default_factory=list)  # client_order_ids GET /portfolio/orders leaves out
    seen: dict[str, int] = field(default_factory=dict)  # requests per endpoint while any HTTP fault is on
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def reseed(self, seed: int) -> None:
        """Restart the fault RNG (same seed, same sequence of decisions)."""
        with self._lock:
            self.seed = seed
            self._rng = random.Random(seed)

    def clear(self) -> None:
        """Turn every fault off."""
        with self._lock:
            for name in ("latency", "error_5xx_rate", "rate_429", "timeout_after_accept", "no_order_id",
                         "reset_before", "reset_after_accept", "error_5xx_next", "error_5xx_after_accept",
                         "short_page"):
                getattr(self, name).clear()
            self.stream_drop_rate = self.stream_duplicate_rate = self.stream_reorder_rate = 0.0
            self.stream_delay_s = 0.0
            self.unlisted.clear()

    def _get(self, table: dict[str, Any], endpoint: str) -> Any:
        return table.get(endpoint, table.get(ANY))

    def _roll(self, rate: float | None) -> bool:
        return bool(rate) and self._rng.random() < rate  # type: ignore[operator]

    def _take(self, table: dict[str, int], endpoint: str) -> bool:
        key = endpoint if table.get(endpoint) else (ANY if table.get(ANY) else None)
        if key is None:
            return False
        table[key] -= 1
        if table[key] <= 0:
            del table[key]
        return True

    def http_decision(self, endpoint: str) -> HttpFault:
        """Decide, for one request, every HTTP fault that applies (consumes RNG draws in a fixed order)."""
        if not (self.latency or self.error_5xx_rate or self.rate_429 or self.timeout_after_accept
                or self.no_order_id or self.reset_before or self.reset_after_accept or self.error_5xx_next
                or self.error_5xx_after_accept or self.short_page):
            return NO_FAULT
        with self._lock:
            self.seen[endpoint] = self.seen.get(endpoint, 0) + 1
            return HttpFault(
                latency=float(self._get(self.latency, endpoint) or 0.0),
                error_5xx=self._roll(self._get(self.error_5xx_rate, endpoint))
                or self._take(self.error_5xx_next, endpoint),
                error_5xx_after=self._take(self.error_5xx_after_accept, endpoint),
                rate_limited=self._roll(self._get(self.rate_429, endpoint)),
                reset_before=self._take(self.reset_before, endpoint),
                reset_after=self._take(self.reset_after_accept, endpoint),
                timeout_after=self._take(self.timeout_after_accept, endpoint),
                no_order_id=self._take(self.no_order_id, endpoint),
                hold_s=self.timeout_hold_s,
                short_page=self._take(self.short_page, endpoint),
            )

    def stream_decision(self) -> StreamFault:
        """Decide the fate of one private stream message."""
        with self._lock:
            return StreamFault(drop=self._roll(self.stream_drop_rate),
                               duplicate=self._roll(self.stream_duplicate_rate),
                               reorder=self._roll(self.stream_reorder_rate), delay_s=self.stream_delay_s)

    @property
    def stream_active(self) -> bool:
        """True when any stream fault is on."""
        return bool(self.stream_drop_rate or self.stream_duplicate_rate or self.stream_reorder_rate
                    or self.stream_delay_s)

    def configure(self, spec: dict[str, Any]) -> None:
        """Apply a JSON fault spec (the admin endpoint's body). Raises ValueError on unknown keys."""
        with self._lock:
            for key, value in spec.items():
                if key == "seed":
                    continue
                if key.startswith("_") or key not in self.__dataclass_fields__:
                    raise ValueError(f"unknown fault {key!r}")
                current = getattr(self, key)
                if isinstance(current, dict):
                    current.update(value)
                else:
                    setattr(self, key, type(current)(value))
            if "seed" in spec:
                self.seed = int(spec["seed"])
                self._rng = random.Random(self.seed)

    def snapshot(self) -> dict[str, Any]:
        """The current plan as JSON-safe data."""
        with self._lock:
            return {k: (dict(v) if isinstance(v, dict) else v) for k in self.__dataclass_fields__
                    if not k.startswith("_") for v in [getattr(self, k)]}


@dataclass(frozen=True, slots=True)
class HttpFault:
    """The faults applying to one HTTP request."""

    latency: float = 0.0
    error_5xx: bool = False
    rate_limited: bool = False
    reset_before: bool = False
    reset_after: bool = False
    timeout_after: bool = False
    no_order_id: bool = False
    hold_s: float = 6.0
    error_5xx_after: bool = False
    short_page: bool = False  # a list answer cut short: half its items, no ``cursor`` field

    @property
    def none(self) -> bool:
        """True when nothing goes wrong."""
        return not (self.latency or self.error_5xx or self.rate_limited or self.reset_before
                    or self.reset_after or self.timeout_after or self.no_order_id or self.error_5xx_after
                or self.short_page)


@dataclass(frozen=True, slots=True)
class StreamFault:
    """The fate of one private stream message."""

    drop: bool = False
    duplicate: bool = False
    reorder: bool = False
    delay_s: float = 0.0


NO_FAULT = HttpFault()
