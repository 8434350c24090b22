"""Chaos: the daemon against a standalone simulator with persistence and faults, ``kill -9`` at seeded moments.

    .venv/bin/python bench/chaos.py [--seed N] [--kills 50] [--sim-kills 10] [--quick]

A bot sends IOC, resting (GTC, then cancelled) and batch orders through the HTTP API while the simulator
injects faults of every kind at a few percent (5xx, 429, timeouts and resets after accepting, 2xx without an
order id, dropped / duplicated / reordered stream messages). At seeded random moments the daemon is killed
with SIGKILL — now and then right after an emergency stop (mid-flatten) or a reconciliation request — and,
every few rounds, the simulator too. After every restart (faults off while it resolves) the ledger must
equal the exchange: order for order by client_order_id, fill for fill by trade_id, position for position;
no client_order_id twice; no order left UNKNOWN; no alert lost (every alert row before the kill is still
there). Prints one table of counts; exits 1 on any discrepancy.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from kalshi_guard.simulator.markets import DEFAULT_TICKERS

from figures import figure, quick
from harness import Daemon, HarnessError, Sim, audit

TICKERS = DEFAULT_TICKERS[:3]
BOT_THREADS = 4
FAULTS = {"error_5xx_rate": {"*": 0.02}, "rate_429": {"*": 0.01}, "stream_drop_rate": 0.03,
          "stream_duplicate_rate": 0.03, "stream_reorder_rate": 0.03}


def arm_faults(sim: Sim, rng: random.Random) -> None:
    """Rates of every kind plus, this round, a few one-shot create faults."""
    plan: dict[str, Any] = {"seed": rng.randrange(1 << 30), **FAULTS}
    one_shot = rng.choice(["timeout_after_accept", "reset_before", "reset_after_accept", "error_5xx_after_accept",
                           "no_order_id", "error_5xx_next"])
    plan[one_shot] = {"create_order": rng.randint(1, 2)}
    if one_shot == "timeout_after_accept":
        plan["timeout_hold_s"] = 2.0
    sim.admin("POST", "/faults", plan)


class Bot:
    """Orders of three kinds through the daemon's HTTP API until stopped; every outcome counted."""

    def __init__(self, daemon: Daemon, rng: random.Random) -> None:
        self.daemon, self.rng = daemon, random.Random(rng.random())
        self.outcomes: Counter[str] = Counter()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(BOT_THREADS)]
        self._lock = threading.Lock()

    def _order(self, tif: str, price: str) -> dict[str, Any]:
        return {"ticker": self.rng.choice(TICKERS), "outcome": self.rng.choice(["yes", "no"]),
                "action": "buy", "count": str(self.rng.randint(1, 3)), "price": price, "time_in_force": tif,
                "client_order_id": f"chaos-{uuid.uuid4()}"}

    def _run(self) -> None:
        token = self.daemon.token()
        with httpx.Client(base_url=self.daemon.url, headers={"Authorization": f"Bearer {token}"}, timeout=15,
                          trust_env=False) as c:
            while not self.stop.is_set():
                kind = self.rng.random()
                try:
                    if kind < 0.5:
                        r = c.post("/api/orders", json=self._order("ioc", "0.99"))
                    elif kind < 0.8:
                        o = self._order("gtc", "0.02")
                        r = c.post("/api/orders", json=o)
                        c.post(f"/api/orders/{o['client_order_id']}/cancel")
                    else:
                        r = c.post("/api/orders/batch", json={"orders": [self._order("ioc", "0.99") for _ in range(3)]})
                    with self._lock:
                        self.outcomes[str(r.status_code)] += 1
                except httpx.HTTPError as exc:
                    with self._lock:
                        self.outcomes[type(exc).__name__] += 1
                    self.stop.wait(0.05)

    def __enter__(self) -> Bot:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)


def restart_and_check(daemon: Daemon, sim: Sim, before_alerts: list[int], counts: Counter[str]) -> list[str]:
    """Faults off, start, wait until ready, reset the latched gate, audit."""
    sim.admin("DELETE", "/faults")
    daemon.start()
    daemon.wait_ready()
    report = audit(daemon.ledger_url, sim)
    lost = sorted(set(before_alerts) - set(report["alert_ids"]))
    problems = [*report["problems"], *([f"alerts lost: {lost}"] if lost else [])]
    counts["audits"] += 1
    counts["orders in the ledger"] = report["orders"]
    counts["orders on the exchange"] = report["exchange_orders"]
    counts["fills booked"] = report["fills"]
    r = daemon.api("POST", "/api/bot/reset", json={"reason": "chaos round: ledger audited"})
    counts[f"reset answered {r.status_code}"] += 1
    return problems


def run(seed: int, kills: int, sim_kills: int, workdir: Path) -> tuple[Counter[str], list[str]]:
    rng = random.Random(seed)
    sim = Sim(workdir / "sim", seed)
    daemon = Daemon(workdir / "state", sim, KALSHI_GUARD_LIMITS__MAX_CONSECUTIVE_LOSSES="1000",
                    KALSHI_GUARD_LIMITS__MAX_API_ERROR_RATE="1",
                    KALSHI_GUARD_LIMITS__PRICE_COLLAR="1", KALSHI_GUARD_LIMITS__MAX_OPEN_POSITIONS="10")
    counts: Counter[str] = Counter()
    problems: list[str] = []
    sim_every = max(1, kills // max(1, sim_kills)) if sim_kills else 0
    try:
        problems += restart_and_check(daemon, sim, [], counts)
        for i in range(kills):
            arm_faults(sim, rng)
            with Bot(daemon, rng) as bot:
                bot.stop.wait(rng.uniform(1.0, 4.0))
                moment = rng.random()
                if moment < 0.15:
                    daemon.api("POST", "/api/bot/emergency-stop", json={"reason": "chaos: mid-flatten kill"})
                    counts["kills right after an emergency stop"] += 1
                elif moment < 0.3:
                    with _suppress():
                        daemon.api("POST", "/api/reconcile", timeout=0.05)
                    counts["kills during a reconciliation request"] += 1
                before = audit_alerts(daemon)
                daemon.kill()
                counts["daemon kill -9"] += 1
            counts.update({f"bot answers {k}": v for k, v in bot.outcomes.items()})
            if sim_every and (i + 1) % sim_every == 0 and counts["simulator kill -9"] < sim_kills:
                sim.kill()
                sim.start()
                counts["simulator kill -9"] += 1
            found = restart_and_check(daemon, sim, before, counts)
            problems += [f"round {i + 1}: {p}" for p in found]
            print(f"  round {i + 1}/{kills}: {len(found)} discrepancies", flush=True)
    finally:
        daemon.stop()
        sim.stop()
    return counts, problems


def audit_alerts(daemon: Daemon) -> list[int]:
    from sqlalchemy import create_engine, select

    from kalshi_guard.ledger.schema import AlertRow

    engine = create_engine(daemon.ledger_url)
    try:
        with engine.connect() as conn:
            return sorted(conn.scalars(select(AlertRow.id)))
    finally:
        engine.dispose()


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, *_rest: object) -> bool:
        return kind is not None and issubclass(kind, httpx.HTTPError)  # type: ignore[arg-type]  # kind is an exception type here


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--kills", type=int, default=None, help="daemon kill -9 rounds (default 50; 4 with --quick)")
    ap.add_argument("--sim-kills", type=int, default=None, help="simulator kill -9s (default 10; 1 with --quick)")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    short = args.quick or quick()
    kills = args.kills if args.kills is not None else (4 if short else 50)
    sim_kills = args.sim_kills if args.sim_kills is not None else (1 if short else 10)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kalshi-guard-chaos-") as tmp:
        try:
            counts, problems = run(args.seed, kills, sim_kills, Path(tmp))
        except HarnessError as exc:
            print(f"chaos: {exc}", file=sys.stderr)
            return 1
    print(f"\nchaos seed {args.seed}: {time.monotonic() - started:.0f} s")
    for key in sorted(counts):
        print(f"  {key:<48} {counts[key]:>8}")
    for p in problems[:50]:
        print(f"  DISCREPANCY {p}")
    figure(f"chaos: discrepancies after {kills} daemon and {sim_kills} simulator kill -9s", str(len(problems)),
           "0", not problems)
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
