"""Benchmark of the order pipeline: confirmed orders/s, acknowledgement → confirmation latency, SIGUSR1 stop.

Run: ``.venv/bin/python bench/bench_orders.py`` (about a minute). Every figure is printed beside its goal.

The exchange is ``kalshi-guard sim`` in its own process on 127.0.0.1 (as operators and the crash tests run
it), so the pipeline and the simulator do not share a GIL; on 2 cores they share the CPU.

1. Throughput. A refresher thread reads each market's best ask every 0.25 s while the simulator's synthetic
   makers re-quote every 0.5 s (so liquidity never runs out); every order is an IOC YES buy of 1 contract at
   that ask + 2 cents, which fills at once. First a bare ``KalshiClient`` loop (one thread, the same client
   factory and token buckets as the daemon) creates them back to back: the upper bound of one sender. Then
   the whole pipeline in-process — the five real actors under the real supervisor, a real SQLite ledger
   (WAL, the daemon's default synchronous=NORMAL), the private WebSocket stream, the daemon's GIL switch
   interval — with bot threads calling ``TradingFacade.place_and_confirm``. The goal is measured saturated:
   8 bots, so orders wait for the placer (it coalesces them into batch creates) — the pipeline's capacity.
   With 4 bots the placer often finds its mailbox empty (a quarter to half of its requests carry one order);
   that figure is printed too, for information. Beside each: how many single and batch create requests
   carried the orders. A confirmed order is one whose confirmation is FILLED (fills booked in the ledger).
   Goal: pipeline rate (8 bots) / bare rate ≥ 0.6.
2. Acknowledgement → confirmation recorded. The acknowledgement is the exchange accepting the order: its
   ``created_time`` (millisecond precision, the same machine's wall clock), read from the simulator's order
   listing afterwards; our receipt of the create response is a little later, so the figure errs long.
   Recorded is the ledger's final ``FILLED`` event (``order_events.at``): the fill booked and committed by
   the fill watcher. (The placer writes one row per order, the write-ahead INTENT; SENT is the tracker's
   in-memory state, so there is no SENT row to start from.) Measured for one bot sending sequentially
   (the goal: p50 < 5 ms, p99 < 25 ms) and, for information, under the saturated load of part 1.
3. Emergency stop under load. The real daemon (``kalshi-guard run``, paper mode pointed at a fresh
   standalone simulator) takes a paced bot of 200 orders/s over its HTTP API (IOC buys at the bid: they
   never fill, so nothing runs out); after 3 s the bench sends SIGUSR1 (``t_signal`` = wall clock just
   before ``kill``) and the bot goes on for 1 s. On the simulator side (its own order listing) every order
   created at or after ``t_signal`` is classified by the daemon ledger's write-ahead time of the same
   ``client_order_id``: (a) written after ``t_signal`` — it met the gate after the stop and still left the
   process (goal: 0); (b) written before — it was already past (or at) the gate when the signal came: in
   flight. The placer sends one request at a time, but orders queued behind each other leave together in
   one batch create, so the one request in flight at the close holds at most ``orders.coalesce_max``
   orders (expected ≤ that). ``t_signal`` precedes the close, so (a) errs on the strict side. The
   simulator's timestamps have millisecond resolution.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from loguru import logger

from kalshi_guard.actors.facade import TradingFacade
from kalshi_guard.config.endpoints import make_client
from kalshi_guard.config.schema import ExchangeSettings, Settings
from kalshi_guard.control.daemon import GIL_SWITCH_INTERVAL_S
from kalshi_guard.control.tree import build_tree
from kalshi_guard.core.gate import TradingGate
from kalshi_guard.exchange.keys import load_private_key
from kalshi_guard.exchange.wire import BookSide, CreateOrderRequest, TimeInForce
from kalshi_guard.ledger import Ledger
from kalshi_guard.simulator.markets import DEFAULT_TICKERS
from kalshi_guard.simulator.testing import admin_request
from kalshi_guard.supervisor import Supervisor

from figures import figure

EXE = str(Path(sys.executable).with_name("kalshi-guard"))
N_BARE = 1000
N_PIPE = 1000
BOT_THREADS = 8  # saturating: orders queue at the placer
BOT_THREADS_LIGHT = 4  # printed for information
N_LATENCY = 300
STOP_RATE = 200.0
STOP_BEFORE_S = 3.0
STOP_AFTER_S = 1.0
CENT = Decimal("0.01")


def pct(samples: list[float], p: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * p))] if s else float("nan")


RATIO_GOAL = 0.8  # confirmed orders/s through the pipeline / a bare client batching the same way

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SimProcess:
    """``kalshi-guard sim`` in its own process; parses the printed endpoints and key."""

    LABELS = {"REST URL": "rest_url", "WebSocket URL": "ws_url", "Admin URL": "admin_url", "API key id": "key_id",
              "Private key file": "key_file", "Admin token": "admin_token"}

    def __init__(self, workdir: Path, liquidity_interval: float) -> None:
        self.proc = subprocess.Popen(
            [EXE, "sim", "--port", "0", "--seed", "7", "--key-dir", str(workdir / "keys"),
             "--liquidity-interval", str(liquidity_interval)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        info: dict[str, str] = {}
        assert self.proc.stdout is not None
        while set(self.LABELS.values()) - set(info):
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("kalshi-guard sim did not start")
            label, _, value = line.partition(":")
            if label.strip() in self.LABELS:
                info[self.LABELS[label.strip()]] = value.strip()
        self.info = info
        self.key = load_private_key(Path(info["key_file"]))
        self.exchange = ExchangeSettings(base_url=info["rest_url"], ws_url=info["ws_url"], key_id=info["key_id"],
                                         private_key_file=Path(info["key_file"]), read_rate_per_s=5000,
                                         write_rate_per_s=5000)

    def client(self) -> Any:
        return make_client(self.exchange, self.key)

    def created_orders(self) -> int:
        return int(self.stats()["created_orders"])

    def stats(self) -> dict[str, Any]:
        r = admin_request(self.info["admin_url"], "GET", "/stats", token=self.info["admin_token"])
        return dict(r.json())

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


class Asks:
    """The best YES ask per market, refreshed every 0.25 s by a thread with its own client."""

    def __init__(self, sim: SimProcess) -> None:
        self.sim = sim
        self.prices: dict[str, Decimal] = {}
        self.stop = threading.Event()
        self._refresh(sim.client())
        threading.Thread(target=self._run, daemon=True, name="ask-refresher").start()

    def _refresh(self, client: Any) -> None:
        for t in DEFAULT_TICKERS:
            ask = client.get_orderbook(t, depth=1).best_yes_ask
            if ask is not None:
                self.prices[t] = ask

    def _run(self) -> None:
        with self.sim.client() as client:
            while not self.stop.wait(0.25):
                with contextlib.suppress(Exception):
                    self._refresh(client)

    def limit(self, ticker: str) -> Decimal:
        return min(self.prices[ticker] + 2 * CENT, Decimal("0.99"))


# -- the in-process pipeline (the wiring of tests/pipeline/conftest.py) --------------------------------


@dataclass
class Pipeline:
    sup: Supervisor
    ledger: Ledger
    trading: TradingFacade
    stop: threading.Event

    def close(self) -> None:
        self.stop.set()
        self.sup.stop()
        self.ledger.close()


def build_pipeline(sim: SimProcess, ledger_path: Path) -> Pipeline:
    base = Settings()
    big = Decimal("1000000")
    limits = base.limits.model_copy(update={
        "max_orders_per_s": 10000.0, "max_open_orders": 100000, "max_open_positions": 100000,
        "max_daily_loss": big, "max_order_loss": big,
        "max_market_exposure": big, "max_event_exposure": big, "max_total_exposure": big,
        "max_balance_drop": Decimal(1), "max_consecutive_losses": 1000, "api_error_min_calls": 10000,
    })
    settings = base.model_copy(update={"exchange": sim.exchange, "limits": limits,
                                       "supervisor": base.supervisor.model_copy(update={"heartbeat_interval_s": 0.2})})
    ledger = Ledger.open(f"sqlite:///{ledger_path}")
    gate = TradingGate(persist=ledger.save_gate)
    sup = build_tree(settings, gate, ledger, key=sim.key)
    sup.start()
    gate.mark_ready()
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(0.05):
            sup.tick()

    threading.Thread(target=loop, daemon=True, name="bench-supervisor-loop").start()
    return Pipeline(sup, ledger, TradingFacade(sup.peers, ledger, lambda: settings), stop)


def bare_loop(sim: SimProcess, asks: Asks) -> float:
    """Sequential IOC creates through one client; returns filled orders per second."""
    with sim.client() as c:
        for i in range(50):  # warm-up
            t = DEFAULT_TICKERS[i % len(DEFAULT_TICKERS)]
            c.create_order(CreateOrderRequest(t, BookSide.BID, Decimal(1), asks.limit(t),
                                              client_order_id=str(uuid.uuid4()),
                                              time_in_force=TimeInForce.IMMEDIATE_OR_CANCEL))
        filled = 0
        t0 = time.perf_counter()
        for i in range(N_BARE):
            t = DEFAULT_TICKERS[i % len(DEFAULT_TICKERS)]
            r = c.create_order(CreateOrderRequest(t, BookSide.BID, Decimal(1), asks.limit(t),
                                                  client_order_id=str(uuid.uuid4()),
                                                  time_in_force=TimeInForce.IMMEDIATE_OR_CANCEL))
            filled += r.fill_count == 1
        dur = time.perf_counter() - t0
    print(f"bare client loop:  {N_BARE} IOC creates, {filled} filled, {filled / dur:7.1f} filled orders/s")
    return filled / dur


def pipeline_run(p: Pipeline, asks: Asks, n: int, threads: int) -> tuple[float, list[str], dict[str, int]]:
    """``n`` IOC orders through the facade from ``threads`` bots; returns (FILLED/s, FILLED ids, statuses)."""
    todo: queue.Queue[int] = queue.Queue()
    for i in range(n):
        todo.put(i)
    filled: list[str] = []
    statuses: dict[str, int] = {}
    lock = threading.Lock()

    def bot() -> None:
        while True:
            try:
                i = todo.get_nowait()
            except queue.Empty:
                return
            t = DEFAULT_TICKERS[i % len(DEFAULT_TICKERS)]
            conf = p.trading.place_and_confirm(t, "yes", "buy", "1", asks.limit(t), "ioc", wait_s=60)
            with lock:
                statuses[conf.status.value] = statuses.get(conf.status.value, 0) + 1
                if conf.status.value == "FILLED":
                    filled.append(conf.client_order_id or "")

    pool = [threading.Thread(target=bot, name=f"bot-{k}") for k in range(threads)]
    t0 = time.perf_counter()
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    return len(filled) / (time.perf_counter() - t0), filled, statuses


def pipeline_pass(sim: SimProcess, p: Pipeline, asks: Asks, bots: int) -> tuple[float, list[str], dict[str, int]]:
    """One measured pass of ``N_PIPE`` orders from ``bots`` threads, printed with the requests that carried them."""
    before = sim.stats()["requests"]
    rate, ids, statuses = pipeline_run(p, asks, N_PIPE, bots)
    after = sim.stats()["requests"]
    sent = {k: after.get(k, 0) - before.get(k, 0) for k in ("create_order", "batch_create")}
    print(f"whole pipeline:    {N_PIPE} IOC orders from {bots} bot threads, {statuses}, {rate:7.1f} confirmed"
          f" orders/s; create requests: {sent['create_order']} single, {sent['batch_create']} batch"
          f" ({N_PIPE / max(1, sum(sent.values())):.2f} orders a request)")
    return rate, ids, statuses


def ack_to_recorded_ms(ledger_path: Path, coids: list[str], sim: Any) -> list[float]:
    """Per order: ``at`` of the final FILLED event − the exchange's ``created_time`` of the order."""
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    from kalshi_guard.ledger.schema import OrderEventRow, OrderRow

    engine = create_engine(f"sqlite:///{ledger_path}")
    wanted = set(coids)
    with sim.client() as c:
        sent = {o.client_order_id: _ts(o.created_time) for o in c.list_orders() if o.client_order_id in wanted}
    final: dict[str, float] = {}
    q = select(OrderRow.client_order_id, OrderEventRow.to_status, OrderEventRow.at).join(
        OrderRow, OrderRow.id == OrderEventRow.order_pk)
    with Session(engine) as s:
        for coid, to_status, at in s.execute(q):
            if coid in wanted and to_status == "FILLED":
                final[coid] = at.timestamp()
    engine.dispose()
    return [(final[c] - sent[c]) * 1000 for c in coids if c in sent and c in final]


def throughput_and_latency(tmp: Path) -> None:
    print("-- 1. confirmed orders/s: whole pipeline vs a bare client loop (same simulator, same run)")
    sim = SimProcess(tmp / "sim1", liquidity_interval=0.5)
    asks = Asks(sim)
    p = None
    try:
        bare = bare_loop(sim, asks)
        p = build_pipeline(sim, tmp / "ledger.sqlite")
        pipeline_run(p, asks, 50, 2)  # warm-up: connections, market cache, stream
        rate, loaded_ids, statuses = pipeline_pass(sim, p, asks, BOT_THREADS)
        light, _, _ = pipeline_pass(sim, p, asks, BOT_THREADS_LIGHT)
        figure(f"confirmed orders/s, pipeline / bare loop, {BOT_THREADS_LIGHT} bots", f"{light / bare:.2f}")
        ratio = rate / bare
        figure(f"confirmed orders/s, pipeline / bare loop, {BOT_THREADS} bots ({rate:.0f} vs {bare:.0f}/s)",
               f"{ratio:.2f}", ">= 0.8", ratio >= RATIO_GOAL)
        print("-- 2. order acknowledgement -> confirmation recorded (exchange created_time -> ledger FILLED)")
        _, seq_ids, statuses = pipeline_run(p, asks, N_LATENCY, 1)
        seq = ack_to_recorded_ms(tmp / "ledger.sqlite", seq_ids, sim)
        loaded = ack_to_recorded_ms(tmp / "ledger.sqlite", loaded_ids, sim)
        p50, p99 = pct(seq, 0.5), pct(seq, 0.99)
        figure(f"ack -> confirmation recorded, one bot, p50 ({len(seq)} orders, {statuses})", f"{p50:.2f} ms",
               "< 5 ms", p50 < 5)
        figure("ack -> confirmation recorded, one bot, p99", f"{p99:.2f} ms", "< 25 ms", p99 < 25)
        sat = pct(loaded, .99)
        figure(f"ack -> confirmation recorded, saturated ({BOT_THREADS} bots), p99", f"{sat:.2f} ms", "< 5 ms",
               sat < 5)
    finally:
        asks.stop.set()
        if p is not None:
            p.close()
        sim.close()


# -- 3. SIGUSR1 under a 200 orders/s bot against the real daemon -------------------------------------------


class DaemonProcess:
    """``kalshi-guard run`` in paper mode against an external simulator."""

    def __init__(self, state: Path, sim: SimProcess) -> None:
        self.state = state
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
        env.update({
            "KALSHI_GUARD_STATE_DIR": str(state), "KALSHI_GUARD_CONTROL__PORT": str(self.port),
            "KALSHI_GUARD_EXCHANGE__BASE_URL": sim.info["rest_url"],
            "KALSHI_GUARD_EXCHANGE__WS_URL": sim.info["ws_url"],
            "KALSHI_GUARD_EXCHANGE__KEY_ID": sim.info["key_id"],
            "KALSHI_GUARD_EXCHANGE__PRIVATE_KEY_FILE": sim.info["key_file"],
            "KALSHI_GUARD_EXCHANGE__READ_RATE_PER_S": "5000", "KALSHI_GUARD_EXCHANGE__WRITE_RATE_PER_S": "5000",
            "KALSHI_GUARD_LIMITS__MAX_ORDERS_PER_S": "5000", "KALSHI_GUARD_LIMITS__MAX_OPEN_ORDERS": "5000",
            "KALSHI_GUARD_LIMITS__API_ERROR_MIN_CALLS": "10000",
        })
        self.log = open(state.parent / "daemon.stderr", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen([EXE, "run"], env=env, stdout=self.log, stderr=self.log)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        pause = threading.Event()
        while not self._ready():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"daemon not READY; see {state.parent / 'daemon.stderr'}")
            pause.wait(0.1)
        self.token = (state / "control-token").read_text().strip()

    def _ready(self) -> bool:
        try:
            r = httpx.get(self.url + "/api/health", timeout=2, trust_env=False)
        except httpx.HTTPError:
            return False
        if r.status_code != 200 or not (self.state / "control-token").exists():
            return False
        token = (self.state / "control-token").read_text().strip()
        s = httpx.get(self.url + "/api/status", headers={"Authorization": f"Bearer {token}"}, timeout=2,
                      trust_env=False)
        return s.status_code == 200 and bool(s.json().get("ready"))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


def _ts(rfc3339: str | None) -> float:
    return datetime.fromisoformat((rfc3339 or "").replace("Z", "+00:00")).timestamp()


def emergency_stop_under_load(tmp: Path) -> None:
    print(f"-- 3. SIGUSR1 with a bot sending {STOP_RATE:.0f} orders/s through the daemon's HTTP API")
    (tmp / "state").mkdir()
    sim = SimProcess(tmp / "sim3", liquidity_interval=0)
    d = None
    try:
        d = DaemonProcess(tmp / "state", sim)
        with sim.client() as c:
            bids = {t: c.get_orderbook(t, depth=1).best_yes_bid for t in DEFAULT_TICKERS}
        answers: dict[str, int] = {}
        sent_at: list[float] = []
        signalled: list[float] = []

        async def post(h: httpx.AsyncClient, body: dict[str, Any]) -> None:
            try:
                r = await h.post(d.url + "/api/orders", json=body)
                key = f"{r.status_code} {r.json().get('reason') or r.json().get('status')}"
            except httpx.HTTPError as exc:
                key = type(exc).__name__
            answers[key] = answers.get(key, 0) + 1

        async def bot() -> None:
            """Open loop: one order every 1/STOP_RATE s whatever the answers; SIGUSR1 after STOP_BEFORE_S."""
            limits = httpx.Limits(max_connections=2000, max_keepalive_connections=2000)
            async with httpx.AsyncClient(headers={"Authorization": f"Bearer {d.token}"}, timeout=60,
                                         trust_env=False, limits=limits) as h:
                loop = asyncio.get_running_loop()
                start = loop.time() + 0.1
                tasks = []
                total = int(STOP_RATE * (STOP_BEFORE_S + STOP_AFTER_S))
                for n in range(total):
                    due = start + n / STOP_RATE
                    if not signalled and due >= start + STOP_BEFORE_S:
                        signalled.append(time.time())
                        os.kill(d.proc.pid, signal.SIGUSR1)
                    await asyncio.sleep(max(0.0, due - loop.time()))
                    t = DEFAULT_TICKERS[n % len(DEFAULT_TICKERS)]
                    body = {"ticker": t, "outcome": "yes", "action": "buy", "count": "1", "price": str(bids[t]),
                            "time_in_force": "ioc"}
                    sent_at.append(time.time())
                    tasks.append(asyncio.create_task(post(h, body)))
                await asyncio.gather(*tasks)

        asyncio.run(bot())
        t_signal = signalled[0]
        sent_total = sum(answers.values())
        achieved = sum(1 for t in sent_at if t < t_signal) / STOP_BEFORE_S
        with sim.client() as c:
            on_exchange = c.list_orders()
        led = Ledger.open(f"sqlite:///{tmp / 'state' / 'ledger.sqlite'}")
        try:
            intents = {o.client_order_id: o.created_at for o in led.orders()}
            gate_refused = sum(1 for o in led.orders() if (o.reason or "").startswith("GATE_"))
        finally:
            led.close()
        t_ms = int(t_signal * 1000) / 1000  # the simulator's clock resolution
        after = [o for o in on_exchange if _ts(o.created_time) >= t_ms]
        sent_after = [o for o in after if intents.get(o.client_order_id, float("inf")) >= t_signal]
        in_flight = [o for o in after if o not in sent_after]
        print(f"bot: {sent_total} requests in {STOP_BEFORE_S + STOP_AFTER_S:.0f} s ({achieved:.0f}/s sent before"
              f" the signal, open loop: the bot never waits for answers); the exchange created"
              f" {sim.created_orders()} orders; {gate_refused} written-ahead orders refused at the send point")
        print(f"answers: {dict(sorted(answers.items()))}")
        figure("SIGUSR1 at 200 orders/s: orders that left after the gate closed", str(len(sent_after)), "0",
               not sent_after)
        most = Settings().orders.coalesce_max  # the daemon runs with the default
        figure("SIGUSR1 at 200 orders/s: in flight at the close (past the gate)", str(len(in_flight)), f"<= {most}",
               len(in_flight) <= most)
    finally:
        if d is not None:
            d.close()
        sim.close()


if __name__ == "__main__":
    logger.remove()  # the figures are the output, not the actors' logs
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)  # as the daemon runs (control/daemon.py)
    with tempfile.TemporaryDirectory() as tmpdir:
        root = Path(tmpdir)
        throughput_and_latency(root)
        emergency_stop_under_load(root)
