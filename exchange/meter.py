"""Every exchange call of every actor, counted: the API error-rate kill switch reads this.

One :class:`CallMeter` per process is handed to every REST client (``exchange.endpoints.make_client``) and
to the stream's owner. Each call attempt is recorded once: a success, or a failure. A failure is what says
the exchange (or the way to it) is not working — a transport error, a timeout, a 5xx, an unparseable
answer (all ``Ambiguous``), a 429 (``RateLimited``), a refused signature (``AuthError``) or a stream that
failed. A definitive business answer (``Rejected``, ``NotFoundError``) is a working API and counts as a
success. Reads retried inside the client count once per attempt.

Counts are kept per second of the clock (a window is exact to the second), so the memory is bounded by
``keep_s`` seconds whatever the call rate. Thread-safe (one lock; a record is an add to the last second).
Listeners are called outside the lock after a failure (the guardian wants to evaluate the trigger on the
event that moves it); a listener that raises is ignored.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from kalshi_guard.core.errors import Ambiguous, AuthError, ExchangeError, RateLimited

FAILURES: tuple[type[ExchangeError], ...] = (Ambiguous, RateLimited, AuthError)


@dataclass(frozen=True, slots=True)
class CallCounts:
    """Calls and failures inside the window ending at ``at``."""

    calls: int
    failures: int
    window_s: float
    at: float


def is_failure(exc: BaseException) -> bool:
    """Whether this exception says the exchange API is not working (see the module docstring)."""
    return isinstance(exc, FAILURES) or not isinstance(exc, ExchangeError)


class CallMeter:
    """A sliding record of exchange calls, counted per second of ``clock``, pruned to ``keep_s`` seconds."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, keep_s: float = 3600.0) -> None:
        self._clock = clock
        self._keep_s = keep_s
        self._seconds: deque[list[int]] = deque()  # [second, calls, failures], oldest first
        self._lock = threading.Lock()
        self._listeners: list[Callable[[str], None]] = []
        self.total_calls = 0
        self.total_failures = 0

    @property
    def seconds_kept(self) -> int:
        """How many seconds with calls are kept (the meter's memory)."""
        return len(self._seconds)

    def listen(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(source)`` after each failure."""
        self._listeners.append(listener)

    def ok(self, source: str = "") -> None:
        """Record one successful call."""
        self._record(False, source)

    def failed(self, source: str = "") -> None:
        """Record one failed call (and tell the listeners)."""
        self._record(True, source)
        for listener in list(self._listeners):
            with contextlib.suppress(Exception):  # a listener never breaks the caller's exchange call
                listener(source)

    def outcome(self, exc: BaseException | None, source: str = "") -> None:
        """Record a call that raised ``exc`` (None: it succeeded)."""
        if exc is None or not is_failure(exc):
            self.ok(source)
        else:
            self.failed(source)

    def _record(self, failed: bool, source: str) -> None:
        now = self._clock()
        second = int(now // 1)
        with self._lock:
            self.total_calls += 1
            self.total_failures += failed
            kept = self._seconds
            if kept and kept[-1][0] == second:
                kept[-1][1] += 1
                kept[-1][2] += failed
            else:
                kept.append([second, 1, int(failed)])
            while kept and kept[0][0] + 1 <= now - self._keep_s:  # as counts(keep_s) would leave it out
                kept.popleft()

    def counts(self, window_s: float) -> CallCounts:
        """Calls and failures within the last ``window_s`` seconds (to the second: a second that ends
        inside the window counts whole)."""
        now = self._clock()
        calls = failures = 0
        with self._lock:
            for second, n, failed in reversed(self._seconds):
                if second + 1 <= now - window_s:
                    break
                calls += n
                failures += failed
        return CallCounts(calls, failures, window_s, now)
