"""Field failures of the kill switch and of reconciliation, reproduced against the real daemon (a
``kalshi-guard run`` subprocess) and a standalone simulator, and, where a fault must hit one read, the
in-process pipeline of the real actors.

Each test names the user-reported failure it reproduces and how it was checked to fail with the fix removed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from kalshi_guard.ledger.store import Ledger
from kalshi_guard.simulator.markets import DEFAULT_TICKERS
from tests.e2e.conftest import Daemon, StandaloneSim, ledger_vs_exchange
from tests.e2e.test_crash import InFlight
from tests.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

T0, T1 = DEFAULT_TICKERS[0], DEFAULT_TICKERS[2]


def ledger_url(d: Daemon) -> str:
    return f"sqlite:///{d.state / 'ledger.sqlite'}"


def start(daemon_factory: Callable[..., Daemon], state: Path, sim: StandaloneSim, **env: str) -> Daemon:
    d = daemon_factory(state, **sim.daemon_env(), **env)
    d.start()
    d.wait_ready()
    return d


def buy_now(d: Daemon, sim: StandaloneSim, ticker: str, count: str) -> None:
    """An IOC YES buy at the ask through the control API, confirmed FILLED."""
    with sim.client() as c:
        ask = c.get_orderbook(ticker).best_yes_ask
    body = {"ticker": ticker, "outcome": "yes", "action": "buy", "count": count, "price": str(ask),
            "time_in_force": "ioc", "client_order_id": str(uuid.uuid4())}
    r = d.api("POST", "/api/orders", json=body)
    assert r.status_code < 300, r.text
    assert r.json()["status"] == "FILLED", r.text


def ledger_positions(d: Daemon) -> dict[str, Decimal]:
    led = Ledger.open(ledger_url(d))
    try:
        return {p.ticker: p.net_count for p in led.positions(open_only=False) if p.net_count != 0}
    finally:
        led.close()


def exchange_state(sim: StandaloneSim) -> tuple[dict[str, Decimal], list[str]]:
    """(open positions, ids of resting orders) on the exchange."""
    with sim.client() as c:
        positions = {p.ticker: p.position for p in c.get_positions().market_positions if p.position != 0}
        resting = [o.order_id for o in c.list_orders() if o.status.value == "resting"]
    return positions, resting


def rows(d: Daemon, table: str) -> list[Any]:
    engine = create_engine(ledger_url(d))
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(f"SELECT * FROM {table}")))  # noqa: S608
    finally:
        engine.dispose()


class TestEmergencyStopAfterAPartialExit:
    def test_partial_exit_then_stop_cancels_flattens_and_verifies_flat(
        self, daemon_factory: Callable[..., Daemon], standalone_sim: StandaloneSim, tmp_path: Path
    ) -> None:
        """freqtrade/freqtrade#3802: a partially filled sell stayed open forever; /stop did not cancel it and
        force-sell did not update it.

        Ten contracts bought, a resting sell of ten fills four (a stranger trades against it), then the
        emergency stop: the remaining six of the sell are cancelled, the six contracts still held are
        flattened with reduce-only orders, the exchange shows no resting order and no position, and the
        ledger equals the exchange. Checked by turning the stop's flatten step off (``kill.flatten`` skipped
        in ``actors/killswitch.py``): six contracts stay open and the test fails waiting for the exchange
        to be flat.
        """
        d = start(daemon_factory, tmp_path / "state", standalone_sim, KALSHI_GUARD_ORDERS__CONFIRM_TIMEOUT_S="600")
        buy_now(d, standalone_sim, T0, "10")
        with standalone_sim.client() as c:
            ask = c.get_orderbook(T0).best_yes_ask
        sell = {"ticker": T0, "outcome": "yes", "action": "sell", "count": "10", "price": str(ask + Decimal("0.05")),
                "time_in_force": "gtc", "client_order_id": str(uuid.uuid4())}
        InFlight(d, "/api/orders", sell)

        def resting_sell() -> str | None:
            led = Ledger.open(ledger_url(d))
            try:
                rec = led.get_order(sell["client_order_id"])
            finally:
                led.close()
            return rec.order_id if rec is not None and rec.status.value == "RESTING" else None

        order_id = wait_until(resting_sell, 20, "the exit resting")
        standalone_sim.admin("POST", "/external/counterparty", json={"order_id": order_id, "count": "4"})
        wait_until(lambda: ledger_positions(d).get(T0) == Decimal(6), 20, "the partial exit booked")
        r = d.api("POST", "/api/bot/emergency-stop", json={"reason": "field test: stop with a partial exit"})
        assert r.status_code == 200, r.text
        wait_until(lambda: exchange_state(standalone_sim) == ({}, []), 30, "the exchange flat with nothing resting")
        wait_until(lambda: ledger_positions(d) == {}, 30, f"the ledger flat (now {ledger_positions(d)})")
        assert d.status()["gate"]["state"] == "HALTED"
        wait_until(lambda: ledger_vs_exchange(ledger_url(d), standalone_sim) == [], 30,
                   "the ledger equal to the exchange")


class TestPeriodicReconciliation:
    def test_position_closed_outside_is_found_within_an_interval_and_its_fill_booked(
        self, daemon_factory: Callable[..., Daemon], standalone_sim: StandaloneSim, tmp_path: Path
    ) -> None:
        """freqtrade/freqtrade#7075: a position closed by an exchange-side stop was not noticed until restart.

        With the private stream losing every message, a 4-contract position is closed outside the daemon;
        within two periodic passes (5 s interval) the ledger's position is flat, the closing fill is booked
        by its trade_id. Checked by making the reconciler's tick run only requested passes, never the
        periodic one (``Reconciler.on_tick``): the position stays at 4 and the test fails waiting for it.
        """
        d = start(daemon_factory, tmp_path / "state", standalone_sim, KALSHI_GUARD_RECONCILE__INTERVAL_S="5")
        buy_now(d, standalone_sim, T0, "4")
        standalone_sim.admin("POST", "/faults", json={"stream_drop_rate": 1.0})
        standalone_sim.admin("POST", "/external/close", json={"ticker": T0})
        with standalone_sim.client() as c:
            closing = {f.trade_id for f in c.get_fills(ticker=T0)}
        wait_until(lambda: ledger_positions(d).get(T0) is None, 15, f"the ledger flat (now {ledger_positions(d)})")
        booked = {r.trade_id for r in rows(d, "fills")}
        assert closing <= booked, "the closing fill is booked"
        standalone_sim.admin("DELETE", "/faults")
        assert exchange_state(standalone_sim)[0] == {}


class TestCloseOnlyOnEvidence:
    def test_position_is_closed_only_by_a_settlement_record(
        self, daemon_factory: Callable[..., Daemon], standalone_sim: StandaloneSim, tmp_path: Path
    ) -> None:
        """ryanfrigo/kalshi-ai-trading-bot#49: after two weeks offline the bot marked positions closed locally
        while they were still live on Kalshi.

        A 3-contract position; a reconciliation whose positions read fails (500) changes nothing; then, with
        the daemon stopped, the market settles, and on the next start the position is closed by the booked
        settlement record, not by its absence. Checked by removing both guards the bot lacked — a failed
        positions read counted as "no positions" (``read_exchange``) and a position the exchange does not
        show closed locally without evidence (a synthetic settlement in ``reconcile_model``): the test
        failed at its first assertion, the ledger flat while 3 contracts were live. Either guard alone keeps
        it passing (a failed read aborts the pass; an unexplained absence is a MISMATCH that halts). And by
        making the reconciler book no settlement (``Reconciler`` skipping ``plan.settlements``): the position
        stays at 3 and the test fails waiting for the settlement.
        """
        state = tmp_path / "state"
        d = start(daemon_factory, state, standalone_sim)
        buy_now(d, standalone_sim, T0, "3")
        standalone_sim.admin("POST", "/faults", json={"error_5xx_rate": {"get_positions": 1.0}})
        r = d.api("POST", "/api/reconcile", json={})
        standalone_sim.admin("DELETE", "/faults")
        assert ledger_positions(d) == {T0: Decimal(3)}, (r.status_code, r.text)
        d.stop()
        d.close()
        standalone_sim.admin("POST", f"/markets/{T0}/settle", json={"result": "yes"})
        d = start(daemon_factory, state, standalone_sim)
        wait_until(lambda: ledger_positions(d) == {}, 20, f"the settlement booked (now {ledger_positions(d)})")
        assert rows(d, "settlements"), "closed by a settlement record"
        assert exchange_state(standalone_sim)[0] == {}


class TestProfitCheckThatRaises:
    def test_a_pnl_computation_that_raises_halts_trading(self, pipeline_factory: Callable[..., Any]) -> None:
        """hummingbot/hummingbot#2534: the kill-switch threshold was reached but the profitability call raised,
        and the bot kept creating orders.

        After a first fill the ledger table the P&L is computed from (settlements, read with the fills) is
        dropped, so every P&L computation raises; the next fill makes the guardian evaluate its triggers: the
        gate goes HALTED (fail closed) and the next order is refused before it is sent. Checked by making a
        trigger whose evaluation raises read as not tripped (``actors.triggers.guarded`` returning a
        zero reading): the gate stays ACTIVE and the test fails waiting for HALTED.
        """
        p = pipeline_factory(confirm_timeout_s=3, poll_interval_s=0.2, fill_threshold=Decimal(1))
        first = p.trading.place_and_confirm(T0, "yes", "buy", "1", "0.99", "ioc", wait_s=20)
        assert first.status.value == "FILLED", first
        engine = create_engine(p.ledger_url)
        try:
            with engine.begin() as conn:
                conn.execute(text("DROP TABLE settlements"))
        finally:
            engine.dispose()
        second = p.trading.place_and_confirm(T1, "yes", "buy", "1", "0.99", "ioc", wait_s=20)
        assert second.status.value in {"FILLED", "REJECTED"}, second
        p.wait(lambda: p.gate.state.value == "HALTED", 30, f"HALTED (now {p.gate.snapshot()})")
        third = p.trading.place_and_confirm(T0, "yes", "buy", "1", "0.99", "ioc", wait_s=20)
        assert third.status.value == "REJECTED", third
        assert p.exchange_orders_for(third.client_order_id) == [], "the refused order never reached the exchange"
