"""Specification of the pure classification (no exchange, no ledger): what each difference is called and
what it asks for, and the cash expectation's arithmetic."""

from __future__ import annotations

from decimal import Decimal

from kalshi_guard.actors.reconcile_model import ExchangeView, Kind, LedgerView, cash_check, collateral, compare
from kalshi_guard.config.schema import ReconcileActions
from kalshi_guard.exchange.history import HistoricalCutoff
from kalshi_guard.exchange.wire import BookSide, Fill, Order, OrderStatus
from kalshi_guard.exchange.wire_reads import Balance, Settlement
from kalshi_guard.ledger.reconcile import KnownOrder
from kalshi_guard.ledger.records import OrderStatus as LedgerStatus

D = Decimal
ACTIONS = ReconcileActions()
CUT = HistoricalCutoff(0.0, 0.0, 0.0)


def view(positions=None, resting=(), fills=(), settlements=()) -> ExchangeView:
    return ExchangeView(positions or {}, resting, fills, settlements, Balance(D(100), None, None), CUT)


def ledger(positions=None, booked=(), known=None, settled=()) -> LedgerView:
    return LedgerView(positions or {}, frozenset(booked), known or {}, frozenset(settled))


def fill(trade_id: str, order_id: str, side: str, count: str, ticker: str = "T") -> Fill:
    return Fill(trade_id, order_id, ticker, BookSide(side), D(count), D("0.40"), D("0.01"), True,
                created_time="2026-11-30T12:00:00.000Z")


def order(order_id: str, coid: str = "") -> Order:
    return Order(order_id, coid, "T", BookSide.BID, OrderStatus.RESTING, D("0.05"), D(0), D(3), D(3))


def test_agreement_is_no_finding() -> None:
    plan = compare(view({"T": D(5)}, fills=[fill("a", "o", "bid", "5")]), ledger({"T": D(5)}, booked={"a"}), ACTIONS)
    assert plan.findings == ()
    assert plan.fills == ()


def test_an_order_known_by_its_client_order_id_is_not_an_orphan() -> None:
    """Our order whose create was ambiguous (no exchange id yet) is matched by client_order_id."""
    known = {"ours-1": KnownOrder("ours-1", None, False, LedgerStatus.UNKNOWN)}
    plan = compare(view(resting=[order("ex-1", "ours-1"), order("ex-2", "theirs")]), ledger(known=known), ACTIONS)
    assert [(f.kind, f.action) for f in plan.findings] == [(Kind.ORPHAN_ORDER, "halt")]
    assert [o.order_id for o in plan.adopt] == ["ex-2"]


def test_fills_on_an_adopted_order_are_not_ours() -> None:
    known = {"ex-9": KnownOrder("c", "ex-9", True, LedgerStatus.RESTING),
             "ex-1": KnownOrder("k", "ex-1", False, LedgerStatus.RESTING)}
    plan = compare(view({"T": D(3)}, fills=[fill("a", "ex-9", "bid", "1"), fill("b", "ex-1", "bid", "2")]),
                   ledger(known=known), ACTIONS)
    assert [(f.evidence.split(";")[0], f.resolved) for f in plan.findings] == [
        ("fill a of order ex-9, not ours", False), ("fill b of our order k", True)]


def test_a_settlement_of_a_different_size_than_held_is_also_a_mismatch() -> None:
    s = Settlement("T", "E", "no", D(0), D(0), D(7), D("4.2"), D(7), D(0), "2026-11-30T12:00:00Z", D(0))
    plan = compare(view(settlements=[s]), ledger({"T": D(-5)}), ACTIONS)
    assert [f.kind for f in plan.findings] == [Kind.SETTLEMENT, Kind.MISMATCH]
    assert plan.projected == {}


def test_a_larger_exchange_position_without_fills_is_a_mismatch_not_a_ghost() -> None:
    plan = compare(view({"T": D(9)}), ledger({"T": D(5)}), ACTIONS)
    assert [(f.kind, f.ledger, f.exchange, f.resolved) for f in plan.findings] == [
        (Kind.MISMATCH, "5", "9", False)]


def test_collateral_is_what_resting_orders_lock() -> None:
    bid = order("a")
    ask = Order("b", "", "T", BookSide.ASK, OrderStatus.RESTING, D("0.70"), D(0), D(2), D(2))
    assert collateral([bid, ask]) == D("0.15") + D("0.60")


def test_the_cash_expectation() -> None:
    """Cash moves by realised P&L, fees and the cost of what was opened or closed; nothing else."""
    ref = {"total": "100", "realized": "0", "fees": "0", "open_cost": "0"}
    bought = {"total": D("97.99"), "realized": D(0), "fees": D("0.01"), "open_cost": D(2)}
    assert cash_check(ref, bought, D("0.05"), "alert") is None
    withdrawn = {**bought, "total": D("90")}
    finding = cash_check(ref, withdrawn, D("0.05"), "alert")
    assert finding is not None
    assert "-7.99" in finding.evidence
    assert cash_check(None, withdrawn, D("0.05"), "alert") is None, "no reference yet"
