"""Benchmark: order confirmation latency during a 1,000-alert burst, beside the same without alerts.

Run: ``.venv/bin/python bench/bench_alerts.py`` (about half a minute). Every figure is printed beside its goal.

The exchange is ``kalshi-guard sim`` in its own process (as in ``bench_orders.py``); the pipeline is the
five real actors under the real supervisor on a real SQLite ledger, with the alerter delivering to a
loopback Discord stand-in (the tests' ``tests/standins.py``, in its own process as Discord is not in ours)
that enforces Discord's limits (5 requests per 2 s, 30 per 60 s).

One bot sends IOC YES buys that fill at once, one after another, and times each ``place_and_confirm``
(request → FILLED confirmation, fills booked). Passes alternate — quiet, burst, quiet, burst — so that the
machine's drift hits both alike. In a burst pass, 1,000 alerts are told to the alerter from another thread
when the pass starts (a third of them CRITICAL, a PagerDuty-free configuration: Discord only). Goal: the
burst passes' median latency within 10 % of the quiet passes' (p90 printed for information).

With Discord's real limits (the default) delivering 2,000 alerts takes minutes (30 messages a minute); the
bench reports how many were delivered while it ran, and the tests show that every one arrives. With
``BENCH_ALERTS_SCALE=0.02`` the stand-in's windows shrink fifty-fold, so that the whole burst is
delivered during the orders: 50 times denser delivery work than Discord allows, printed for information.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_orders import Asks, SimProcess, pct
from loguru import logger
from pydantic import SecretStr

from kalshi_guard.actors.facade import TradingFacade
from kalshi_guard.actors.messages import Alert, Severity
from kalshi_guard.config.schema import AlertSettings, Settings
from kalshi_guard.control.daemon import GIL_SWITCH_INTERVAL_S
from kalshi_guard.control.tree import build_tree
from kalshi_guard.core.gate import TradingGate
from kalshi_guard.ledger import Ledger
from kalshi_guard.simulator.markets import DEFAULT_TICKERS
from kalshi_guard.supervisor import Supervisor

from figures import figure, quick

N_ORDERS = 60 if quick() else 150  # per pass
PASSES = 4  # quiet, burst, quiet, burst
N_ALERTS = 1000
SCALE = float(os.environ.get("BENCH_ALERTS_SCALE", "1.0"))


def standin_process(conn: Any) -> None:
    """The Discord stand-in in its own process (the real Discord is not in ours): sends its URL, then
    answers ``("embeds", n)`` (wait until n embeds arrived) and ``("report",)``."""
    discord = load_standins().DiscordStandIn(scale=SCALE).start()
    conn.send(discord.url)
    while True:
        cmd = conn.recv()
        if cmd[0] == "embeds":  # wait up to cmd[2] s for cmd[1] embeds; answer (embeds, messages)
            discord.wait_for(lambda s, n=cmd[1]: len(s.embeds()) >= n, timeout=cmd[2])
            conn.send((len(discord.embeds()), len(discord.messages())))
        elif cmd[0] == "report":
            conn.send(({s.status for s in discord.seen}, discord.hidden_429 + discord.bucket_429,
                       discord.max_in_window(discord.webhook.span), discord.max_in_window(discord.channel.span)))
        else:
            discord.stop()
            return


def load_standins() -> Any:
    path = Path(__file__).resolve().parents[1] / "tests" / "standins.py"
    spec = importlib.util.spec_from_file_location("bench_standins", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def build(sim: SimProcess, ledger_path: Path, webhook_url: str) -> tuple[Supervisor, Ledger, TradingFacade]:
    base = Settings()
    big = Decimal("1000000")
    limits = base.limits.model_copy(update={
        "max_orders_per_s": 10000.0, "max_open_orders": 100000, "max_daily_loss": big, "max_order_loss": big,
        "max_market_exposure": big, "max_event_exposure": big, "max_total_exposure": big,
        "max_balance_drop": Decimal(1), "max_consecutive_losses": 1000, "api_error_min_calls": 10000,
        "max_open_positions": 100,
    })
    alerts = AlertSettings(discord_webhook_url=SecretStr(webhook_url), trade_notices="none", daily_summary=False)
    settings = base.model_copy(update={"exchange": sim.exchange, "limits": limits, "alerts": alerts})
    ledger = Ledger.open(f"sqlite:///{ledger_path}")
    gate = TradingGate(persist=ledger.save_gate)
    sup = build_tree(settings, gate, ledger, key=sim.key)
    sup.start()
    gate.mark_ready()
    return sup, ledger, TradingFacade(sup.peers, ledger, lambda: settings)


def one_pass(trading: TradingFacade, asks: Asks) -> list[float]:
    out = []
    for i in range(N_ORDERS):
        t = DEFAULT_TICKERS[i % len(DEFAULT_TICKERS)]
        t0 = time.perf_counter()
        conf = trading.place_and_confirm(t, "yes", "buy", "1", asks.limit(t), "ioc", wait_s=60)
        if conf.status.value == "FILLED":
            out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    ctx = multiprocessing.get_context("spawn")
    conn, child = ctx.Pipe()
    proc = ctx.Process(target=standin_process, args=(child,), daemon=True)
    proc.start()
    url = conn.recv()
    with tempfile.TemporaryDirectory() as tmpname:
        tmp = Path(tmpname)
        sim = SimProcess(tmp, liquidity_interval=0.5)
        sup, ledger, trading = build(sim, tmp / "ledger.sqlite", url)
        try:
            asks = Asks(sim)
            one_pass(trading, asks)  # warm-up
            quiet: list[float] = []
            burst: list[float] = []
            sent = 0
            for k in range(PASSES):
                if k % 2 == 0:
                    got = one_pass(trading, asks)
                    quiet += got
                    print(f"  quiet pass {k // 2 + 1}: p50 {statistics.median(got):.2f} ms")
                    continue
                def fire(base: int = sent, alerter: Any = sup.peers["alerter"]) -> None:
                    for i in range(N_ALERTS):
                        sev = (Severity.INFO, Severity.WARNING, Severity.CRITICAL)[i % 3]
                        alerter.tell(Alert(sev, f"burst {base + i}", (("ticker", DEFAULT_TICKERS[i % 3]),)))

                thread = threading.Thread(target=fire, name="alert-burst")
                thread.start()
                got = one_pass(trading, asks)
                burst += got
                thread.join()
                print(f"  burst pass {k // 2 + 1}: p50 {statistics.median(got):.2f} ms")
                sent += N_ALERTS
                conn.send(("embeds", sent, 120 if SCALE < 1 else 0))
                embeds, messages = conn.recv()
                print(f"  burst pass {k // 2 + 1}: {sent} alerts queued so far, {embeds} delivered in {messages} "
                      "Discord messages by the end of the pass")
            asks.stop.set()
        finally:
            sup.stop()
            ledger.close()
            sim.close()
            conn.send(("report",))
            statuses, n429, per_2s, per_60s = conn.recv()
            conn.send(("stop",))
            proc.join(10)
    q50, b50 = statistics.median(quiet), statistics.median(burst)
    ratio = b50 / q50
    for name, xs in (("without alerts", quiet), ("during the burst", burst)):
        print(f"  confirmation latency {name}: p50 {statistics.median(xs):.2f} ms, p90 {pct(xs, 0.9):.2f} ms "
              f"({len(xs)} orders)")
    figure(f"order confirmation p50 during a {N_ALERTS}-alert burst / without (windows x {SCALE})",
           f"{ratio:.3f}", "<= 1.10", ratio <= 1.10)
    figure("Discord answers other than 200/429", str(sorted(statuses - {200, 429})), "none",
           statuses <= {200, 429})
    figure("most Discord requests in one 2 s window", str(per_2s), "<= 5", per_2s <= 5)
    figure("most Discord requests in one 60 s window", str(per_60s), "<= 30", per_60s <= 30)
    print(f"  ({n429} answers were 429, each waited out)")


if __name__ == "__main__":
    main()
