"""Field failures of restarts and crashes, reproduced against the real daemon (a ``kalshi-guard run``
subprocess) and a standalone simulator that outlives it.

Each test names the user-reported failure it reproduces and how it was checked to fail with the fix removed.
"""

from __future__ import annotations

import signal
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

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

T0, T1, T2 = DEFAULT_TICKERS[0], DEFAULT_TICKERS[2], DEFAULT_TICKERS[4]
TABLES = ("orders", "order_events", "fills", "positions", "settlements")


def ledger_url(d: Daemon) -> str:
    return f"sqlite:///{d.state / 'ledger.sqlite'}"


def start(daemon_factory: Callable[..., Daemon], state: Path, sim: StandaloneSim, **env: str) -> Daemon:
    d = daemon_factory(state, **sim.daemon_env(), **env)
    d.start()
    d.wait_ready()
    return d


def order(sim: StandaloneSim, ticker: str, tif: str, count: str = "2") -> dict[str, Any]:
    """A YES buy: ``ioc`` at the ask (fills at once), ``gtc`` five cents under the bid (rests)."""
    with sim.client() as c:
        book = c.get_orderbook(ticker)
    price = book.best_yes_ask if tif == "ioc" else book.best_yes_bid - Decimal("0.05")
    return {"ticker": ticker, "outcome": "yes", "action": "buy", "count": count, "price": str(price),
            "time_in_force": tif, "client_order_id": str(uuid.uuid4())}


def fill(d: Daemon, sim: StandaloneSim, ticker: str, count: str = "2") -> None:
    """An IOC through the control API, confirmed FILLED."""
    body = order(sim, ticker, "ioc", count)
    r = d.api("POST", "/api/orders", json=body)
    assert r.status_code < 300, r.text
    assert ledger_orders(d)[body["client_order_id"]] == "FILLED", r.text


def rest(d: Daemon, sim: StandaloneSim, ticker: str) -> str:
    """A GTC through the control API whose confirmation is still awaited (the bot's call stays open);
    returns its client_order_id once the ledger has it RESTING."""
    body = order(sim, ticker, "gtc")
    InFlight(d, "/api/orders", body)
    coid = body["client_order_id"]
    wait_until(lambda: ledger_orders(d).get(coid) == "RESTING", 20, f"{coid} RESTING")
    return coid


def ledger_orders(d: Daemon) -> dict[str, str]:
    led = Ledger.open(ledger_url(d))
    try:
        return {o.client_order_id: o.status.value for o in led.orders()}
    finally:
        led.close()


def dump(d: Daemon) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the order, fill, position and settlement tables, in primary-key order."""
    engine = create_engine(ledger_url(d))
    try:
        with engine.connect() as conn:
            return {t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY 1"))]  # noqa: S608
                    for t in TABLES}
    finally:
        engine.dispose()


class TestRestartOnUnchangedState:
    def test_restarts_write_nothing_and_send_nothing(
        self, daemon_factory: Callable[..., Daemon], standalone_sim: StandaloneSim, tmp_path: Path
    ) -> None:
        """nautechsystems/nautilus_trader#3176: every restart added duplicate order records (random client ids,
        wrong types) through position reconciliation.

        Two filled orders and a position, then the daemon is stopped and restarted three times (clean, kill -9,
        clean) on an unchanged exchange: the order, event, fill, position and settlement tables are identical
        row for row after each start, and the exchange received no new order. Checked by making start-up
        resolution settle every ledger order, final or not (``ledger.orders()`` in place of
        ``non_final_orders()``): the first restart rewrites finished orders and the test fails with "a clean
        restart changed the ledger".
        """
        state = tmp_path / "state"
        d = start(daemon_factory, state, standalone_sim)
        fill(d, standalone_sim, T0)
        fill(d, standalone_sim, T1, "3")
        d.stop()
        d.close()
        before, created = dump(d), standalone_sim.created_orders()
        assert before["positions"], "the daemon holds positions"
        for how in ("clean", "kill", "clean"):
            d = start(daemon_factory, state, standalone_sim)
            assert dump(d) == before, f"a {how} restart changed the ledger"
            if how == "kill":
                d.signal(signal.SIGKILL)
                d.wait_exit()
            else:
                d.stop()
            d.close()
        assert dump(d) == before
        assert standalone_sim.created_orders() == created, "no order was sent by a restart"
        assert ledger_vs_exchange(ledger_url(d), standalone_sim) == []


class TestRestartWithAPosition:
    def test_open_position_survives_a_crash_without_a_synthetic_fill(
        self, daemon_factory: Callable[..., Daemon], standalone_sim: StandaloneSim, tmp_path: Path
    ) -> None:
        """nautechsystems/nautilus_trader#4736: a warm restart inserted a synthetic opposite fill that flattened
        a position the venue still held, and the strategy opened a second one.

        A position of 5 on one market, kill -9, restart: the ledger's position equals the exchange's (5), no
        fill was added, and the fills table still holds exactly the exchange's trades. Checked by adding to
        start-up resolution a step that books an opposite fill for each open ledger position (nautilus's
        synthetic fill): the test fails with ``assert {} == {T0: 5}`` on the local position.
        """
        state = tmp_path / "state"
        d = start(daemon_factory, state, standalone_sim)
        fill(d, standalone_sim, T0, "5")
        fills_before = dump(d)["fills"]
        d.signal(signal.SIGKILL)
        d.wait_exit()
        d.close()
        d = start(daemon_factory, state, standalone_sim)
        with standalone_sim.client() as c:
            exchange = {p.ticker: p.position for p in c.get_positions().market_positions if p.position != 0}
        assert exchange == {T0: Decimal(5)}
        led = Ledger.open(ledger_url(d))
        try:
            local = {p.ticker: p.net_count for p in led.positions(open_only=True)}
        finally:
            led.close()
        assert local == exchange
        assert dump(d)["fills"] == fills_before, "no synthetic fill"
        assert ledger_vs_exchange(ledger_url(d), standalone_sim) == []


class TestKillNineWithRestingOrders:
    def test_every_resting_order_is_tracked_after_restart(
        self, daemon_factory: Callable[..., Daemon], standalone_sim: StandaloneSim, tmp_path: Path
    ) -> None:
        """nautechsystems/nautilus_trader#5000: after a SIGKILL, start-up reconciliation dropped 14 still-working
        orders because the fills could not rebuild the venue position.

        Four resting orders on three markets plus a position, kill -9, restart: start-up resolution names every
        resting order, each is settled on the exchange the same way it is in the ledger (the caller is gone, so
        it is cancelled there — none is left working untracked), the position is kept, and the ledger equals
        the exchange. Checked by making start-up resolution mark a resting order CANCELED in the ledger without
        asking the exchange (what nautilus did): the orders stay resting on the exchange and the test fails on
        the exchange's statuses (``'resting'``).
        """
        state = tmp_path / "state"
        d = start(daemon_factory, state, standalone_sim, KALSHI_GUARD_ORDERS__CONFIRM_TIMEOUT_S="600")
        fill(d, standalone_sim, T0, "3")
        resting = [rest(d, standalone_sim, t) for t in (T0, T1, T2, T2)]
        d.signal(signal.SIGKILL)
        d.wait_exit()
        d.close()
        d = start(daemon_factory, state, standalone_sim)
        led = Ledger.open(ledger_url(d))
        try:
            rows = led.activity("STARTUP_RESOLUTION", limit=5)
        finally:
            led.close()
        resolved = " ".join(rows[0].details["orders"]) if rows and rows[0].details else ""
        for coid in resting:
            assert coid in resolved, f"{coid} was not resolved at start-up: {resolved}"
        statuses = ledger_orders(d)
        assert all(statuses[c] == "CANCELED" for c in resting), statuses
        with standalone_sim.client() as c:
            on_exchange = {o.client_order_id: o.status.value for o in c.list_orders()}
            positions = {p.ticker: p.position for p in c.get_positions().market_positions if p.position != 0}
        assert all(on_exchange[c] == "canceled" for c in resting), on_exchange
        assert positions == {T0: Decimal(3)}
        assert ledger_vs_exchange(ledger_url(d), standalone_sim) == []


class TestNetworkErrorsAreNotNotFound:
    @pytest.mark.parametrize("failing", [("get_order",), ("get_order", "get_orders", "get_fills")],
                             ids=["status-reads", "every-order-read"])
    def test_failed_status_reads_at_start_up_never_drop_a_resting_order(
        self, daemon_factory: Callable[..., Daemon], standalone_sim: StandaloneSim, tmp_path: Path,
        failing: tuple[str, ...],
    ) -> None:
        """hummingbot/hummingbot#8457 (found testing the Kalshi connector): network errors on status polls were
        counted as "order not found"; after three the resting orders were marked FAILED and dropped.

        Kill -9 with two resting orders, then restart while the exchange answers 500 to each order's status
        read (``status-reads``: the start-up reconciliation, which lists orders, passes and start-up
        resolution meets the errors) or to every order and fill read (``every-order-read``: the
        reconciliation itself fails first). The daemon stays not READY with the gate closed and the ledger
        still has both orders RESTING after a dozen failed reads; once reads work they are settled from the
        exchange (cancelled there and here) and the ledger equals the exchange. Checked by making start-up
        resolution treat any exception on an order as "not found" and drop it (CANCELED, as hummingbot
        marked it FAILED): ``status-reads`` failed with "changed while every read failed"
        (``every-order-read`` still passed: the failing reconciliation stops the start-up before
        resolution runs, a second guard).
        """
        state = tmp_path / "state"
        d = start(daemon_factory, state, standalone_sim, KALSHI_GUARD_ORDERS__CONFIRM_TIMEOUT_S="600")
        resting = [rest(d, standalone_sim, t) for t in (T0, T1)]
        d.signal(signal.SIGKILL)
        d.wait_exit()
        d.close()
        standalone_sim.admin("POST", "/faults", json={"error_5xx_rate": dict.fromkeys(failing, 1.0), "seed": 5})

        def failed_reads() -> int:
            seen = standalone_sim.admin("GET", "/faults")["seen"]
            return sum(int(seen.get(n, 0)) for n in failing)

        d = daemon_factory(state, **standalone_sim.daemon_env())
        d.start()
        wait_until(lambda: failed_reads() >= 12 or any(ledger_orders(d)[c] != "RESTING" for c in resting), 90,
                   "a dozen failed status reads at start-up (or an order's status changing meanwhile)")
        statuses = ledger_orders(d)
        assert all(statuses[c] == "RESTING" for c in resting), f"changed while every read failed: {statuses}"
        status = d.api("GET", "/api/status").json()
        assert status["ready"] is False, status
        assert status["gate"]["state"] != "ACTIVE", status
        standalone_sim.admin("DELETE", "/faults")
        d.wait_ready()
        statuses = ledger_orders(d)
        assert all(statuses[c] == "CANCELED" for c in resting), statuses
        assert ledger_vs_exchange(ledger_url(d), standalone_sim) == []
