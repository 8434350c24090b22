"""The dashboard's and /metrics' ledger reads: recent fills and alerts, today's fees, counts by status."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from kalshi_guard.ledger import FillRecord, OrderStatus

D = Decimal
DAY = date(2026, 5, 28)
TS = 1_780_000_000.0  # inside DAY (UTC)


def fill(tid, *, side="bid", count="10", price="0.40", fee="0.07", coid=None, ts=TS):
    return FillRecord(tid, coid, None, "KXA-26-T1", side, D(count), D(price), D(fee), True, ts)


def order(ledger, coid, *, path=(OrderStatus.SENT,)):
    ledger.insert_intent(client_order_id=coid, ticker="KXA-26-T1", event_ticker="KXA-26", book_side="bid",
                         outcome="yes", action="buy", count=D(10), price=D("0.40"), time_in_force="immediate_or_cancel")
    for st in path:
        ledger.transition(coid, st)


class TestFills:
    def test_recent_fills_are_newest_first_and_limited(self, ledger):
        """The newest fills by fill time come first; ``limit`` caps the list; money stays Decimal."""
        ledger.book_fills([fill("t1", ts=TS), fill("t2", ts=TS + 2), fill("t3", ts=TS + 1)])
        got = ledger.recent_fills(2)
        assert [f.trade_id for f in got] == ["t2", "t3"]
        assert got[0].price == D("0.40")
        assert isinstance(got[0].fee, Decimal)
        assert got[0].ts == TS + 2

    def test_daily_fees_count_only_that_utc_day(self, ledger):
        """Fees are summed for the fills of the UTC day asked for, not the day before or after."""
        ledger.book_fills([fill("t1", fee="0.07"), fill("t2", fee="0.05", ts=TS + 60),
                           fill("t3", fee="1.00", ts=TS + 86_400)])
        assert ledger.daily_fees(DAY) == D("0.12")
        assert ledger.daily_fees(date(2026, 5, 27)) == 0

    def test_fill_totals(self, ledger):
        """Booked fills and contracts over the ledger's life; a duplicate trade id counts once."""
        ledger.book_fills([fill("t1", count="3"), fill("t2", count="4.5")])
        ledger.book_fill(fill("t1", count="3"))
        assert ledger.fill_totals() == (2, D("7.5"))


class TestCounts:
    def test_orders_by_status(self, ledger):
        """Orders are counted in their current status."""
        order(ledger, "a", path=(OrderStatus.SENT, OrderStatus.RESTING))
        order(ledger, "b", path=(OrderStatus.REJECTED,))
        order(ledger, "c", path=(OrderStatus.REJECTED,))
        assert ledger.order_status_counts() == {"RESTING": 1, "REJECTED": 2}

    def test_reconciliations_by_outcome(self, ledger):
        """Clean and not-clean passes are counted apart; zero when none."""
        assert ledger.reconciliation_counts() == {True: 0, False: 0}
        ledger.record_reconciliation(TS, TS + 1, True, {})
        ledger.record_reconciliation(TS, TS + 1, False, {})
        ledger.record_reconciliation(TS, TS + 1, True, {})
        assert ledger.reconciliation_counts() == {True: 2, False: 1}

    def test_alerts_with_their_deliveries(self, ledger, clock):
        """Recent alerts are newest first with each channel's state; deliveries count by channel and status."""
        first = ledger.enqueue_alert("critical", "halted", [("reason", "x")], channels=("discord", "pagerduty"))
        second = ledger.enqueue_alert("info", "reset", [], channels=("discord",))
        ledger.mark_alert_sent(first, "discord")
        ledger.mark_alert_failed(first, "pagerduty", "HTTP 500", clock() + 5)
        alerts = ledger.recent_alerts(10)
        assert [a.id for a in alerts] == [second, first]
        assert alerts[1].deliveries == {"discord": "SENT", "pagerduty": "FAILED"}
        assert alerts[0].deliveries == {"discord": "PENDING"}
        assert ledger.alert_delivery_counts() == {("discord", "SENT"): 1, ("discord", "PENDING"): 1,
                                                  ("pagerduty", "FAILED"): 1}
