"""Specification of reconciliation: every planted discrepancy is found, classified with evidence, booked
once where evidence allows, and acted on (alert, trip, reduce); a failed read changes nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from kalshi_guard.core.gate import GateState
from kalshi_guard.ledger.reconcile import ADOPTED
from kalshi_guard.ledger.records import FillRecord, OrderStatus
from kalshi_guard.simulator.accounts import DEFAULT_ACCOUNT
from kalshi_guard.simulator.testing import ORDERS, SignedClient, order_body
from tests.actors.reconcile_rig import BOOK_TABLES, T0, T1, T2, Rig, settings_with
from tests.waiting import wait_until

BOOKS = BOOK_TABLES[:5]  # orders, order events, fills, positions, settlements (alerts and activity aside)


def alert(r: Rig, title: str, prefix: bool = False) -> tuple[str, dict[str, str]]:
    """The first alert with ``title`` in the outbox (the alerter writes it on its own schedule)."""
    r.sync()
    return wait_until(lambda: next((a for a in r.alerts() if (a[0].startswith(title) if prefix else a[0] == title)),
                                   None), what=f"alert {title!r}")


def kinds(result: Any) -> list[tuple[str, str, str]]:
    return [(d["kind"], d["ticker"], d["action"]) for d in result.report["discrepancies"]]


class TestOrphans:
    def test_an_order_placed_by_a_second_client_is_adopted_alerted_and_trips(self, sim: Any, rig_factory) -> None:
        """A resting order the ledger never saw (same key, another program) is adopted with its exchange state,
        raises CRITICAL "ORPHANED ORDER DETECTED" naming ticker, side, count, price and order id, and trips."""
        r = rig_factory()
        with SignedClient(sim) as other:
            resp = other.post(ORDERS, order_body(T0, "bid", "7.00", "0.05"))
            assert resp.status_code == 201, resp.text
            order_id = resp.json()["order_id"]
        result = r.reconcile()
        assert result.ok
        assert not result.clean
        assert kinds(result) == [("orphan_order", T0, "halt")]
        adopted = r.ledger.get_order_by_exchange_id(order_id)
        assert adopted is not None
        assert adopted.batch_id == ADOPTED
        assert adopted.status is OrderStatus.RESTING
        assert adopted.count == Decimal("7")
        assert adopted.price == Decimal("0.05")
        _title, fields = alert(r, "ORPHANED ORDER DETECTED")
        assert (fields["ticker"], fields["side"], fields["count"], fields["price"], fields["order_id"]) == (
            T0, "yes", "7.00", "0.0500", order_id)
        assert r.gate.state is GateState.HALTED
        assert "orphan" in r.gate.snapshot().reason
        again = r.reconcile()
        assert again.clean, "the adopted order is known now"

    def test_a_trade_made_outside_the_daemon_is_booked_once_and_trips(self, sim: Any, rig_factory) -> None:
        """With the stream down, a trade outside the daemon (exchange 50, ledger 0) is an orphan fill: booked
        exactly once by trade_id, the ledger agrees with the exchange, and the orphan switch trips."""
        r = rig_factory()
        sim.exchange.external_trade(T0, "yes", "50", "0.40")
        result = r.reconcile()
        assert kinds(result) == [("orphan_fill", T0, "halt")]
        assert "not ours" in result.report["discrepancies"][0]["evidence"]
        assert r.ledger_positions() == r.exchange_positions() == {T0: Decimal(50)}
        assert r.gate.state is GateState.HALTED
        # the stop runs on in the guardian after the gate closed: its KILL_SWITCH row closes it
        wait_until(lambda: r.ledger.activity("KILL_SWITCH", limit=1), 30, "the stop's KILL_SWITCH row")
        fills_before = r.dump()
        assert r.reconcile().clean
        assert r.dump() == fills_before, "booked exactly once"

    def test_a_missed_fill_of_our_own_order_is_booked_without_tripping(self, sim: Any, rig_factory) -> None:
        """A fill of our resting order whose stream message was dropped is booked (resolved), not an orphan."""
        r = rig_factory()
        coid = f"kg-{uuid.uuid4()}"
        r.ledger.insert_intent(client_order_id=coid, ticker=T1, event_ticker=None, book_side="bid", outcome="yes",
                               action="buy", count=Decimal(10), price=Decimal("0.10"),
                               time_in_force="good_till_canceled")
        with SignedClient(sim) as c:
            order_id = c.post(ORDERS, order_body(T1, "bid", "10.00", "0.10", client_order_id=coid)).json()["order_id"]
        r.ledger.transition(coid, OrderStatus.RESTING, order_id=order_id)
        sim.exchange.counterparty_fill(order_id, "4")
        result = r.reconcile()
        assert kinds(result) == [("orphan_fill", T1, "booked")]
        assert result.clean
        assert r.ledger_positions() == r.exchange_positions() == {T1: Decimal(4)}
        assert r.ledger.get_order(coid).filled_count == Decimal(4)
        assert r.gate.state is GateState.ACTIVE

    def test_the_orphan_action_is_configurable(self, sim: Any, rig_factory) -> None:
        """``alert`` raises the alert without tripping; ``reduce`` moves the gate to REDUCING."""
        r = rig_factory(settings_with({"actions": {"orphan_fill": "alert", "orphan_order": "reduce"}}))
        sim.exchange.external_trade(T0, "no", "3", "0.40")
        result = r.reconcile()
        assert kinds(result) == [("orphan_fill", T0, "alert")]
        assert r.gate.state is GateState.ACTIVE
        assert alert(r, "ORPHANED FILL DETECTED")
        with SignedClient(sim) as other:
            other.post(ORDERS, order_body(T1, "bid", "2.00", "0.05"))
        assert kinds(r.reconcile()) == [("orphan_order", T1, "reduce")]
        assert r.gate.state is GateState.REDUCING


class TestGhostsAndMismatches:
    def test_a_position_closed_outside_the_daemon_is_a_ghost_corrected_by_its_fill(self, sim: Any, rig_factory) -> None:
        """Ledger 5, exchange 0 after an outside close: the closing fill is booked and explains it."""
        r = rig_factory(settings_with({"actions": {"orphan_fill": "alert"}}))
        r.daemon_trade(T0, "yes", "5", "0.40")
        assert r.reconcile().clean
        sim.exchange.external_close(T0)
        result = r.reconcile()
        assert ("ghost_position", T0, "alert") in kinds(result)
        ghost = next(d for d in result.report["discrepancies"] if d["kind"] == "ghost_position")
        assert (ghost["ledger"], ghost["exchange"]) == ("5.000000", "0")
        assert r.ledger_positions() == r.exchange_positions() == {}

    def test_a_position_no_evidence_explains_is_a_mismatch_left_alone_and_trips(self, sim: Any, rig_factory) -> None:
        """Ledger 5, exchange 0, no fill or settlement to show for it: reported, never corrected, halts."""
        r = rig_factory()
        r.ledger.book_fill(FillRecord("phantom-1", None, None, T2, "bid", Decimal(5), Decimal("0.5"), Decimal(0),
                                      True, datetime.now(UTC).timestamp()))
        result = r.reconcile()
        assert kinds(result) == [("mismatch", T2, "halt")]
        row = result.report["discrepancies"][0]
        assert (row["ledger"], row["exchange"]) == ("5.000000", "0")
        assert r.ledger_positions() == {T2: Decimal(5)}, "no evidence: nothing corrected"
        assert r.gate.state is GateState.HALTED
        assert not r.reconcile().clean, "it stands until resolved"


class TestSettlement:
    def test_a_losing_settlement_is_in_todays_pnl_and_the_losing_streak(self, sim: Any, rig_factory) -> None:
        """A position held to a losing settlement: booked with revenue 0 and realised −cost, the position closed,
        today's P&L shows it, and the losing-streak switch counts it."""
        r = rig_factory(settings_with(max_consecutive_losses=1, max_daily_loss=Decimal(1000)))
        r.daemon_trade(T0, "yes", "5", "0.60")
        today = datetime.now(UTC).date()
        before = r.ledger.daily_realized_pnl(today)
        sim.exchange.settle(T0, "no")
        result = r.reconcile()
        assert kinds(result) == [("settlement", T0, "booked")]
        assert result.clean
        assert r.ledger_positions() == {}
        assert r.ledger.position(T0).close_evidence.startswith("settlement:")
        assert r.ledger.daily_realized_pnl(today) - before == Decimal("-3")
        assert r.gate.state is GateState.HALTED
        assert "losing" in r.gate.snapshot().reason.lower()
        assert r.reconcile().report["discrepancies"] == [], "booked once"

    def test_a_winning_settlement_pays_its_revenue(self, sim: Any, rig_factory) -> None:
        """Revenue 5.00 on 5 YES bought at 0.60: realised +2.00."""
        r = rig_factory()
        r.daemon_trade(T1, "yes", "5", "0.60")
        sim.exchange.settle(T1, "yes")
        result = r.reconcile()
        row = result.report["discrepancies"][0]
        assert "revenue 5" in row["exchange"]
        assert r.ledger.position(T1).realized_pnl == Decimal(2)


class TestHistorical:
    def test_archived_fills_and_orders_are_read_from_the_historical_endpoints(self, sim: Any, rig_factory) -> None:
        """Older than Kalshi's cutoff, a fill is only in /historical/fills and its order only in
        /historical/orders (404 live): both are read, the fill booked, the order named in the evidence."""
        order_id = sim.exchange.external_trade(T0, "yes", "2", "0.30")
        sim.exchange.archive()
        r = rig_factory()
        result = r.reconcile()
        assert kinds(result) == [("orphan_fill", T0, "halt")]
        assert f"order {order_id} client_order_id" in result.report["discrepancies"][0]["evidence"]
        assert r.ledger_positions() == {T0: Decimal(2)}


FAULTS = {
    "500": lambda ep: {"error_5xx_next": {ep: 5}},
    "timeout": lambda ep: {"timeout_after_accept": {ep: 5}, "timeout_hold_s": 1.5},
    "short page": lambda ep: {"short_page": {ep: 5}},
}
LISTS = ["get_positions", "get_orders", "get_fills", "get_settlements", "historical_fills"]
CASES = [(f, ep) for f in sorted(FAULTS) for ep in LISTS + (["historical_cutoff", "get_balance"] if f != "short page"
                                                             else [])]


class TestFailClosed:
    @pytest.mark.parametrize(("fault", "endpoint"), CASES)
    def test_a_failed_read_changes_nothing_records_a_failed_run_and_alerts(
        self, sim: Any, rig_factory, fault: str, endpoint: str
    ) -> None:
        """500, timeout or a partial page on any read: no information. The planted orphan is not booked,
        the gate is untouched, the run is recorded failed and an alert says so."""
        r = rig_factory(timeout=0.5)
        sim.exchange.external_trade(T0, "yes", "3", "0.40")
        before = r.dump(BOOKS)
        sim.exchange.faults.configure(FAULTS[fault](endpoint))
        result = r.reconcile("periodic")
        sim.exchange.faults.clear()
        assert not result.ok
        assert result.report["error"]
        assert r.dump(BOOKS) == before
        assert r.ledger.last_reconciliation().ok is False
        assert alert(r, "reconciliation failed", prefix=True)
        assert r.gate.state is GateState.ACTIVE
        assert r.reconcile().ok, "the next pass with the exchange healthy books it"
        assert r.ledger_positions() == {T0: Decimal(3)}


class TestIdempotence:
    def test_a_second_pass_on_unchanged_state_writes_only_its_run_row(self, sim: Any, rig_factory) -> None:
        r = rig_factory(settings_with({"actions": {"orphan_fill": "alert", "orphan_order": "alert"}}))
        r.daemon_trade(T0, "yes", "5", "0.40")
        sim.exchange.external_trade(T1, "no", "2", "0.70")
        with SignedClient(sim) as other:
            other.post(ORDERS, order_body(T2, "bid", "2.00", "0.05"))
        sim.exchange.settle(T0, "yes")
        assert r.reconcile().ok
        dump = r.dump()
        runs = r.ledger.last_reconciliation().id
        second = r.reconcile()
        assert second.clean
        assert second.report["discrepancies"] == []
        assert r.dump() == dump
        assert r.ledger.last_reconciliation().id == runs + 1

    def test_ten_restarts_on_unchanged_state_leave_the_ledger_identical(self, sim: Any, rig_factory) -> None:
        """A restart in the middle (trades planted while the reconciler was down) is booked by the next start;
        then ten restarts on unchanged state leave the dump byte for byte the same."""
        quiet = settings_with({"actions": {"orphan_fill": "alert", "orphan_order": "alert"}})
        first = rig_factory(quiet)
        first.daemon_trade(T0, "yes", "4", "0.40")
        sim.exchange.external_trade(T1, "yes", "6", "0.20")
        first.stop()
        sim.exchange.external_close(T0)
        with SignedClient(sim) as other:
            other.post(ORDERS, order_body(T2, "bid", "1.00", "0.05"))
        r = rig_factory(quiet)
        assert r.reconcile("start-up").ok
        dump = r.dump()
        assert r.ledger_positions() == r.exchange_positions()
        r.stop()
        for _ in range(10):
            again = rig_factory(quiet)
            assert again.reconcile("start-up").clean
            assert again.dump() == dump
            again.stop()


class TestAdoptedOrders:
    def test_an_adopted_order_is_followed_to_its_end_on_the_exchange(self, sim: Any, rig_factory) -> None:
        """Once cancelled on the exchange (here by the kill switch's cancel-all), the adopted order is final
        in the ledger too, and no longer counts against exposure."""
        r = rig_factory()
        with SignedClient(sim) as other:
            order_id = other.post(ORDERS, order_body(T1, "bid", "4.00", "0.05")).json()["order_id"]
        r.reconcile()
        assert r.gate.state is GateState.HALTED, "the orphan tripped; the guardian cancelled every order"
        assert sim.exchange.orders[order_id].status.value == "canceled"
        assert r.ledger.exposure().market(T1) > 0
        assert r.reconcile().clean
        assert r.ledger.get_order_by_exchange_id(order_id).status is OrderStatus.CANCELED
        assert r.ledger.exposure().market(T1) == 0


class TestCash:
    def test_money_that_moved_without_a_trade_is_a_cash_discrepancy(self, sim: Any, rig_factory) -> None:
        """Trades, fees and settlements explain the balance; a withdrawal outside them does not: alerted once
        (the next pass measures from the new balance)."""
        r = rig_factory()
        r.daemon_trade(T0, "yes", "5", "0.40")
        assert r.reconcile().clean
        r.daemon_trade(T1, "no", "3", "0.70")
        sim.exchange.settle(T0, "yes")
        assert r.reconcile().clean, "trades, fees and a settlement explain every cent"
        sim.exchange.account(DEFAULT_ACCOUNT).cash -= Decimal("12.50")
        result = r.reconcile()
        assert kinds(result) == [("cash", "*", "alert")]
        assert "-12.50" in result.report["discrepancies"][0]["evidence"]
        assert alert(r, "cash discrepancy")
        assert r.gate.state is GateState.ACTIVE
        assert r.reconcile().clean


class TestCrashBetweenSendAndAnswer:
    def test_a_fill_of_our_order_without_its_exchange_id_is_ours(self, sim: Any, rig_factory) -> None:
        """The daemon died after sending and before the answer: the ledger has the client_order_id only. The
        fill is matched through the exchange's order listing: no orphan, no mismatch, nothing tripped; its
        booking is left to the fill watcher's resolution of open orders (which owns that order)."""
        r = rig_factory()
        coid = f"kg-{uuid.uuid4()}"
        r.ledger.insert_intent(client_order_id=coid, ticker=T1, event_ticker=None, book_side="bid", outcome="yes",
                               action="buy", count=Decimal(4), price=Decimal("0.10"),
                               time_in_force="good_till_canceled")
        r.ledger.transition(coid, OrderStatus.UNKNOWN)
        with SignedClient(sim) as c:
            order_id = c.post(ORDERS, order_body(T1, "bid", "4.00", "0.10", client_order_id=coid)).json()["order_id"]
        sim.exchange.counterparty_fill(order_id, "4")
        result = r.reconcile()
        assert result.clean
        assert result.report["discrepancies"] == []
        assert r.gate.state is GateState.ACTIVE
        assert r.ledger.get_order(coid).status is OrderStatus.UNKNOWN, "left to the start-up resolution"
