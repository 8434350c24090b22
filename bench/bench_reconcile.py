"""Benchmark of reconciliation: a pass over 10,000 positions, 10,000 resting orders and 20,000 fills.

Run: ``.venv/bin/python bench/bench_reconcile.py`` (about a minute on 2 cores).

The simulator (in this process, on 127.0.0.1) gets 10,000 markets; on each the account trades twice
(20,000 fills, 10,000 open positions) and leaves one resting order (10,000 orders). A first pass books
all of it (every fill, every order adopted); the measured pass is the steady state that follows: every
read through the real signed client with full pagination (fills since the watermark minus the overlap:
all 20,000), the ledger's side, and the compare. Printed beside their goals:

- the compare step alone (``actors.reconcile_model.compare`` on the complete picture): goal < 2 s;
- the whole pass through the reconciler actor, reads included: goal < ``reconcile.interval_s`` (300 s),
  so a pass always ends before the next is due.
The ledger's side of the compare (its bulk queries) and the reads are printed for information.
"""

from __future__ import annotations

import queue
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loguru import logger

from kalshi_guard.actors.base import ActorContext, HeartbeatBoard
from kalshi_guard.actors.messages import ReconcileNow
from kalshi_guard.actors.peers import Peers
from kalshi_guard.actors.reconcile_model import compare
from kalshi_guard.actors.reconcile_read import read_exchange
from kalshi_guard.actors.reconciler import Reconciler
from kalshi_guard.config.schema import Settings
from kalshi_guard.core.gate import TradingGate
from kalshi_guard.exchange.rest import KalshiClient
from kalshi_guard.exchange.signing import Signer
from kalshi_guard.ledger import Ledger
from kalshi_guard.simulator.accounts import DEFAULT_ACCOUNT
from kalshi_guard.simulator.markets import MarketSpec
from kalshi_guard.simulator.testing import running_simulator

from figures import figure

POSITIONS, ORDERS, FILLS = 10_000, 10_000, 20_000
COMPARE_GOAL_S = 2.0


def plant(ex) -> None:
    for i in range(POSITIONS):
        ticker = f"KXBENCH-{i:05d}"
        ex.add_market(MarketSpec(ticker, f"KXBENCH-E{i // 10:04d}", f"bench market {i}", Decimal("0.50")))
        ex.external_trade(ticker, "yes", "2", "0.40")
        ex.external_trade(ticker, "yes", "1", "0.45")
        ex.create_order(DEFAULT_ACCOUNT, {"ticker": ticker, "side": "bid", "count": "1.00", "price": "0.01",
                                          "time_in_force": "good_till_canceled", "self_trade_prevention_type": "maker",
                                          "client_order_id": str(uuid.uuid4())})


def main() -> int:
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    settings = Settings()
    with running_simulator(starting_balance=Decimal(1_000_000)) as sim, tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        plant(sim.exchange)
        acct = sim.exchange.account(DEFAULT_ACCOUNT)
        print(f"planted {len(acct.positions)} positions, {len(acct.fills)} fills, "
              f"{sum(1 for o in sim.exchange.orders.values() if o.account == DEFAULT_ACCOUNT and o.remaining > 0)} "
              f"resting orders in {time.perf_counter() - t:.1f} s")
        ledger = Ledger.open(f"sqlite:///{tmp}/ledger.sqlite")
        gate = TradingGate(persist=ledger.save_gate)
        gate.mark_ready()
        peers = Peers(["reconciler"])

        def factory(_name: str) -> KalshiClient:
            return KalshiClient(sim.rest_url, Signer(sim.key_id, sim.private_key), timeout=60.0)

        ctx = ActorContext("reconciler", 1, gate, HeartbeatBoard(), queue.Queue(), peers,
                           {"ledger": ledger, "settings": settings, "exchange_factory": factory})
        peers["reconciler"].ref = Reconciler.start(ctx)
        try:
            first = peers["reconciler"].ask(ReconcileNow("bench: first pass books everything"), timeout=1800)
            print(f"first pass (books {first.report['counts']['booked_fills']} fills, adopts "
                  f"{first.report['counts']['adopted_orders']} orders): {first.report['duration_ms'] / 1000:.1f} s")
            steady = peers["reconciler"].ask(ReconcileNow("bench: steady state"), timeout=1800)
            counts = steady.report["counts"]
            if not steady.ok or steady.report["discrepancies"]:
                raise SystemExit(f"the steady pass is not clean: {steady.summary}")
            seen = (counts["positions"], counts["resting_orders"], counts["fills"])
            if seen != (POSITIONS, ORDERS, FILLS):
                raise SystemExit(f"the pass did not see everything: {counts}")
        finally:
            peers["reconciler"].ref.stop()
        # the compare alone, on the same complete picture
        with factory("bench") as client:
            mark = ledger.last_complete_reconciliation().summary["watermark"]
            t = time.perf_counter()
            view = read_exchange(client, mark - settings.reconcile.fills_overlap_s, settings.reconcile.page_limit)
            reads = time.perf_counter() - t
            t = time.perf_counter()
            probe = Reconciler.__new__(Reconciler)  # the ledger side alone, outside the actor
            probe.client = client
            led = probe._ledger_view(ledger, view)
            ledger_side = time.perf_counter() - t
        t = time.perf_counter()
        plan = compare(view, led, settings.reconcile.actions)
        compare_s = time.perf_counter() - t
        if plan.findings:
            raise SystemExit(f"the compare found {len(plan.findings)} discrepancies on a clean state")
        ledger.close()
    whole = steady.report["duration_ms"] / 1000
    interval = settings.reconcile.interval_s
    print(f"\nreconciliation over {POSITIONS:,} positions, {ORDERS:,} orders, {FILLS:,} fills "
          f"({steady.report['pages']} pages):")
    figure("reconciliation: compare step alone", f"{compare_s:.3f} s", f"< {COMPARE_GOAL_S:.0f} s",
           compare_s < COMPARE_GOAL_S)
    figure("reconciliation: whole pass, reads included", f"{whole:.3f} s", f"< interval {interval:.0f} s",
           whole < interval)
    figure("reconciliation: of which reads", f"{reads:.3f} s")
    figure("reconciliation: ledger side of the compare", f"{ledger_side:.3f} s")
    return 0 if compare_s < COMPARE_GOAL_S and whole < interval else 1


if __name__ == "__main__":
    sys.exit(main())
