"""Kill-switch benchmarks (issue #11): prints each measured figure beside its goal.

1. Trigger → gate closed. The real tree (no exchange) on a SQLite ledger; each round an orphan
   ``Discrepancy`` is told to the guardian, which trips the ORPHAN trigger and calls the kill switch. The
   figure is the kill switch's own: from entering ``KillSwitch.stop`` (the trip) to the gate HALTED in memory
   (what the send point reads; the persisted write follows). Goal p99 < 1 ms. Printed for information:
   from telling the event to the gate closed (the guardian's mailbox and evaluation included).
2. Trigger → all 50 resting orders cancelled on the simulator. The real tree against the simulator on
   loopback; each round the placer places 50 resting GTC orders (all in the daemon's order group), then a
   stop is tripped and the simulator's own book is read (in process, under its lock) until none of ours
   rests. Flatten off (it is measured next). Goal p99 < 100 ms.
3. Flatten of 50 positions with the simulator's latency at 1 ms per request: 50 markets, one position in
   each, a stop with ``kill.flatten`` on; the figure is the flatten step (positions read, 50 reduce-only
   IOCs, fills booked, positions read back). Goal < 1 s.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

from loguru import logger

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kalshi_guard.actors.facade import TradingFacade
from kalshi_guard.actors.messages import Discrepancy, DiscrepancyKind, Reset
from kalshi_guard.config.schema import ExchangeSettings, Settings
from kalshi_guard.control.daemon import GIL_SWITCH_INTERVAL_S
from kalshi_guard.control.tree import build_tree
from kalshi_guard.core.gate import TradingGate
from kalshi_guard.exchange.meter import CallMeter
from kalshi_guard.ledger import Ledger
from kalshi_guard.simulator.accounts import OrderStatus
from kalshi_guard.simulator.engine import Exchange
from kalshi_guard.simulator.liquidity import Liquidity
from kalshi_guard.simulator.markets import MarketSpec
from kalshi_guard.simulator.server import SimulatorServer

from figures import figure


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class Tree:
    """The five actors under the supervisor, ticked by a thread; ``sim`` None = no exchange."""

    def __init__(self, tmp: Path, sim: SimulatorServer | None, **kill: Any) -> None:
        base = Settings()
        limits = base.limits.model_copy(update={"max_open_orders": 10000, "max_orders_per_s": 10000.0,
                                                "price_collar": Decimal(1), "max_order_count": Decimal(10000),
                                                "max_market_exposure": Decimal(100000),
                                                "max_event_exposure": Decimal(100000),
                                                "max_total_exposure": Decimal(100000),
                                                "max_order_loss": Decimal(100000),
                                                "max_open_positions": 1000})
        update: dict[str, Any] = {"limits": limits, "kill": base.kill.model_copy(update=kill),
                                  "orders": base.orders.model_copy(update={"confirm_timeout_s": 3600.0}),
                                  "supervisor": base.supervisor.model_copy(update={"heartbeat_interval_s": 0.2})}
        if sim is not None:
            update["exchange"] = ExchangeSettings(base_url=sim.rest_url, ws_url=sim.ws_url, key_id=sim.key_id,
                                                  private_key_file=Path(sim.private_key_path),
                                                  read_rate_per_s=10000, write_rate_per_s=10000)
        self.settings = base.model_copy(update=update)
        self.ledger = Ledger.open(f"sqlite:///{tmp / 'ledger.sqlite'}")
        self.gate = TradingGate(persist=self.ledger.save_gate)
        self.sup = build_tree(self.settings, self.gate, self.ledger, key=None if sim is None else sim.private_key,
                              connect=sim is not None, meter=CallMeter())
        self.sup.start()
        self.gate.mark_ready()
        self.stop_ticking = threading.Event()
        threading.Thread(target=self._tick, daemon=True).start()
        self.trading = TradingFacade(self.sup.peers, self.ledger, lambda: self.settings)

    def _tick(self) -> None:
        while not self.stop_ticking.wait(0.05):
            self.sup.tick()

    def reset(self) -> None:
        """Lift the gate through the guardian (it also reopens the order group)."""
        self.sup.peers["guardian"].ask(Reset("bench", "next round"), timeout=30)

    def close(self) -> None:
        self.stop_ticking.set()
        self.sup.stop()
        self.sup.killswitch.close()
        self.ledger.close()


def bench_gate(tmp: Path, rounds: int = 300) -> None:
    tree = Tree(tmp, None)
    switch, guardian = tree.sup.killswitch, tree.sup.peers["guardian"]
    trip, told = [], []
    try:
        for n in range(rounds):
            before = switch.last
            t_told = time.perf_counter()
            guardian.tell(Discrepancy(DiscrepancyKind.ORPHAN, "KX-BENCH", f"round {n}"))
            pause = threading.Event()
            while switch.last is before:
                pause.wait(0.0005)
            ticket = switch.last
            assert ticket is not None
            ticket.wait(10)
            trip.append((ticket.gate_closed - ticket.tripped) * 1000)
            told.append((ticket.gate_closed - t_told) * 1000)
            tree.reset()
    finally:
        tree.close()
    p99 = pct(trip, 99)
    figure(f"kill switch: trigger -> gate closed, p99 ({rounds} stops, max {max(trip):.4f} ms)", f"{p99:.4f} ms",
           "< 1 ms", p99 < 1)
    figure("kill switch: event told to the guardian -> gate closed, p99", f"{pct(told, 99):.3f} ms")


def ours_resting(sim: SimulatorServer, account: str) -> int:
    ex = sim.exchange
    with ex.lock:
        return sum(1 for o in ex.orders.values() if o.account == account and o.status is OrderStatus.RESTING)


def bench_cancel(tmp: Path, rounds: int = 20, orders: int = 50) -> None:
    sim = SimulatorServer("127.0.0.1", 0, 7, liquidity_interval_s=None)
    sim.start()
    tree = Tree(tmp, sim, flatten=False)
    switch = tree.sup.killswitch
    switch.ensure_group()
    account = next(o.account for o in [_probe_order(tree, sim)])
    ticker = "KXSIMCPI-26DEC-T30"
    figures = []
    pause = threading.Event()
    try:
        with ThreadPoolExecutor(orders) as pool:
            for _ in range(rounds):
                futures = [pool.submit(tree.trading.place_and_confirm, ticker, "yes", "buy", "1", "0.02", "gtc",
                                       wait_s=120) for _ in range(orders)]
                while ours_resting(sim, account) < orders:
                    pause.wait(0.002)
                ticket = switch.stop("bench", "bench", "BENCH")
                while ours_resting(sim, account):
                    pause.wait(0.0005)
                figures.append((time.perf_counter() - ticket.tripped) * 1000)
                ticket.wait(30)
                for f in futures:
                    f.result(timeout=60)
                tree.reset()
    finally:
        tree.close()
        sim.stop()
    p99 = pct(figures, 99)
    figure(f"kill switch: trigger -> {orders} resting orders cancelled, p99 ({rounds} rounds, p50 "
           f"{statistics.median(figures):.2f} ms)", f"{p99:.2f} ms", "< 100 ms", p99 < 100)


def _probe_order(tree: Tree, sim: SimulatorServer) -> Any:
    """One IOC that fills, to learn our account's name on the simulator."""
    conf = tree.trading.place_and_confirm("KXSIMCPI-26DEC-T30", "yes", "buy", "1", "0.99", "ioc", wait_s=20)
    with sim.exchange.lock:
        return sim.exchange.orders[conf.order_id]


def bench_flatten(tmp: Path, positions: int = 50) -> None:
    specs = tuple(MarketSpec(f"KXBENCH-{n:02d}", f"KXBENCH-E{n // 10}", f"bench market {n}", Decimal("0.50"))
                  for n in range(positions))
    sim = SimulatorServer("127.0.0.1", 0, 7, liquidity_interval_s=None, exchange=Exchange(7, markets=specs))
    sim.start()
    sim.ctx.liquidity = Liquidity(sim.exchange, 7, markets=specs)
    sim.ctx.liquidity.seed_books()
    tree = Tree(tmp, sim)
    try:
        with ThreadPoolExecutor(10) as pool:
            confs = list(pool.map(lambda s: tree.trading.place_and_confirm(s.ticker, "yes", "buy", "3", "0.99", "ioc",
                                                                           wait_s=60), specs))
        assert all(c.filled_count == 3 for c in confs), [c.status for c in confs if c.filled_count != 3]
        sim.exchange.faults.configure({"latency": {"*": 0.001}})
        ticket = tree.sup.killswitch.stop("bench", "bench", "BENCH", wait=60)
        step = {s.name: s for s in ticket.steps}["flatten"]
        remaining = ticket.flatten.remaining if ticket.flatten is not None else None
    finally:
        tree.close()
        sim.stop()
    secs = step.duration_ms / 1000
    figure(f"kill switch: flatten of {positions} positions, 1 ms exchange latency (flat: {remaining == ()})",
           f"{secs:.3f} s", "< 1 s, flat", secs < 1 and remaining == ())


def main() -> None:
    logger.remove()
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)  # as the daemon runs
    with tempfile.TemporaryDirectory() as d1, tempfile.TemporaryDirectory() as d2, \
            tempfile.TemporaryDirectory() as d3:
        bench_gate(Path(d1))
        bench_cancel(Path(d2))
        bench_flatten(Path(d3))


if __name__ == "__main__":
    main()
