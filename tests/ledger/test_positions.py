"""Tests for fills booked exactly once, position netting, average cost, realised P&L and exposure."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest

from kalshi_guard.core.errors import LedgerError
from kalshi_guard.ledger import FillRecord, OrderStatus
from kalshi_guard.ledger.positions import apply_fill

D = Decimal
S = OrderStatus
DAY = date(2026, 5, 28)
TS = 1_780_000_000.0  # inside DAY (UTC)


def fill(tid, side="bid", count="10", price="0.40", fee="0.07", ticker="KXA-26-T1", coid=None, oid=None, ts=TS):
    return FillRecord(tid, coid, oid, ticker, side, D(count), D(price), D(fee), True, ts)


def order(ledger, coid="c1", side="bid", count="10", price="0.40", ticker="KXA-26-T1", event="KXA-26", path=(S.SENT,)):
    ledger.insert_intent(client_order_id=coid, ticker=ticker, event_ticker=event, book_side=side,
                         outcome="yes" if side == "bid" else "no", action="buy", count=D(count), price=D(price),
                         time_in_force="good_till_canceled")
    for st in path:
        ledger.transition(coid, st)


def run_threads(n: int, target: Callable[[int], object]) -> list[object]:
    """Run ``target(i)`` on n threads released together by a barrier; return results, re-raise errors."""
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n
    errors: list[BaseException] = []

    def body(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = target(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=40)
    assert not any(t.is_alive() for t in threads)
    if errors:
        raise errors[0]
    return results


class TestApplyFill:
    def test_average_cost_and_flip(self):
        """Adding averages the basis, reducing realises against it, crossing zero reopens at the fill price."""
        net, basis, pnl = apply_fill(D(0), D(0), D(10), D("0.40"))
        net, basis, pnl = apply_fill(net, basis, D(10), D("0.50"))
        assert (net, basis, pnl) == (D(20), D("9.00"), D(0))
        net, basis, pnl = apply_fill(net, basis, D(-5), D("0.60"))
        assert (net, basis, pnl) == (D(15), D("6.75"), D("0.75"))
        net, basis, pnl = apply_fill(net, basis, D(-20), D("0.30"))
        assert (net, basis, pnl) == (D(-5), D("1.50"), D("-2.25"))

    def test_short_yes_profit(self):
        """A long NO position (YES sold at 0.70) closed by a bid at 0.20 realises 0.50 a contract."""
        net, basis, _ = apply_fill(D(0), D(0), D(-4), D("0.70"))
        assert apply_fill(net, basis, D(4), D("0.20")) == (D(0), D(0), D("2.00"))


class TestBookFill:
    def test_books_with_order_and_position(self, ledger):
        """A fill updates the order's filled count and status and the position in one booking."""
        order(ledger, path=(S.SENT, S.RESTING))
        res = ledger.book_fill(fill("t1", count="4", coid="c1", oid="ex-1"))
        assert res.booked
        assert res.order_status is S.PARTIAL
        assert (res.position.net_count, res.position.cost_basis, res.position.fees) == (D(4), D("1.6"), D("0.07"))
        res = ledger.book_fill(fill("t2", count="6", oid="ex-1"))
        assert res.order_status is S.FILLED
        o = ledger.get_order("c1")
        assert (o.filled_count, o.fees, o.order_id, o.status) == (D(10), D("0.14"), "ex-1", S.FILLED)
        assert ledger.position("KXA-26-T1").avg_price == D("0.4")
        assert ledger.position("KXA-26-T1").event_ticker == "KXA-26"

    def test_duplicate_changes_nothing(self, ledger):
        """Booking the same trade_id twice returns booked=False the second time and changes nothing."""
        order(ledger)
        first = ledger.book_fill(fill("t1", count="3", coid="c1"))
        again = ledger.book_fill(fill("t1", count="3", coid="c1"))
        assert (first.booked, again.booked) == (True, False)
        assert again.position == first.position
        assert ledger.get_order("c1").filled_count == D(3)

    @pytest.mark.timeout(60)
    def test_concurrent_duplicates_book_once(self, ledger):
        """Eight threads booking the same trade_id at once book it exactly once."""
        order(ledger)
        results = run_threads(8, lambda _i: ledger.book_fill(fill("dup", count="2", coid="c1")))
        assert sum(r.booked for r in results) == 1
        assert ledger.position("KXA-26-T1").net_count == D(2)
        assert ledger.get_order("c1").filled_count == D(2)

    @pytest.mark.timeout(60)
    def test_concurrent_duplicates_without_order_book_once(self, ledger):
        """Duplicates of a fill matching no order (only the unique trade_id guards) book exactly once."""
        results = run_threads(8, lambda _i: ledger.book_fill(fill("orph", count="3", oid="ex-9")))
        assert sum(r.booked for r in results) == 1
        assert all(r.position.net_count == D(3) for r in results if r.booked)
        assert ledger.position("KXA-26-T1").net_count == D(3)

    @pytest.mark.timeout(60)
    def test_concurrent_distinct_fills_all_book(self, ledger):
        """Distinct fills on a new market from eight threads all land; none is lost to a race."""
        results = run_threads(8, lambda i: ledger.book_fill(fill(f"t{i}", count="1", price="0.25")))
        assert all(r.booked for r in results)
        pos = ledger.position("KXA-26-T1")
        assert (pos.net_count, pos.cost_basis) == (D(8), D(2))

    def test_fill_after_cancel_kept(self, ledger):
        """A fill on a CANCELED order is booked and the order stays CANCELED with the fill counted."""
        order(ledger, path=(S.SENT, S.RESTING, S.CANCELED))
        res = ledger.book_fill(fill("late", count="3", coid="c1"))
        assert res.booked
        assert res.order_status is S.CANCELED
        o = ledger.get_order("c1")
        assert (o.status, o.filled_count, o.open_count) == (S.CANCELED, D(3), D(0))
        with pytest.raises(LedgerError):
            ledger.transition("c1", S.FILLED)

    def test_fill_resolves_unknown(self, ledger):
        """A fill on an UNKNOWN order resolves it to PARTIAL."""
        order(ledger, path=(S.SENT, S.UNKNOWN))
        assert ledger.book_fill(fill("t1", count="1", coid="c1")).order_status is S.PARTIAL

    def test_fill_on_rejected_and_overfill_logged(self, ledger):
        """A fill on a REJECTED order and a fill beyond the order's size are booked and logged CRITICAL."""
        order(ledger, count="2", path=(S.SENT, S.REJECTED))
        assert ledger.book_fill(fill("t1", count="2", coid="c1")).order_status is S.FILLED
        assert ledger.book_fill(fill("t2", count="1", coid="c1")).order_status is S.FILLED
        cats = {a.category for a in ledger.activity()}
        assert {"FILL_ON_REJECTED", "OVERFILL"} <= cats
        assert ledger.position("KXA-26-T1").net_count == D(3)

    def test_unmatched_fill_booked_and_logged(self, ledger):
        """A fill matching no local order still moves the position and is logged for reconciliation."""
        res = ledger.book_fill(fill("orphan", count="5", oid="ex-zzz"))
        assert res.booked
        assert res.order_status is None
        assert res.position.net_count == D(5)
        assert ledger.activity("FILL_UNMATCHED")[0].details["trade_id"] == "orphan"

    def test_failure_mid_booking_commits_nothing(self, ledger):
        """A booking failing after the fill row is written (exchange id taken) rolls back fill, position and order."""
        order(ledger, coid="c1", path=())
        order(ledger, coid="c2")
        ledger.transition("c2", S.RESTING, order_id="ex-2")
        with pytest.raises(LedgerError, match="book_fill failed"):
            ledger.book_fill(fill("t1", count="4", coid="c1", oid="ex-2"))
        assert ledger.position("KXA-26-T1") is None
        assert ledger.get_order("c1").filled_count == 0
        assert ledger.order_history("c1") == [(None, S.INTENT, "intent written")]
        assert ledger.book_fill(fill("t1", count="4", coid="c1")).booked

    def test_book_fills_books_several_in_order_in_one_call(self, ledger):
        """book_fills books each fill as book_fill would, in order: the order goes PARTIAL then FILLED, a trade
        seen twice is booked once, a fill of no known order still moves the position."""
        order(ledger, count="10")
        results = ledger.book_fills([fill("t1", count="4", coid="c1"), fill("t1", count="4", coid="c1"),
                                     fill("t2", count="6", coid="c1"), fill("t3", count="1", oid="ex-x")])
        assert [r.booked for r in results] == [True, False, True, True]
        assert [r.order_status for r in results] == [S.PARTIAL, S.PARTIAL, S.FILLED, None]
        assert [r.position.net_count for r in results] == [D(4), D(4), D(10), D(11)]
        assert ledger.get_order("c1").filled_count == D(10)
        assert [to for _, to, _ in ledger.order_history("c1")] == [S.INTENT, S.SENT, S.PARTIAL, S.FILLED]

    def test_a_duplicate_trade_in_a_new_market_leaves_no_position_row(self, ledger):
        """A trade_id booked before, seen again for a market without a position, is not booked and leaves no
        (zero) position row there — also when booked together with other fills, which stay booked."""
        order(ledger)
        ledger.book_fill(fill("t1", count="4", coid="c1"))
        again = ledger.book_fills([fill("t1", count="4", ticker="KXB-26-T1"), fill("t2", count="2", coid="c1")])
        assert [r.booked for r in again] == [False, True]
        assert again[0].position.net_count == 0
        assert ledger.position("KXB-26-T1") is None
        assert ledger.position("KXA-26-T1").net_count == D(6)

    def test_book_fills_with_an_invalid_fill_books_none(self, ledger):
        """One invalid fill among several: LedgerError and none of them booked."""
        order(ledger)
        with pytest.raises(LedgerError, match="count"):
            ledger.book_fills([fill("t1", count="4", coid="c1"), fill("t2", count="0", coid="c1")])
        assert ledger.position("KXA-26-T1") is None
        assert ledger.get_order("c1").filled_count == 0

    def test_hot_path_records_match_the_orm_view(self, ledger, clock):
        """Positions and orders returned by book_fill equal the ORM-mapped rows and the read methods."""
        from kalshi_guard.ledger.orders import to_record
        from kalshi_guard.ledger.positions import _position
        from kalshi_guard.ledger.schema import OrderRow, PositionRow

        order(ledger, count="10", path=(S.SENT, S.RESTING))
        results = []
        for i, (side, count, price) in enumerate([("bid", "4", "0.40"), ("ask", "6", "0.55"), ("bid", "2", "0.3")]):
            clock.advance(0.5)
            results.append(ledger.book_fill(fill(f"t{i}", side=side, count=count, price=price, coid="c1")))
        last = results[-1]
        with ledger._read("reload") as s:
            assert _position(s.get(PositionRow, "KXA-26-T1")) == last.position
            assert to_record(s.query(OrderRow).filter_by(client_order_id="c1").one()) == ledger.get_order("c1")
        assert ledger.position("KXA-26-T1") == last.position == ledger.positions(open_only=False)[0]
        assert (last.position.net_count, last.position.closed_at) == (D(0), clock.t)
        assert [r.realized_pnl for r in results] == [D(0), D("0.60"), D("0.50")]
        assert ledger.daily_realized_pnl(DAY) == D("1.10") - D("0.21")
        assert ledger.positions() == []

    @pytest.mark.parametrize("bad", [{"count": D(0)}, {"price": D("1.01")}, {"fee": D("-0.01")},
                                     {"book_side": "yes"}, {"count": D("0.001")}, {"price": D("0.12345")}])
    def test_invalid_fill_refused(self, ledger, bad):
        """An invalid fill raises LedgerError and books nothing."""
        args = {"trade_id": "t1", "client_order_id": None, "order_id": None, "ticker": "M", "book_side": "bid",
                "count": D(1), "price": D("0.5"), "fee": D(0), "is_taker": True, "ts": TS, **bad}
        with pytest.raises(LedgerError):
            ledger.book_fill(FillRecord(**args))
        assert ledger.position("M") is None


class TestPositions:
    def test_buying_no_reduces_yes(self, ledger, clock):
        """Buying NO (ask) while long YES reduces the YES position, realises P&L, and closes it at zero."""
        ledger.book_fill(fill("a", "bid", "10", "0.40", fee="0.10"))
        res = ledger.book_fill(fill("b", "ask", "4", "0.55", fee="0.05"))
        assert res.realized_pnl == D("0.60")
        assert (res.position.net_count, res.position.cost_basis) == (D(6), D("2.40"))
        clock.advance(10)
        res = ledger.book_fill(fill("c", "ask", "6", "0.30", fee="0.05"))
        assert res.realized_pnl == D("-0.60")
        pos = res.position
        assert (pos.is_open, pos.realized_pnl, pos.fees, pos.close_evidence) == (False, D(0), D("0.20"), "fill c")
        assert pos.closed_at == clock.t
        assert ledger.positions() == []
        assert [p.ticker for p in ledger.positions(open_only=False)] == ["KXA-26-T1"]

    def test_no_position_worst_case(self, ledger):
        """A long NO position's worst case is its NO cost: contracts minus the YES-scale basis."""
        pos = ledger.book_fill(fill("a", "ask", "10", "0.30")).position
        assert (pos.net_count, pos.cost_basis, pos.worst_case_cost) == (D(-10), D(3), D(7))

    def test_uneven_reduction_is_exact_at_close(self, ledger):
        """Reductions that do not divide the basis evenly still close to exactly zero basis."""
        ledger.book_fill(fill("a", "bid", "3", "0.10"))
        ledger.book_fill(fill("b", "bid", "3", "0.11"))
        total = D(0)
        for i in range(3):
            total += ledger.book_fill(fill(f"r{i}", "ask", "2", "0.50")).realized_pnl
        assert total == D("3.00") - D("0.63")
        assert ledger.position("KXA-26-T1").cost_basis == D(0)

    def test_close_on_settlement_evidence(self, ledger):
        """Settlement evidence closes the position, realises P&L at the exit price and is logged."""
        ledger.book_fill(fill("a", "bid", "10", "0.40", fee="0"))
        pos = ledger.close_position_on_evidence("KXA-26-T1", "settlement", {"result": "yes"}, exit_price=D(1))
        assert (pos.is_open, pos.realized_pnl, pos.close_evidence) == (False, D(6), "settlement")
        log = ledger.activity("POSITION_CLOSED")[0]
        assert log.details["evidence"] == "settlement"
        assert log.details["result"] == "yes"

    def test_close_without_evidence_refused(self, ledger):
        """Closing a position without evidence raises LedgerError and keeps the position."""
        ledger.book_fill(fill("a"))
        with pytest.raises(LedgerError):
            ledger.close_position_on_evidence("KXA-26-T1", "  ")
        assert ledger.position("KXA-26-T1").net_count == D(10)

    def test_daily_realized_pnl(self, ledger):
        """Daily realised P&L sums fills of that UTC day net of fees, plus evidence closes."""
        ledger.book_fill(fill("a", "bid", "10", "0.40", fee="0.10"))
        ledger.book_fill(fill("b", "ask", "5", "0.60", fee="0.05"))
        ledger.book_fill(fill("z", "bid", "1", "0.50", fee="1", ticker="OTHER", ts=TS + 86_400))
        assert ledger.daily_realized_pnl(DAY) == D("1.00") - D("0.15")
        ledger.close_position_on_evidence("KXA-26-T1", "settlement", exit_price=D(0))
        assert ledger.daily_realized_pnl(DAY) == D("0.85") - D("2.00")


class TestExposure:
    def test_positions_and_open_orders(self, ledger):
        """Exposure adds positions' worst case and every non-final order's unfilled rest, at full size."""
        ledger.book_fill(fill("p", "bid", "10", "0.40", fee="0"))  # 4.00, event from ticker: KXA-26
        order(ledger, "c1", "bid", "10", "0.50", path=(S.SENT, S.UNKNOWN))  # 5.00
        order(ledger, "c2", "ask", "4", "0.75", ticker="KXB-26-T2", event="KXB-26", path=(S.SENT, S.RESTING))
        ledger.book_fill(fill("f2", "ask", "1", "0.75", fee="0", ticker="KXB-26-T2", coid="c2"))
        order(ledger, "c3", "bid", "100", "0.9", path=(S.SENT, S.REJECTED))  # final: ignored
        exp = ledger.exposure()
        assert exp.market("KXA-26-T1") == D("9.00")
        assert exp.market("KXB-26-T2") == D("0.25") + D("0.75")  # position 1 NO at 0.25 + 3 open at 0.25
        assert exp.event("KXA-26") == D("9.00")
        assert exp.event("KXB-26") == D("1.00")
        assert exp.total == D("10.00")
        assert exp.market("none") == 0
