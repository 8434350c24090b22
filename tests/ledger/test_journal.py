"""The trade journal and the day report (ledger.journal): one row per fill and settlement, totals that add up."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from kalshi_guard.ledger import FillRecord, OrderStatus

D = Decimal
DAY = date(2026, 5, 28)
TS = 1_780_000_000.0  # inside DAY (UTC)


def order(ledger, coid, *, side="bid", outcome="yes", action="buy", price="0.40", count="10", ticker="KXA-26-T1"):
    ledger.insert_intent(client_order_id=coid, ticker=ticker, event_ticker="KXA-26", book_side=side, outcome=outcome,
                         action=action, count=D(count), price=D(price), time_in_force="good_till_canceled")
    ledger.transition(coid, OrderStatus.SENT)


def fill(tid, coid, *, side="bid", count="10", price="0.40", fee="0.07", ticker="KXA-26-T1", ts=TS, oid=None):
    return FillRecord(tid, coid, oid, ticker, side, D(count), D(price), D(fee), True, ts)


class TestTrades:
    def test_a_round_trip_is_two_rows_as_the_bot_gave_them(self, open_ledger):
        ledger = open_ledger()
        order(ledger, "open-1", side="ask", outcome="no", action="buy", price="0.60")  # buy NO at 0.40
        ledger.book_fill(fill("t1", "open-1", side="ask", price="0.58"))  # NO filled at 0.42 (YES 0.58)
        order(ledger, "close-1", side="bid", outcome="no", action="sell", price="0.70")  # sell NO at 0.30
        ledger.book_fill(fill("t2", "close-1", side="bid", price="0.70", ts=TS + 60))
        rows = ledger.trades()
        assert [(r.kind, r.client_order_id, r.outcome, r.action) for r in rows] == [
            ("fill", "open-1", "no", "buy"), ("fill", "close-1", "no", "sell")]
        opened, closed = rows
        assert opened.price == D("0.42")  # the NO price, the YES-book price beside it
        assert opened.yes_price == D("0.58")
        assert opened.slippage == D("0.20")  # paid 0.42 for a limit of 0.40: 0.02 × 10 worse
        assert closed.price == D("0.30")
        assert closed.realized_pnl == D("-1.2")  # bought NO at 0.42, sold at 0.30, 10 contracts

    def test_a_settlement_is_its_own_row(self, open_ledger, clock):
        ledger = open_ledger()
        order(ledger, "o1")
        ledger.book_fill(fill("t1", "o1"))
        ledger.close_position_on_evidence("KXA-26-T1", "settled: result no", exit_price=D("0"))
        rows = ledger.trades()
        assert [r.kind for r in rows] == ["fill", "settlement"]
        assert rows[1].realized_pnl == D("-4")
        assert rows[1].count == D("10")
        assert rows[1].action == "settle"

    def test_an_orphan_fill_shows_without_an_order(self, open_ledger):
        ledger = open_ledger()
        ledger.book_fill(fill("t9", None, side="ask", oid="ex-9"))
        (row,) = ledger.trades()
        assert (row.client_order_id, row.order_id, row.outcome, row.action, row.slippage) == (
            None, "ex-9", "no", "buy", None)

    def test_since_and_until_bound_the_rows(self, open_ledger):
        ledger = open_ledger()
        order(ledger, "o1", count="30")
        for i in range(3):
            ledger.book_fill(fill(f"t{i}", "o1", ts=TS + 3600 * i))
        since = datetime.fromtimestamp(TS + 3600, UTC)
        until = datetime.fromtimestamp(TS + 7200, UTC)
        assert [r.trade_id for r in ledger.trades(since, until)] == ["t1"]
        assert [r.trade_id for r in ledger.trades(since=since)] == ["t1", "t2"]


class TestReport:
    def test_the_report_adds_up_the_journal(self, open_ledger):
        ledger = open_ledger()
        order(ledger, "a")
        ledger.book_fill(fill("t1", "a", price="0.40", fee="0.07"))
        order(ledger, "b", side="ask", outcome="yes", action="sell", price="0.50")
        ledger.book_fill(fill("t2", "b", side="ask", price="0.50", fee="0.08", ts=TS + 10))  # +1.00 gross
        order(ledger, "c", ticker="KXB-26-T1")
        ledger.book_fill(fill("t3", "c", ticker="KXB-26-T1", price="0.30", fee="0.05", ts=TS + 20))
        ledger.close_position_on_evidence("KXB-26-T1", "settled: result no", exit_price=D("0"))  # −3.00
        report = ledger.day_report(DAY)
        rows = ledger.trades()
        assert report.gross_pnl == sum((r.realized_pnl for r in rows), D(0)) == D("-2")
        assert report.fees == D("0.20")
        assert report.net_pnl == D("-2.20")
        assert (report.fills, report.settlements, report.wins, report.losses) == (3, 1, 1, 1)
        assert report.largest_loss == D("-3")

    def test_kill_switch_events_of_the_day_are_listed(self, open_ledger):
        ledger = open_ledger()
        ledger.log_activity("KILL_SWITCH", "warning", "daily loss limit", {})
        assert ledger.day_report(DAY).kill_switch_events == ("daily loss limit",)
        assert ledger.day_report(date(2026, 5, 29)).kill_switch_events == ()
