"""``kalshi-guard drill``: a kill-switch fire drill against the simulator, never against Kalshi.

It runs the real actor tree (alerter, guardian, reconciler, fill watcher, order placer) in this process
against the simulator — the standalone one the configuration points at (``exchange.base_url`` in paper
mode), else an embedded one on a free loopback port — with a throw-away ledger, so the drill's orders
touch nothing of the daemon's. It opens a few positions and resting orders (all in the kill switch's order
group), trips a stop through :class:`~kalshi_guard.actors.killswitch.KillSwitch` and measures, from the
trip: the gate closed, no resting order left on the exchange, no position left on the exchange. The
result is printed and written as one ``DRILL`` row to the configured ledger's activity log (the going-live
checks read it). Exit 0 when the account ended flat with nothing resting, 1 otherwise; refused (1) in
live mode.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

EX_OK, EX_FAIL = 0, 1


@dataclass(frozen=True, slots=True)
class DrillResult:
    """The drill's figures (milliseconds from the trip; None = not reached within the timeout)."""

    trip_to_gate_closed_ms: float
    trip_to_no_resting_ms: float | None
    trip_to_flat_ms: float | None
    positions_opened: int
    resting_orders: int
    remaining: dict[str, str]
    steps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Flat with nothing resting."""
        return self.trip_to_no_resting_ms is not None and self.trip_to_flat_ms is not None


def add_parser(sub: Any, name: str, common: argparse.ArgumentParser) -> None:
    """Register ``drill``."""
    p = sub.add_parser(name, parents=[common], help="kill-switch fire drill against the simulator")
    p.add_argument("--positions", type=int, default=3, help="positions to open (one per market, at most 5)")
    p.add_argument("--resting", type=int, default=3, help="resting orders to leave on the book")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for flat and nothing resting")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the settings (ConfigError → 78 by the dispatcher), refuse live mode, drill, record, print."""
    from kalshi_guard.config.loader import load_settings
    from kalshi_guard.config.schema import Mode

    settings = load_settings(Path(args.config) if args.config else None)
    if settings.mode is Mode.LIVE:
        print("kalshi-guard: the drill runs against the simulator only (mode is live)")
        return EX_FAIL
    result = drill(settings, positions=args.positions, resting=args.resting, timeout=args.timeout)
    record(settings, result)
    print(f"kill-switch drill: {'PASSED' if result.ok else 'FAILED'}")
    print(f"  trip -> gate closed:       {result.trip_to_gate_closed_ms:.3f} ms")
    print(f"  trip -> no resting order:  {_ms(result.trip_to_no_resting_ms)}")
    print(f"  trip -> flat:              {_ms(result.trip_to_flat_ms)}")
    print(f"  opened {result.positions_opened} positions and {result.resting_orders} resting orders")
    if result.remaining:
        print(f"  still open: {result.remaining}")
    for step in result.steps:
        print(f"  step {step['step']:<13} {'ok' if step['ok'] else 'FAILED':<6} {step['duration_ms']:>9.3f} ms  "
              f"{step['detail']}")
    return EX_OK if result.ok else EX_FAIL


def _ms(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.3f} ms"


def record(settings: Any, result: DrillResult) -> None:
    """One DRILL row in the configured ledger (failures are printed, never raised)."""
    from kalshi_guard.config.paths import ledger_sqlite_path
    from kalshi_guard.ledger.store import Ledger

    url = (settings.ledger.url.get_secret_value() if settings.ledger.url is not None
           else f"sqlite:///{ledger_sqlite_path(settings)}")
    try:
        ledger = Ledger.open(url)
    except Exception as exc:
        print(f"kalshi-guard: the drill result could not be recorded ({type(exc).__name__})")
        return
    try:
        ledger.log_activity("DRILL", "INFO" if result.ok else "ERROR",
                            f"kill-switch drill {'passed' if result.ok else 'FAILED'}",
                            {**asdict(result), "ok": result.ok})
    finally:
        ledger.close()


@contextlib.contextmanager
def _exchange(settings: Any) -> Iterator[tuple[Any, Any]]:
    """The simulator's exchange settings and private key: the configured standalone one, else embedded."""
    from kalshi_guard.exchange.keys import load_private_key

    ex = settings.exchange
    if ex.base_url is not None and ex.key_id is not None and ex.private_key_file is not None:
        yield ex, load_private_key(ex.private_key_file)
        return
    from kalshi_guard.simulator.server import SimulatorServer

    sim = SimulatorServer("127.0.0.1", 0, settings.simulator.seed, liquidity_interval_s=None)
    sim.start()
    try:
        yield ex.model_copy(update={"base_url": sim.rest_url, "ws_url": sim.ws_url, "key_id": sim.key_id,
                                    "private_key_file": Path(sim.private_key_path), "environment": "simulator",
                                    "read_rate_per_s": 1000.0, "write_rate_per_s": 1000.0}), sim.private_key
    finally:
        sim.stop()


def drill(settings: Any, *, positions: int = 3, resting: int = 3, timeout: float = 30.0) -> DrillResult:
    """Run the drill (see the module docstring). Raises ExchangeError / LedgerError when the set-up fails."""
    from kalshi_guard.actors.facade import TradingFacade
    from kalshi_guard.config.endpoints import make_client
    from kalshi_guard.control.tree import build_tree
    from kalshi_guard.core.gate import TradingGate
    from kalshi_guard.exchange.meter import CallMeter
    from kalshi_guard.ledger.store import Ledger

    roomy = settings.limits.model_copy(update={"max_open_orders": 1000, "max_orders_per_s": 1000.0,
                                               "max_open_positions": 100, "price_collar": Decimal(1)})
    with _exchange(settings) as (ex, key), tempfile.TemporaryDirectory(prefix="kalshi-drill-") as tmp:
        s = settings.model_copy(update={"exchange": ex, "limits": roomy,
                                        "orders": settings.orders.model_copy(update={"confirm_timeout_s": 600.0})})
        ledger = Ledger.open(f"sqlite:///{tmp}/drill-ledger.sqlite")
        gate = TradingGate(persist=ledger.save_gate)
        sup = build_tree(s, gate, ledger, exchange=ex, key=key, meter=CallMeter())
        stop = threading.Event()
        sup.start()
        threading.Thread(target=lambda: [sup.tick() for _ in iter(lambda: stop.wait(0.05), True)],
                         daemon=True, name="drill-supervisor").start()
        try:
            gate.mark_ready()
            sup.killswitch.ensure_group()
            return _run(sup, TradingFacade(sup.peers, ledger, lambda: s), make_client(ex, key), positions, resting,
                        timeout)
        finally:
            stop.set()
            if sup.killswitch.last is not None:
                sup.killswitch.last.wait(timeout)
            sup.stop()
            sup.killswitch.close()
            ledger.close()


def _run(sup: Any, trading: Any, client: Any, positions: int, resting: int, timeout: float) -> DrillResult:
    with client, ThreadPoolExecutor(max(1, resting)) as pool:
        tickers = [m.ticker for m in client.get_markets(status="open")][: max(1, min(positions, 5))]
        opened = 0
        for t in tickers[:positions]:
            conf = trading.place_and_confirm(t, "yes", "buy", "2", "0.99", "ioc", wait_s=20)
            opened += conf.filled_count > 0
        for n in range(resting):
            pool.submit(trading.place_and_confirm, tickers[n % len(tickers)], "yes", "buy", "1", "0.02", "gtc",
                        wait_s=timeout)
        pause = threading.Event()
        deadline = time.monotonic() + timeout
        while len(client.list_orders(status="resting")) < resting and time.monotonic() < deadline:
            pause.wait(0.02)
        ticket = sup.killswitch.stop("kill-switch drill", "drill", "DRILL")
        gate_ms = (ticket.gate_closed - ticket.tripped) * 1000
        no_resting = flat = None
        remaining: dict[str, str] = {}
        while time.monotonic() < deadline and (no_resting is None or flat is None):
            now = time.perf_counter()
            if no_resting is None and not client.list_orders(status="resting"):
                no_resting = (now - ticket.tripped) * 1000
            if flat is None:
                held = {p.ticker: p.position for p in client.get_positions().market_positions if p.position != 0}
                remaining = {t: str(n) for t, n in held.items()}
                if not held:
                    flat = (now - ticket.tripped) * 1000
            pause.wait(0.002)
        ticket.wait(timeout)
        return DrillResult(gate_ms, no_resting, flat, opened, resting, remaining, [s.as_dict() for s in ticket.steps])
