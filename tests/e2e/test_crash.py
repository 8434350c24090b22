"""Crash safety against the real daemon: SIGKILL at each dangerous point, restart, and the ledger equals the exchange.

The exchange is a standalone ``kalshi-guard sim`` subprocess that outlives the daemon; the daemon runs in paper
mode pointed at it. After each crash the daemon is restarted on the same state directory (without the crash
point) and must boot HALTED, resolve every open order against the exchange before READY, and leave a ledger
that equals the exchange with no order placed twice.
"""

from __future__ import annotations

import signal
import threading
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from kalshi_guard.ledger.store import Ledger
from kalshi_guard.simulator.markets import DEFAULT_TICKERS
from tests.waiting import wait_until

from .conftest import Daemon, StandaloneSim, ledger_vs_exchange

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

T0, T1, T2 = DEFAULT_TICKERS[0], DEFAULT_TICKERS[2], DEFAULT_TICKERS[4]


def ledger_url(d: Daemon) -> str:
    return f"sqlite:///{d.state / 'ledger.sqlite'}"


def best_prices(sim: StandaloneSim, ticker: str) -> tuple[Decimal, Decimal]:
    """(best YES bid, best YES ask) of the simulator's static book."""
    with sim.client() as c:
        book = c.get_orderbook(ticker)
    assert book.best_yes_bid is not None, f"{ticker} has no bids"
    assert book.best_yes_ask is not None, f"{ticker} has no asks"
    return book.best_yes_bid, book.best_yes_ask


def ioc_buy(sim: StandaloneSim, ticker: str, count: str = "2") -> dict[str, Any]:
    """An IOC YES buy at the ask: it fills at once on the static book."""
    _, ask = best_prices(sim, ticker)
    return {"ticker": ticker, "outcome": "yes", "action": "buy", "count": count, "price": str(ask),
            "time_in_force": "ioc", "client_order_id": str(uuid.uuid4())}


def gtc_buy(sim: StandaloneSim, ticker: str, count: str = "2") -> dict[str, Any]:
    """A GTC YES buy five cents under the best bid: it rests."""
    bid, _ = best_prices(sim, ticker)
    return {"ticker": ticker, "outcome": "yes", "action": "buy", "count": count, "price": str(bid - Decimal("0.05")),
            "time_in_force": "gtc", "client_order_id": str(uuid.uuid4())}


class InFlight:
    """An API call made in a thread, because the daemon dies under it (its error is kept, not raised)."""

    def __init__(self, d: Daemon, path: str, body: dict[str, Any]) -> None:
        self.response: httpx.Response | None = None
        self.error: Exception | None = None
        self.done = threading.Event()

        def run() -> None:
            try:
                self.response = d.api("POST", path, json=body)
            except httpx.HTTPError as exc:
                self.error = exc
            finally:
                self.done.set()

        threading.Thread(target=run, daemon=True, name="in-flight-order").start()


def start_daemon(daemon_factory: Callable[..., Daemon], state: Path, sim: StandaloneSim, **env: str) -> Daemon:
    d = daemon_factory(state, **sim.daemon_env(), **env)
    d.start()
    d.wait_ready()
    return d


def ledger_statuses(d: Daemon) -> dict[str, tuple[str, str | None]]:
    """``client_order_id -> (status, exchange order_id)`` as the ledger holds them now."""
    led = Ledger.open(ledger_url(d))
    try:
        return {o.client_order_id: (o.status.value, o.order_id) for o in led.orders()}
    finally:
        led.close()


def crash_and_restart(
    daemon_factory: Callable[..., Daemon], tmp_path: Path, sim: StandaloneSim, crash_at: str | None,
    path: str, body: dict[str, Any], *, before_kill: Callable[[Daemon], None] | None = None,
) -> tuple[Daemon, dict[str, tuple[str, str | None]]]:
    """Run the daemon (with ``crash_at``), send ``body`` to ``path``, let it die (or kill it after
    ``before_kill``), restart it on the same state. Returns the restarted READY daemon and the ledger's
    ``(status, order_id)`` per order as the crash left it."""
    state = tmp_path / "state"
    env = {"KALSHI_GUARD_TEST_CRASH_AT": crash_at} if crash_at else {}
    d = start_daemon(daemon_factory, state, sim, **env)
    call = InFlight(d, path, body)
    if before_kill is not None:
        before_kill(d)
        d.signal(signal.SIGKILL)
    assert d.wait_exit(timeout=30) == -signal.SIGKILL, "the daemon died of SIGKILL at the crash point"
    assert call.done.wait(10), "the in-flight API call ended when the daemon died"
    assert call.response is None, f"the caller got no answer from a killed daemon, not {call.response}"
    d.close()
    at_crash = ledger_statuses(d)
    d2 = start_daemon(daemon_factory, state, sim)
    return d2, at_crash


def assert_recovered(d: Daemon, sim: StandaloneSim, coids: list[str]) -> dict[str, Any]:
    """The restarted daemon is HALTED (unclean), resolved the crashed orders at start-up, every ledger order is
    final, the ledger equals the exchange, and no order was created twice. Returns the ledger orders by id."""
    gate = d.status()["gate"]
    assert gate["state"] == "HALTED", gate
    assert "unclean" in gate["reason"]
    led = Ledger.open(ledger_url(d))
    try:
        rows = led.activity("STARTUP_RESOLUTION", limit=10)
        orders = {o.client_order_id: o for o in led.orders()}
    finally:
        led.close()
    assert rows, "the start-up resolution wrote its activity row"
    resolved = " ".join(rows[0].details["orders"]) if rows[0].details else ""
    for coid in coids:
        assert coid in resolved, f"{coid} was resolved at start-up: {rows[0].message} {rows[0].details}"
    assert set(coids) <= set(orders), "every crashed order was written ahead"
    assert all(o.status.is_final for o in orders.values()), {k: o.status for k, o in orders.items()}
    for coid in coids:
        assert "start-up resolution" in (orders[coid].reason or ""), f"{coid} settled by: {orders[coid].reason}"
    assert ledger_vs_exchange(ledger_url(d), sim) == []
    with sim.client() as c:
        on_exchange = [o.client_order_id for o in c.list_orders()]
    assert len(on_exchange) == len(set(on_exchange)), "no client_order_id on the exchange twice"
    assert sim.created_orders() == len(set(on_exchange)), "the simulator created each order exactly once"
    return orders


class TestCrashAfterIntent:
    def test_intent_without_send_is_rejected_and_nothing_reaches_the_exchange(
        self, daemon_factory: Callable[..., Daemon], standalone_sim: StandaloneSim, tmp_path: Path
    ) -> None:
        """SIGKILL right after the write-ahead INTENT: after restart the order is REJECTED and the exchange has none."""
        body = ioc_buy(standalone_sim, T0)
        d, at_crash = crash_and_restart(daemon_factory, tmp_path, standalone_sim, "after_intent", "/api/orders",
                                        body)
        assert at_crash == {body["client_order_id"]: ("INTENT", None)}
        orders = assert_recovered(d, standalone_sim, [body["client_order_id"]])
        assert orders[body["client_order_id"]].status.value == "REJECTED"
        assert standalone_sim.created_orders() == 0


def held_create(sim: StandaloneSim) -> Callable[[Daemon], None]:
    """Hold the simulator's create response (accepted, no answer) and wait until the order exists there."""

    def wait_held(_d: Daemon) -> None:
        wait_until(lambda: sim.created_orders() == 1, timeout=20, what="the simulator accepted the held order")

    sim.admin("POST", "/faults", json={"timeout_after_accept": {"create_order": 1}, "timeout_hold_s": 300})
    return wait_held


class TestCrashAfterSendBeforeResponse:
    def test_resting_order_is_found_by_client_order_id_and_cancelled(
        self, daemon_factory: Callable[..., Daemon], standalone_sim: StandaloneSim, tmp_path: Path
    ) -> None:
        """SIGKILL while the exchange holds a GTC create response: restart finds the order, cancels it: CANCELED."""
        body = gtc_buy(standalone_sim, T1)
        d, at_crash = crash_and_restart(daemon_factory, tmp_path, standalone_sim, None, "/api/orders", body,
                                        before_kill=held_create(standalone_sim))
        assert at_crash == {body["client_order_id"]: ("INTENT", None)}, "killed while the response was held"
        orders = assert_recovered(d, standalone_sim, [body["client_order_id"]])
        rec = orders[body["client_order_id"]]
        assert rec.status.value == "CANCELED"
        assert rec.order_id is not None
        assert rec.filled_count == 0

    def test_filled_ioc_order_is_found_and_its_fills_booked(
        self, daemon_factory: Callable[..., Daemon], standalone_sim: StandaloneSim, tmp_path: Path
    ) -> None:
        """SIGKILL while the exchange holds the create response of an IOC that filled: restart books it FILLED."""
        body = ioc_buy(standalone_sim, T0)
        d, at_crash = crash_and_restart(daemon_factory, tmp_path, standalone_sim, None, "/api/orders", body,
                                        before_kill=held_create(standalone_sim))
        assert at_crash == {body["client_order_id"]: ("INTENT", None)}, "killed while the response was held"
        orders = assert_recovered(d, standalone_sim, [body["client_order_id"]])
        rec = orders[body["client_order_id"]]
        assert rec.status.value == "FILLED"
        assert rec.filled_count == Decimal(body["count"])


class TestCrashAfterResponse:
    def test_filled_order_is_booked_once_after_restart(
        self, daemon_factory: Callable[..., Daemon], standalone_sim: StandaloneSim, tmp_path: Path
    ) -> None:
        """SIGKILL after the create response but before anything was booked: restart books the fills, FILLED."""
        body = ioc_buy(standalone_sim, T0)
        d, at_crash = crash_and_restart(daemon_factory, tmp_path, standalone_sim, "after_response", "/api/orders",
                                        body)
        assert at_crash == {body["client_order_id"]: ("INTENT", None)}, "killed before the SENT row"
        orders = assert_recovered(d, standalone_sim, [body["client_order_id"]])
        rec = orders[body["client_order_id"]]
        assert rec.status.value == "FILLED"
        assert rec.filled_count == Decimal(body["count"])
        assert standalone_sim.created_orders() == 1


class TestCrashMidBatch:
    def test_every_order_of_the_batch_is_resolved_once(
        self, daemon_factory: Callable[..., Daemon], standalone_sim: StandaloneSim, tmp_path: Path
    ) -> None:
        """SIGKILL between the orders of a 3-order batch: restart resolves all three, each exactly once."""
        batch = [ioc_buy(standalone_sim, T0), gtc_buy(standalone_sim, T1), ioc_buy(standalone_sim, T2, "1")]
        d, at_crash = crash_and_restart(daemon_factory, tmp_path, standalone_sim, "mid_batch", "/api/orders/batch",
                                        {"orders": batch})
        coids = [b["client_order_id"] for b in batch]
        # killed while handing the batch's answers over: the ledger holds the write-ahead rows only (the
        # placer writes INTENT; the next write is the fill watcher's evidence), all three settled at restart
        assert [at_crash[c][0] for c in coids] == ["INTENT", "INTENT", "INTENT"]
        orders = assert_recovered(d, standalone_sim, coids)
        assert [orders[c].status.value for c in coids] == ["FILLED", "CANCELED", "FILLED"]
        assert standalone_sim.created_orders() == 3
        assert len({orders[c].batch_id for c in coids}) == 1, "the three orders share one batch id"


class TestRetryAfterCrash:
    def test_a_caller_retrying_the_same_client_order_id_after_restart_places_nothing(
        self, daemon_factory: Callable[..., Daemon], standalone_sim: StandaloneSim, tmp_path: Path
    ) -> None:
        """A bot that got no answer re-sends the same client_order_id after restart and reset: 409, nothing sent."""
        body = ioc_buy(standalone_sim, T0)
        d, _ = crash_and_restart(daemon_factory, tmp_path, standalone_sim, "after_response", "/api/orders", body)
        assert_recovered(d, standalone_sim, [body["client_order_id"]])
        r = d.api("POST", "/api/bot/reset", json={"reason": "reviewed the crash drill"})
        assert r.status_code == 200, r.text
        assert d.status()["gate"]["state"] == "ACTIVE"
        again = d.api("POST", "/api/orders", json=body)
        assert again.status_code == 409, again.text
        assert again.json()["reason"] == "DUPLICATE_CLIENT_ORDER_ID"
        assert standalone_sim.created_orders() == 1
        assert ledger_vs_exchange(ledger_url(d), standalone_sim) == []
