"""Specification of the ledger's risk reads: the P&L tape the kill switch's daily-loss and losing-streak
triggers are fed from (SQLite and PostgreSQL)."""

from __future__ import annotations

from decimal import Decimal

from kalshi_guard.ledger.records import FillRecord

from .conftest import T0

D = Decimal


def _fill(ledger, trade_id: str, side: str, count: str, price: str, ts: float) -> None:
    ledger.book_fill(FillRecord(trade_id, None, None, "T-1", side, D(count), D(price), D("0.02"), True, ts))


class TestTape:
    def test_fills_and_settlements_in_time_order_with_signed_deltas(self, ledger) -> None:
        """A buy (+), a sell (−) realising P&L and a settlement come back in time order, a fill before a
        settlement at the same instant; money exact, the settlement with no contracts and no fee."""
        _fill(ledger, "t1", "bid", "5", "0.40", T0)
        _fill(ledger, "t2", "ask", "2", "0.55", T0 + 10)
        ledger.book_settlement(key="settlement:T-1:x", ticker="T-1", result="yes", revenue=D(3), fee=D(0),
                               settled_ts=T0 + 10, value=None, detail={})
        tape = ledger.pnl_tape()
        assert [(e.kind, e.ticker, e.delta, e.realized, e.fee) for e in tape] == [
            ("fill", "T-1", D(5), D(0), D("0.02")),
            ("fill", "T-1", D(-2), D("0.30"), D("0.02")),
            ("settlement", "T-1", D(0), D("1.80"), D(0)),
        ]
        assert [e.at for e in tape] == [T0, T0 + 10, T0 + 10]
        assert all(isinstance(e.delta, Decimal) and isinstance(e.fee, Decimal) for e in tape)

    def test_only_rows_after_the_watermarks(self, ledger) -> None:
        """Each row is read once: what lies at or below the fill and settlement ids given is left out."""
        _fill(ledger, "t1", "bid", "1", "0.40", T0)
        first = ledger.pnl_tape()
        _fill(ledger, "t2", "bid", "1", "0.40", T0 + 1)
        ledger.book_settlement(key="settlement:T-1:y", ticker="T-1", result="no", revenue=D(0), fee=D(0),
                               settled_ts=T0 + 2, value=None, detail={})
        last_fill = first[-1].row_id
        rest = ledger.pnl_tape(last_fill, 0)
        assert [e.kind for e in rest] == ["fill", "settlement"]
        settled = rest[-1].row_id
        assert ledger.pnl_tape(rest[0].row_id, settled) == []
