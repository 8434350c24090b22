"""Every exchange call of every actor, counted: the API error-rate kill switch reads this.

One :class:`CallMeter` per process is handed to every REST client (``exchange.endpoints.make_client``) and
to the stream's owner. Each call attempt is recorded once: a success, or a failure. A failure is what says
the exchange (or the way to it) is not working — a transport error, a timeout, a 5xx, an unparseable
answer (all ``Ambiguous``), a 429 (``RateLimited``), a refused signature (``AuthError``) or a stream that
failed. A definitive business answer (``Rejected``, ``NotFoundError``) is a working API and counts as a
success. Reads retried inside the client count once per attempt.

Thread-safe (one lock; a record is an append). Listeners are called outside the lock after a failure
(the guardian wants to evaluate the trigger on the event that moves it); a listener that raises is ignored.
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
MAX_KEPT = 200_000  # calls kept at most, whatever the window (oldest dropped first)


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
    """A sliding record of exchange calls: ``(when, failed)``, pruned to ``keep_s`` seconds."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, keep_s: float = 3600.0) -> None:
        self._clock = clock
        self._keep_s = keep_s
        self._calls: deque[tuple[float, bool]] = deque()
        self._lock = threading.Lock()
        self._listeners: list[Callable[[str], None]] = []
        self.total_calls = 0
        self.total_failures = 0

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
        with self._lock:
            self._calls.append((now, failed))
            self.total_calls += 1
            self.total_failures += failed
            calls = self._calls
            while calls and (now - calls[0][0] > self._keep_s or len(calls) > MAX_KEPT):
                calls.popleft()

    def counts(self, window_s: float) -> CallCounts:
        """Calls and failures within the last ``window_s`` seconds."""
        now = self._clock()
        calls = failures = 0
        with self._lock:
            for when, failed in reversed(self._calls):
                if now - when > window_s:
                    break
                calls += 1
                failures += failed
        return CallCounts(calls, failures, window_s, now)
