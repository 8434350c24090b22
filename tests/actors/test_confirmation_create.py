"""Tests of how the tracker settles an UNKNOWN order from the exchange's evidence (actors.confirmation_create).

The order below was sent at 100.1, its create was ambiguous, the first lookup (101.0) found nothing and its
one same-id resend (101.1) was ambiguous too; the settle window is 30 s.
"""

from __future__ import annotations

from decimal import Decimal

from kalshi_guard.actors.confirmation import (
    Ambiguous,
    FlagDiscrepancy,
    OrderSnapshot,
    OrderTracker,
    ReadBack,
    Rejected,
    ResolveUnknown,
    RetrySend,
    Sending,
    TrackerState,
)
from kalshi_guard.actors.confirmation_create import NOT_ON_EXCHANGE
from kalshi_guard.actors.confirmation_events import ExchangeStatus
from kalshi_guard.actors.orders_api import ConfirmationStatus, parse_order_request

D = Decimal
S = TrackerState


def make() -> OrderTracker:
    body = {"ticker": "KX-A", "outcome": "yes", "action": "buy", "count": "10", "price": "0.50",
            "time_in_force": "gtc"}
    return OrderTracker(parse_order_request(body), "cid-1", D("0.80"), created_ts=100.0, settle_s=30.0)


def feed(t: OrderTracker, events) -> list:
    out = []
    for ev in events:
        out += t.handle(ev)
    return out


def absent(ts: float, unattributed: int | None = 0) -> ReadBack:
    """A lookup by client_order_id that found nothing (and read the market's fills)."""
    return ReadBack(None, (), ts, unattributed=unattributed)


def resent_unknown() -> OrderTracker:
    """Ambiguous create, nothing listed, the resend ambiguous too."""
    t = make()
    got = feed(t, [Sending(100.1), Ambiguous("500", 100.2), absent(101.0)])
    assert got[-1] == RetrySend("cid-1")
    feed(t, [Sending(101.1), Ambiguous("500", 101.2)])
    return t


def names(actions) -> list[str]:
    return [type(a).__name__ for a in actions]


class TestNotOnExchange:
    def test_absent_for_the_settle_window_is_rejected(self):
        """Not listed from 102 to 132 (30 s after the resend), no stranger's fill: REJECTED NOT_ON_EXCHANGE,
        replied final; the tracker is done."""
        t = resent_unknown()
        assert names(t.handle(absent(102.0))) == ["ResolveUnknown"]
        assert names(t.handle(absent(120.0))) == ["ResolveUnknown"]
        got = t.handle(absent(132.0))
        assert t.state is S.REJECTED
        assert t.terminal
        (finish,) = got
        assert finish.final
        assert (finish.confirmation.status, finish.confirmation.reason) == (ConfirmationStatus.REJECTED,
                                                                           NOT_ON_EXCHANGE)
        assert "never landed" in finish.confirmation.detail

    def test_the_window_counts_from_the_first_absence_after_the_last_send(self):
        """The resend restarts the count: absences before it do not settle the order."""
        t = make()
        feed(t, [Sending(100.1), Ambiguous("500", 100.2), absent(101.0)])
        feed(t, [Sending(140.0), Ambiguous("500", 140.1)])
        assert names(t.handle(absent(141.0))) == ["ResolveUnknown"]
        assert t.state is S.UNKNOWN
        assert t.handle(absent(171.0))[0].confirmation.reason == NOT_ON_EXCHANGE

    def test_a_refused_resend_sends_nothing_so_the_first_absence_counts(self):
        """The gate refused the resend (nothing went out): UNKNOWN until 30 s after the first absence."""
        t = make()
        feed(t, [Sending(100.1), Ambiguous("500", 100.2), absent(101.0)])
        assert names(t.handle(Rejected("GATE_HALTED", 101.1, "kill switch"))) == ["ResolveUnknown"]
        assert t.state is S.UNKNOWN
        assert names(t.handle(absent(130.0))) == ["ResolveUnknown"]
        t.handle(absent(131.0))
        assert (t.state, t.reject_code) == (S.REJECTED, NOT_ON_EXCHANGE)


class TestFailClosed:
    def test_a_fill_nobody_owns_keeps_it_unknown_flagged_once(self):
        """A fill in its market that belongs to no known order could be its: it stays UNKNOWN (looked up
        again) and the doubt is flagged once, not at every lookup."""
        t = resent_unknown()
        t.handle(absent(102.0, unattributed=1))
        first = t.handle(absent(140.0, unattributed=1))
        assert names(first) == ["FlagDiscrepancy", "ResolveUnknown"]
        assert "may have filled" in first[0].detail
        assert names(t.handle(absent(200.0, unattributed=1))) == ["ResolveUnknown"]
        assert t.state is S.UNKNOWN

    def test_fills_not_read_is_no_evidence(self):
        """A lookup that did not read the market's fills never settles the order."""
        t = resent_unknown()
        feed(t, [absent(102.0, None), absent(500.0, None)])
        assert t.state is S.UNKNOWN

    def test_an_order_that_answered_409_is_never_rejected(self):
        """409 order_already_exists on the resend says it landed: however long the listing misses it, it
        stays UNKNOWN."""
        t = make()
        feed(t, [Sending(100.1), Ambiguous("500", 100.2), absent(101.0), Sending(101.1),
                 Rejected("order_already_exists", 101.2), absent(102.0), absent(500.0)])
        assert t.state is S.UNKNOWN
        assert not any(isinstance(a, FlagDiscrepancy) for a in t.handle(absent(900.0)))

    def test_found_late_it_is_tracked_not_rejected(self):
        """Listed after all (the exchange was slow): it rests and is tracked; the window no longer matters."""
        t = resent_unknown()
        t.handle(absent(102.0))
        t.handle(ReadBack(OrderSnapshot("o9", ExchangeStatus.RESTING, D(0), D(10), "cid-1"), (), 120.0))
        assert (t.state, t.order_id) == (S.RESTING, "o9")

    def test_each_lookup_asks_for_the_market_fills_since_the_order_was_written(self):
        """The lookup action carries the order's creation time, from which the market's fills are read."""
        t = resent_unknown()
        (action,) = t.handle(absent(102.0))
        assert isinstance(action, ResolveUnknown)
        assert (action.client_order_id, action.ticker, action.since) == ("cid-1", "KX-A", 100.0)
