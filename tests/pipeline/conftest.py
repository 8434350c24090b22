"""The order pipeline in-process and for real: the five actors under the supervisor, a SQLite ledger, and
the simulator on loopback (REST + WebSocket). Only the bot is the test."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from actors.facade import TradingFacade
from actors.gate import TradingGate
from config.schema import ExchangeSettings, Settings
from control.daemon import child_specs
from exchange.endpoints import make_client, make_signer, resolve
from exchange.stream import KalshiStream
from ledger import Ledger
from simulator.testing import running_simulator
from supervisor import Supervisor


@dataclass
class Pipeline:
    sim: Any
    ledger: Ledger
    gate: TradingGate
    sup: Supervisor
    trading: TradingFacade
    settings: Settings
    _stop: threading.Event

    def exchange_orders(self, ticker: str | None = None) -> list[Any]:
        """Every order the exchange holds for our key (via a fresh client)."""
        with make_client(self.settings.exchange, self.sim.private_key) as c:
            return c.list_orders(ticker=ticker)

    def exchange_fills(self) -> list[Any]:
        with make_client(self.settings.exchange, self.sim.private_key) as c:
            return c.get_fills()

    def exchange_positions(self) -> dict[str, Any]:
        with make_client(self.settings.exchange, self.sim.private_key) as c:
            return {p.ticker: p.position for p in c.get_positions().market_positions if p.position != 0}

    def ledger_positions(self) -> dict[str, Any]:
        return {p.ticker: p.net_count for p in self.ledger.positions(open_only=True) if p.net_count != 0}

    def wait(self, predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
        """Re-check ``predicate`` (ticking the supervisor) until truthy or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        pause = threading.Event()
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout}s waiting for {what}")
            pause.wait(0.02)


def build_settings(sim: Any, **orders: Any) -> Settings:
    base = Settings()
    ex = ExchangeSettings(base_url=sim.rest_url, ws_url=sim.ws_url, key_id=sim.key_id,
                          private_key_file=Path(sim.private_key_path), read_rate_per_s=1000, write_rate_per_s=1000)
    limits = base.limits.model_copy(update={"max_orders_per_s": 1000.0, "max_open_orders": 1000,
                                            "price_collar": base.limits.price_collar.__class__("1")})
    sup = base.supervisor.model_copy(update={"heartbeat_interval_s": 0.2})
    return base.model_copy(update={"exchange": ex, "limits": limits, "supervisor": sup,
                                   "orders": base.orders.model_copy(update=orders)})


@pytest.fixture
def pipeline_factory(tmp_path: Path) -> Iterator[Callable[..., Pipeline]]:
    made: list[tuple[Pipeline, Any]] = []

    def make(*, sim: Any = None, **orders: Any) -> Pipeline:
        ctx = None
        if sim is None:
            ctx = running_simulator(seed=11)
            sim = ctx.__enter__()
        settings = build_settings(sim, **orders)
        ledger = Ledger.open(f"sqlite:///{tmp_path / f'ledger-{len(made)}.sqlite'}")
        gate = TradingGate(persist=ledger.save_gate)
        key = sim.private_key
        ex = settings.exchange

        def stream_factory(on_message: Any, on_event: Any) -> KalshiStream:
            return KalshiStream(resolve(ex).ws_url, make_signer(ex, key), on_message, on_event)

        services = {"ledger": ledger, "settings": settings, "stream_factory": stream_factory,
                    "exchange_factory": lambda _n: make_client(ex, key)}
        sup = Supervisor(child_specs(settings), gate, settings.supervisor, services=services)
        sup.start()
        gate.mark_ready()
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(0.05):
                sup.tick()

        threading.Thread(target=loop, daemon=True, name="test-supervisor-loop").start()
        p = Pipeline(sim, ledger, gate, sup, TradingFacade(sup.peers, ledger, lambda: settings), settings, stop)
        made.append((p, ctx))
        return p

    yield make
    for p, ctx in made:
        p._stop.set()
        p.sup.stop()
        p.ledger.close()
        if ctx is not None:
            ctx.__exit__(None, None, None)
