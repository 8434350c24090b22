"""Benchmark of UNKNOWN orders: how much the fill watcher reads while it settles them, over two minutes.

Run: ``.venv/bin/python bench/bench_unknown.py`` (about 20 s). Every figure is printed beside its goal.

The five actors run in-process under the real supervisor against the simulator on loopback, with the
shipped defaults for the read budget (20 reads/s, one token bucket for the process) and the confirmation
policy; the write budget is raised to 100/s so that the ten creates, sent while the fake clock stands
still, are not refused by our own bucket. The fill watcher's clock and the bucket's are fake: the bench
moves them 0.5 s per heartbeat tick (the supervisor's own ticks are held off) and counts the simulator's
requests per route. The guardian's API error-rate trip is set out of reach (ten failed creates would halt
trading, which is its job but not what is measured here), and five markets may hold a position.

1. Never landed: one IOC in each of the simulator's five markets; its create and its one same-id resend are
   answered 500 before the exchange processes them. Goals: each is REJECTED (NOT_ON_EXCHANGE) within 60 s,
   the order listings in the 10 s ending at 120 s are no more than in the first 10 s (none once settled),
   the portfolio reads over the two minutes stay within 20 per order, and every market fills an IOC after.
2. Listing down: the same, but every order listing fails for the two minutes. Goals: every order is still
   UNKNOWN (a failed read is no evidence), and the listing requests in the 10 s ending at 120 s are fewer
   than in the first 10 s (each order's one poller backs off).
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kalshi_guard.actors.facade import TradingFacade
from kalshi_guard.actors.messages import Ping
from kalshi_guard.config.schema import ExchangeSettings, Settings
from kalshi_guard.control.tree import build_tree
from kalshi_guard.core.gate import TradingGate
from kalshi_guard.exchange.buckets import RateBuckets
from kalshi_guard.ledger import Ledger
from kalshi_guard.simulator.markets import DEFAULT_TICKERS
from kalshi_guard.simulator.testing import running_simulator

from figures import figure

STEP_S = 0.5
READS = ("get_orders", "get_order", "get_fills")


class FakeClock:
    """Real Unix time until :meth:`freeze`; from then on it moves only with ``now``."""

    def __init__(self) -> None:
        self.now: float | None = None

    def __call__(self) -> float:
        return time.time() if self.now is None else self.now

    def freeze(self) -> None:
        self.now = time.time()


def run(workdir: Path, listing_down: bool) -> dict[str, Any]:
    clock = FakeClock()
    with running_simulator(seed=7) as sim:
        base = Settings()
        ex = ExchangeSettings(base_url=sim.rest_url, ws_url=sim.ws_url, key_id=sim.key_id,
                              private_key_file=Path(sim.private_key_path), write_rate_per_s=100)
        limits = base.limits.model_copy(update={"price_collar": base.limits.price_collar.__class__("1"),
                                                "api_error_min_calls": 10000, "max_open_positions": 10})
        settings = base.model_copy(update={"exchange": ex, "limits": limits})
        ledger = Ledger.open(f"sqlite:///{workdir / ('down' if listing_down else 'up')}.sqlite")
        gate = TradingGate(persist=ledger.save_gate)
        key = sim.private_key
        buckets = RateBuckets.from_requests_per_s(ex.read_rate_per_s, ex.write_rate_per_s, ex.reserve_fraction,
                                                  clock=clock)  # one budget for the process, on fake time
        sup = build_tree(settings, gate, ledger, key=key, buckets=buckets, clock=clock)
        sup.start()
        gate.mark_ready()
        trading = TradingFacade(sup.peers, ledger, lambda: settings)
        requests = sim.ctx.requests
        try:
            sim.exchange.faults.configure({"error_5xx_next": {"create_order": 2 * len(DEFAULT_TICKERS)}})
            coids = [str(uuid.uuid4()) for _ in DEFAULT_TICKERS]
            with ThreadPoolExecutor(len(coids)) as pool:
                futures = []
                for ticker, coid in zip(DEFAULT_TICKERS, coids, strict=True):
                    before = requests["create_order"]
                    futures.append(pool.submit(trading.place_and_confirm, ticker, "yes", "buy", "1", "0.99",
                                               "ioc", client_order_id=coid, wait_s=30))
                    deadline = time.monotonic() + 20
                    while requests["create_order"] < before + 2 and time.monotonic() < deadline:
                        threading.Event().wait(0.01)
                    sup.peers["order_placer"].ask(Ping(0), timeout=30)
                    sup.peers["fill_watcher"].ask(Ping(0), timeout=30)
                if listing_down:
                    sim.exchange.faults.configure({"error_5xx_rate": {"get_orders": 1.0}})
                clock.freeze()
                reads0, listings0 = sum(requests[r] for r in READS), requests["get_orders"]
                listings: dict[float, int] = {0.0: 0}
                settled_at: dict[str, float] = {}
                for n in range(1, int(120 / STEP_S) + 1):
                    clock.now += STEP_S
                    sup.peers["fill_watcher"].ask(Ping(0), timeout=30)
                    t = n * STEP_S
                    listings[t] = requests["get_orders"] - listings0
                    for coid in coids:
                        rec = ledger.get_order(coid)
                        if coid not in settled_at and rec is not None and rec.status.value == "REJECTED":
                            settled_at[coid] = t
                reads = sum(requests[r] for r in READS) - reads0
                statuses = [ledger.get_order(c).status.value for c in coids]  # type: ignore[union-attr]
                sim.exchange.faults.clear()
                if listing_down:
                    for _ in range(int(90 / STEP_S)):
                        clock.now += STEP_S
                        sup.peers["fill_watcher"].ask(Ping(0), timeout=30)
                for f in futures:
                    f.result(timeout=60)
            threading.Event().wait(0.1)  # the placer's risk view is re-read from the ledger every 50 ms
            after = [trading.place_and_confirm(t, "yes", "buy", "1", "0.99", "ioc", wait_s=20)
                     for t in DEFAULT_TICKERS]
            fills = sum(c.status.value == "FILLED" for c in after)
        finally:
            sup.stop()
            ledger.close()
    return {"first": listings[10.0], "last": listings[120.0] - listings[110.0], "reads": reads,
            "settled": settled_at, "statuses": statuses, "fills": fills, "orders": len(coids)}


def main() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        up = run(Path(tmp), listing_down=False)
        down = run(Path(tmp), listing_down=True)
    n = up["orders"]
    worst = max(up["settled"].values(), default=float("inf"))
    print(f"1. never landed: {n} orders, create and resend answered 500 before processing, 120 s of fake time")
    figure("orders settled REJECTED NOT_ON_EXCHANGE", f"{len(up['settled'])}/{n}", f"{n}/{n}",
           len(up["settled"]) == n)
    figure("fake time until the last one settled", f"{worst:.1f} s", "<= 60 s", worst <= 60)
    figure("order listings in the first 10 s", str(up["first"]))
    figure("order listings in the 10 s ending at 120 s (before: 1,193)", str(up["last"]), "0 (settled)",
           up["last"] == 0)
    figure("portfolio reads per order over 120 s", f"{up['reads'] / n:.1f}", "<= 20", up["reads"] <= 20 * n)
    figure("markets filling an IOC afterwards", f"{up['fills']}/{n}", f"{n}/{n}", up["fills"] == n)
    still = down["statuses"].count("UNKNOWN")
    print(f"2. order listing down for 120 s: {n} orders (a failing read is retried 3 times by the client)")
    figure("orders still UNKNOWN (a failed read is no evidence)", f"{still}/{n}", f"{n}/{n}", still == n)
    figure("listing requests in the first 10 s", str(down["first"]))
    figure("listing requests in the 10 s ending at 120 s", str(down["last"]), "< first 10 s",
           down["last"] < down["first"])
    figure("markets filling an IOC once it is back", f"{down['fills']}/{n}", f"{n}/{n}", down["fills"] == n)


if __name__ == "__main__":
    main()
