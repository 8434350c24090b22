"""Specification of the ledger's reconciliation part: settlements booked once and counted on their day,
orphan orders adopted with their exchange state, and the bulk look-ups a pass makes (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from kalshi_guard.ledger.reconcile import ADOPTED
from kalshi_guard.ledger.records import FillRecord, OrderStatus

from .conftest import T0

D = Decimal


def _buy(ledger, trade_id: str, side: str, count: str, price: str, ticker: str = "T-1") -> None:
    ledger.book_fill(FillRecord(trade_id, None, None, ticker, side, D(count), D(price), D("0.01"), True, T0))


class TestSettlement:
    def test_a_losing_settlement_closes_the_position_and_is_in_that_days_pnl(self, ledger) -> None:
        _buy(ledger, "t1", "bid", "5", "0.60")
        res = ledger.book_settlement(key="settlement:T-1:x", ticker="T-1", result="no", revenue=D(0), fee=D(0),
                                     settled_ts=T0 + 60, value=D(0), detail={})
        assert res.booked
        assert (res.net_count, res.realized_pnl) == (D(5), D(-3))
        pos = ledger.position("T-1")
        assert (pos.net_count, pos.realized_pnl, pos.close_evidence) == (0, D(-3), "settlement:T-1:x")
        day = datetime.fromtimestamp(T0, UTC).date()
        assert ledger.daily_realized_pnl(day) == D("-3.01")  # the buy's fee and the settlement loss
        assert ledger.totals().open_cost == 0

    def test_a_settlement_is_booked_exactly_once(self, ledger) -> None:
        _buy(ledger, "t1", "ask", "4", "0.30")  # long NO at 0.70
        kw = {"key": "settlement:T-1:y", "ticker": "T-1", "result": "no", "revenue": D(4), "fee": D(0),
              "settled_ts": T0, "value": D(0), "detail": {}}
        first = ledger.book_settlement(**kw)
        assert first.realized_pnl == D("1.2")
        assert not ledger.book_settlement(**kw).booked
        assert ledger.booked_settlements(["settlement:T-1:y", "other"]) == {"settlement:T-1:y"}
        assert ledger.position("T-1").realized_pnl == D("1.2")


class TestAdoption:
    def test_an_orphan_order_is_adopted_with_its_exchange_state(self, ledger) -> None:
        coid = ledger.adopt_order(order_id="ex-1", client_order_id="theirs-1", ticker="T-2", book_side="bid",
                                  price=D("0.05"), count=D(7), filled=D(2), remaining=D(5), detail={"order_id": "ex-1"})
        rec = ledger.get_order_by_exchange_id("ex-1")
        assert rec.client_order_id == coid == "theirs-1"
        assert (rec.status, rec.batch_id, rec.reported_filled_count, rec.remaining_count) == (
            OrderStatus.PARTIAL, ADOPTED, D(2), D(5))
        assert ledger.activity("ORPHAN_ORDER")[0].level == "CRITICAL"
        known = ledger.known_orders(["ex-1", "nope"], ["theirs-1"])
        assert known["ex-1"].adopted
        assert known["theirs-1"] is known["ex-1"] or known["theirs-1"] == known["ex-1"]

    def test_a_client_order_id_already_used_is_replaced(self, ledger) -> None:
        ledger.adopt_order(order_id="ex-1", client_order_id="dup", ticker="T", book_side="ask", price=D("0.5"),
                           count=D(1), filled=D(0), remaining=D(1), detail={})
        coid = ledger.adopt_order(order_id="ex-2", client_order_id="dup", ticker="T", book_side="ask",
                                  price=D("0.5"), count=D(1), filled=D(0), remaining=D(1), detail={})
        assert coid == "adopted-ex-2"


class TestLookups:
    def test_booked_trade_ids_and_totals(self, ledger) -> None:
        _buy(ledger, "a", "bid", "2", "0.40")
        _buy(ledger, "b", "ask", "1", "0.50")
        assert ledger.booked_trade_ids(["a", "b", "c"]) == {"a", "b"}
        t = ledger.totals()
        assert (t.realized_pnl, t.fees, t.open_cost) == (D("0.1"), D("0.02"), D("0.4"))

    def test_the_last_complete_pass_skips_failed_reads(self, ledger) -> None:
        """A pass that read everything but found discrepancies (not ok) still carries the watermark."""
        ledger.record_reconciliation(T0, T0 + 1, False, {"watermark": T0})
        ledger.record_reconciliation(T0 + 10, T0 + 11, False, {"report": {}})
        assert ledger.last_complete_reconciliation().summary == {"watermark": T0}
        assert ledger.last_complete_reconciliation(scan=1) is None
