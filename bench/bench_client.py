"""Benchmark of the Kalshi client: creates/cancels per second through the real client and the simulator.

Run: ``.venv/bin/python bench/bench_client.py`` (finishes in well under a minute).

1. Throughput: the real ``KalshiClient`` (RSA-PSS signing included, one keep-alive connection, no client
   buckets) against the real simulator on 127.0.0.1 creates N resting orders one after another, then
   cancels them; prints creates/s and cancels/s with p50/p99 latency; then two clients in parallel (the
   daemon has one client per actor). Goal: ≥ 500 creates/s. On 2 cores the client, its signatures and
   the simulator share the CPU, so the sequential figure is bounded by their sum per request. Measured
   twice: against ``kalshi-guard sim`` in its own process (how crash tests and operators run it) and
   against the simulator embedded in the benchmark's process (sharing one GIL with the client).
2. Client's own cost per request apart from the RSA signature: the same ``create_order`` code path with
   the RSA signer replaced by a constant-header signer and the socket replaced by an ``httpx.MockTransport``
   returning a canned 201 body. What remains is exactly the client's work — request encoding, httpx's
   request/response machinery and JSON + Decimal parsing of the answer. Goal: p50 < 0.3 ms. The RSA-PSS
   signature cost (2048-bit key) is measured alone and printed beside it.
"""

from __future__ import annotations

import contextlib
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path

import httpx
from loguru import logger

from kalshi_guard.exchange.keys import generate_private_key, load_private_key
from kalshi_guard.exchange.rest import KalshiClient
from kalshi_guard.exchange.signing import Signer, sign
from kalshi_guard.exchange.wire import BookSide, CreateOrderRequest
from kalshi_guard.simulator.markets import DEFAULT_TICKERS
from kalshi_guard.simulator.testing import running_simulator

from figures import figure

N = 2000


def pct(samples: list[float], p: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * p))]


def request(ticker: str) -> CreateOrderRequest:
    return CreateOrderRequest(ticker, BookSide.BID, Decimal("1"), Decimal("0.02"), client_order_id=str(uuid.uuid4()))


def concurrent(sim, threads: int) -> None:
    """Creates through ``threads`` clients in parallel (one client per thread, as one per actor)."""
    per = N // threads
    lat: list[float] = []
    lock = threading.Lock()
    ticker = DEFAULT_TICKERS[1]

    def work() -> None:
        with KalshiClient(sim.rest_url, Signer(sim.key_id, sim.private_key)) as c:
            mine = []
            for _ in range(per):
                s = time.perf_counter()
                c.create_order(request(ticker))
                mine.append(time.perf_counter() - s)
        with lock:
            lat.extend(mine)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    t0 = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    dur = time.perf_counter() - t0
    rate = per * threads / dur
    figure(f"client creates/s, {threads} clients in parallel (p99 {pct(lat, .99) * 1e3:.2f} ms)", f"{rate:.0f}/s",
           ">= 500/s", rate >= 500)


class Standalone:
    """``kalshi-guard sim`` in its own process, as crash tests and operators run it (no shared GIL)."""

    def __init__(self, tmp: str) -> None:
        exe = str(Path(sys.executable).with_name("kalshi-guard"))
        self.proc = subprocess.Popen([exe, "sim", "--port", "0", "--key-dir", tmp, "--seed", "7"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        info = {}
        assert self.proc.stdout is not None
        while "Private key file" not in info:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("simulator did not start")
            if ":" in line:
                k, v = line.split(":", 1)
                info[k.strip()] = v.strip()
        self.rest_url = info["REST URL"]
        self.key_id = info["API key id"]
        self.private_key = load_private_key(Path(info["Private key file"]))

    def close(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=20)


@contextlib.contextmanager
def standalone_simulator():
    with tempfile.TemporaryDirectory() as tmp:
        sim = Standalone(tmp)
        try:
            yield sim
        finally:
            sim.close()


def throughput(where: str) -> None:
    print(f"-- simulator {where}")
    factory = standalone_simulator if where == "standalone (own process)" else lambda: running_simulator(seed=7)
    with factory() as sim:
        client = KalshiClient(sim.rest_url, Signer(sim.key_id, sim.private_key))
        ticker = DEFAULT_TICKERS[0]
        for _ in range(50):  # warm-up
            client.cancel_order(client.create_order(request(ticker)).order_id)
        created, lat_c = [], []
        t0 = time.perf_counter()
        for _ in range(N):
            s = time.perf_counter()
            created.append(client.create_order(request(ticker)).order_id)
            lat_c.append(time.perf_counter() - s)
        dur_c = time.perf_counter() - t0
        lat_x = []
        t0 = time.perf_counter()
        for oid in created:
            s = time.perf_counter()
            client.cancel_order(oid, market_ticker=ticker)
            lat_x.append(time.perf_counter() - s)
        dur_x = time.perf_counter() - t0
        client.close()
    figure(f"client creates/s, sequential (p99 {pct(lat_c, .99) * 1e3:.2f} ms)", f"{N / dur_c:.0f}/s", ">= 500/s",
           N / dur_c >= 500)
    figure(f"client cancels/s, sequential (p99 {pct(lat_x, .99) * 1e3:.2f} ms)", f"{N / dur_x:.0f}/s")
    with factory() as sim:
        concurrent(sim, 2)


class ConstSigner(Signer):
    def headers(self, method: str, path: str) -> dict[str, str]:
        return {"KALSHI-ACCESS-KEY": "k", "KALSHI-ACCESS-TIMESTAMP": "1", "KALSHI-ACCESS-SIGNATURE": "x"}


def own_cost() -> None:
    body = (b'{"order_id":"6b0f3c1e-8f7a-4b61-9d3e-2f1c0a9b8e7d","client_order_id":"c","fill_count":"0.00",'
            b'"remaining_count":"1.00","ts_ms":1795478928183}')
    transport = httpx.MockTransport(lambda req: httpx.Response(201, content=body))
    key = generate_private_key()
    client = KalshiClient("http://127.0.0.1:1/trade-api/v2", ConstSigner("k", key), transport=transport)
    req = request("KX-BENCH")
    for _ in range(500):
        client.create_order(req)
    lat = []
    for _ in range(5000):
        s = time.perf_counter()
        client.create_order(req)
        lat.append(time.perf_counter() - s)
    sig = []
    for _ in range(1000):
        s = time.perf_counter()
        sign(key, "1795478928183", "POST", "/trade-api/v2/portfolio/events/orders")
        sig.append(time.perf_counter() - s)
    p50 = statistics.median(lat) * 1e3
    figure("client own cost (encode + httpx + parse, no RSA, no socket), p50", f"{p50:.3f} ms", "< 0.3 ms",
           p50 < 0.3)
    figure("RSA-PSS 2048-bit signature, p50", f"{statistics.median(sig) * 1e3:.3f} ms")


if __name__ == "__main__":
    logger.remove()  # the figures are the output, not the simulator's or client's logs
    throughput("standalone (own process)")
    throughput("embedded (same process, shares the GIL with the client)")
    own_cost()
