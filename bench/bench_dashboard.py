"""Dashboard benchmarks (issue #13): prints each measured figure beside its goal.

The real ``kalshi-guard run`` in paper mode (embedded simulator, static book), and the real page in
Debian's Chromium driven by Playwright (headless), signed in and left open.

1. State change → on screen: the clock starts just before the API request that changes the state and
   stops when the page's text shows it (``wait_for_function`` polled on every animation frame, so the
   figure includes Playwright's own round trip: an upper bound; the bench's page bypasses the CSP so that
   Playwright may evaluate its probe there). 20 emergency stops (gate → HALTED; the
   reset that follows each is not timed, it reconciles first) and 20 filled orders (the position's
   contracts on the page). Goal: p99 < 1 s.
2. Idle RSS and CPU of the daemon over 10 s with the page open and its event stream connected.
   Goals: RSS < 100 MB, CPU < 1 % of a core. Printed for information: the same without the page.

Run: ``.venv/bin/python bench/bench_dashboard.py`` (needs ``/usr/bin/chromium`` and ``playwright``).
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from figures import figure, quick

CHROMIUM = "/usr/bin/chromium"
EXE = str(Path(sys.executable).with_name("kalshi-guard"))
TICKER = "KXSIMCPI-26DEC-T30"
ROUNDS = 5 if quick() else 20
IDLE_S = 3.0 if quick() else 10.0
# true once the positions table shows ``want`` contracts in ``ticker`` (a new fill changes it every time)
CONTRACTS_SHOWN = """([ticker, want]) => [...document.querySelectorAll('#positions tbody tr')].some(
  (tr) => tr.cells[0].textContent === ticker && tr.cells[2].textContent === want)"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(notify: socket.socket, timeout: float = 30.0) -> None:
    """Wait for READY=1, then keep reading the socket in a thread (a full socket would block the daemon)."""
    ready = threading.Event()

    def read() -> None:
        while True:
            try:
                if b"READY=1" in notify.recv(65536):
                    ready.set()
            except OSError:
                return

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(timeout):
        raise RuntimeError("the daemon did not become ready")


def idle(pid: int, seconds: float) -> tuple[float, float]:
    """(RSS in MB at the end, CPU % of one core over ``seconds``)."""
    tick = os.sysconf("SC_CLK_TCK")

    def ticks() -> int:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    c0, w0 = ticks(), time.perf_counter()
    threading.Event().wait(seconds)
    cpu = (ticks() - c0) / tick / (time.perf_counter() - w0) * 100
    rss = 0.0
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            rss = int(row.split()[1]) / 1024
    return rss, cpu


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        port = free_port()
        notify_path = str(root / "notify.sock")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        env = dict(os.environ, NOTIFY_SOCKET=notify_path, KALSHI_GUARD_STATE_DIR=str(root / "state"),
                   KALSHI_GUARD_CONTROL__PORT=str(port), KALSHI_GUARD_SIMULATOR__PORT="0",
                   KALSHI_GUARD_SIMULATOR__LIQUIDITY_INTERVAL_S="0", KALSHI_GUARD_LOGGING__LEVEL="WARNING")
        with open(root / "daemon.stderr", "wb") as log:
            proc = subprocess.Popen([EXE, "run"], env=env, stdout=log, stderr=log)
        try:
            wait_ready(notify)
            url = f"http://127.0.0.1:{port}"
            token = (root / "state" / "control-token").read_text().strip()
            api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60,
                               trust_env=False)
            base = api.get("/api/status").json()["exchange"]["base_url"]
            ask = httpx.get(f"{base}/markets/{TICKER}", trust_env=False).json()["market"]["yes_ask_dollars"]
            rss_bare, cpu_bare = idle(proc.pid, IDLE_S)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1280, "height": 800}, bypass_csp=True)
                page.goto(url + "/")
                page.get_by_label("Control token").fill(token)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_function("document.getElementById('gate-state').textContent === 'ACTIVE'")
                stops: list[float] = []
                for i in range(ROUNDS):
                    t0 = time.perf_counter()
                    api.post("/api/bot/emergency-stop", json={"reason": f"bench {i}"}).raise_for_status()
                    page.wait_for_function("document.getElementById('gate-state').textContent === 'HALTED'",
                                           polling="raf", timeout=10_000)
                    stops.append(time.perf_counter() - t0)
                    api.post("/api/bot/reset", json={"reason": f"bench {i} done"}).raise_for_status()
                    page.wait_for_function("document.getElementById('gate-state').textContent === 'ACTIVE'",
                                           timeout=30_000)
                orders: list[float] = []
                for i in range(ROUNDS):
                    coid = f"bench-dash-{i}"
                    t0 = time.perf_counter()
                    r = api.post("/api/orders", json={"ticker": TICKER, "outcome": "yes", "action": "buy",
                                                      "count": "1", "price": ask, "time_in_force": "ioc",
                                                      "client_order_id": coid})
                    r.raise_for_status()
                    page.wait_for_function(CONTRACTS_SHOWN, arg=[TICKER, str(i + 1)], polling="raf",
                                           timeout=10_000)
                    orders.append(time.perf_counter() - t0)
                rss_page, cpu_page = idle(proc.pid, IDLE_S)
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            notify.close()
    print(f"dashboard ({ROUNDS} rounds each; the daemon in paper mode, Chromium headless)")
    both = stops + orders
    figure("emergency stop → HALTED on screen p50", f"{statistics.median(stops) * 1000:.0f} ms")
    figure("emergency stop → HALTED on screen p99", f"{pct(stops, 99) * 1000:.0f} ms", "< 1000 ms",
           pct(stops, 99) < 1)
    figure("order placed (request → confirmed) → position on screen p99", f"{pct(orders, 99) * 1000:.0f} ms",
           "< 1000 ms", pct(orders, 99) < 1)
    figure("dashboard: any state change → on screen p99", f"{pct(both, 99) * 1000:.0f} ms", "< 1000 ms",
           pct(both, 99) < 1)
    figure("idle RSS with the dashboard open", f"{rss_page:.1f} MB", "< 100 MB", rss_page < 100)
    figure("idle CPU with the dashboard open", f"{cpu_page:.2f} %", "< 1 %", cpu_page < 1)
    figure("idle RSS, no page open", f"{rss_bare:.1f} MB")
    figure("idle CPU, no page open", f"{cpu_bare:.2f} %")

if __name__ == "__main__":
    main()
