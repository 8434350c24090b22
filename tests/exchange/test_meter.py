"""Specification of the call meter: every exchange call counted, failures are what says the API is down."""

from __future__ import annotations

from kalshi_guard.core.errors import Ambiguous, AuthError, NotFoundError, RateLimited, Rejected
from kalshi_guard.exchange.meter import CallMeter


class TestMeter:
    def test_transport_5xx_429_and_auth_failures_count_business_answers_do_not(self) -> None:
        m = CallMeter()
        for exc in (Ambiguous("x"), RateLimited("x"), AuthError("x")):
            m.outcome(exc)
        for exc in (Rejected("x"), NotFoundError("x"), None):
            m.outcome(exc)
        c = m.counts(60)
        assert (c.calls, c.failures) == (6, 3)

    def test_the_window_slides_and_listeners_hear_failures(self) -> None:
        now = [100.0]
        heard: list[str] = []
        m = CallMeter(clock=lambda: now[0])
        m.listen(heard.append)
        m.failed("reconciler")
        now[0] += 61
        m.ok("guardian")
        assert (m.counts(60).calls, m.counts(60).failures) == (1, 0)
        assert heard == ["reconciler"]

    def test_memory_is_per_second_not_per_call(self) -> None:
        """Ten thousand calls in one second are one second kept; seconds older than ``keep_s`` go."""
        now = [1000.25]
        m = CallMeter(clock=lambda: now[0], keep_s=60)
        for i in range(10_000):
            m.outcome(Ambiguous("x") if i % 10 == 0 else None)
        assert m.seconds_kept == 1
        assert (m.counts(60).calls, m.counts(60).failures) == (10_000, 1_000)
        for _ in range(120):
            now[0] += 1
            m.ok()
        assert m.seconds_kept == 61, "a minute (and the second it started in) kept, not two"
        assert m.counts(60).calls == 61
        assert (m.total_calls, m.total_failures) == (10_120, 1_000)
