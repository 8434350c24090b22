"""Processes for the long-running benchmarks (chaos, soak): a standalone ``kalshi-guard sim`` that keeps its
state and port across its own restarts, a ``kalshi-guard run`` daemon pointed at it, and the audit that
compares the daemon's ledger with the exchange, order for order, fill for fill and position for position.

Everything talks over loopback. Failures raise ``HarnessError`` with the process's last stderr lines.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

EXE = str(Path(sys.executable).with_name("kalshi-guard"))
SIM_LINES = {"REST URL": "rest_url", "WebSocket URL": "ws_url", "Admin URL": "admin_url", "API key id": "key_id",
             "Private key file": "private_key_file", "Admin token": "admin_token"}
EXCHANGE_CLASS = {"FILLED": "executed", "CANCELED": "canceled", "RESTING": "resting", "PARTIAL": "resting"}


class HarnessError(RuntimeError):
    """A process did not start, answer or stop as expected."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def end_process(proc: subprocess.Popen[Any] | None, sig: int, grace_s: float) -> None:
    """Send ``sig`` to a running ``proc`` and wait ``grace_s``; SIGKILL it when it does not end in time."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)


class Sim:
    """A standalone simulator with a state file and a fixed port, so a restart (after ``kill -9``) serves the
    same account at the same URLs."""

    def __init__(self, workdir: Path, seed: int) -> None:
        self.workdir, self.seed, self.port = workdir, seed, free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        self.info: dict[str, str] = {}
        self.proc: subprocess.Popen[str] | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [EXE, "sim", "--port", str(self.port), "--seed", str(self.seed), "--liquidity-interval", "0.5",
             "--key-dir", str(self.workdir / "keys"), "--state-file", str(self.workdir / "state.jsonl")],
            stdout=subprocess.PIPE, stderr=open(self.workdir / "sim.stderr", "ab"), text=True,  # noqa: SIM115
        )
        lines: queue.Queue[str | None] = queue.Queue()

        def read() -> None:
            if self.proc is None or self.proc.stdout is None:
                return
            for line in self.proc.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=read, daemon=True).start()
        deadline, info = time.monotonic() + 30, {}
        while set(SIM_LINES.values()) - set(info):
            try:
                line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                raise HarnessError(f"kalshi-guard sim did not start: {self._tail()}")
            label, _, value = line.partition(":")
            if label.strip() in SIM_LINES:
                info[SIM_LINES[label.strip()]] = value.strip()
        self.info = info

    def _tail(self) -> str:
        return (self.workdir / "sim.stderr").read_text(errors="replace")[-2000:]

    def kill(self) -> None:
        end_process(self.proc, signal.SIGKILL, 30)

    def stop(self) -> None:
        end_process(self.proc, signal.SIGTERM, 15)

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        from kalshi_guard.simulator.testing import admin_request

        base = self.info["admin_url"].rstrip("/")
        base = base if base.endswith("/_sim") else base + "/_sim"
        r = admin_request(base, method, path, body, token=self.info["admin_token"])
        if r.status_code != 200:
            raise HarnessError(f"/_sim{path}: {r.status_code} {r.text[:200]}")
        return r.json()

    def daemon_env(self) -> dict[str, str]:
        return {"KALSHI_GUARD_EXCHANGE__BASE_URL": self.info["rest_url"],
                "KALSHI_GUARD_EXCHANGE__WS_URL": self.info["ws_url"],
                "KALSHI_GUARD_EXCHANGE__KEY_ID": self.info["key_id"],
                "KALSHI_GUARD_EXCHANGE__PRIVATE_KEY_FILE": self.info["private_key_file"]}

    def client(self) -> Any:
        from kalshi_guard.config.endpoints import make_client
        from kalshi_guard.config.schema import ExchangeSettings

        ex = ExchangeSettings(base_url=self.info["rest_url"], ws_url=self.info["ws_url"], key_id=self.info["key_id"],
                              private_key_file=Path(self.info["private_key_file"]), read_rate_per_s=1000,
                              write_rate_per_s=1000)
        return make_client(ex)


class Daemon:
    """``kalshi-guard run`` in paper mode against a :class:`Sim`, with its own state directory and port."""

    def __init__(self, state: Path, sim: Sim, **env: str) -> None:
        self.state, self.sim, self.port = state, sim, free_port()
        self.extra = env
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ledger_url(self) -> str:
        return f"sqlite:///{self.state / 'ledger.sqlite'}"

    def start(self) -> None:
        env = dict(os.environ, KALSHI_GUARD_STATE_DIR=str(self.state), KALSHI_GUARD_CONTROL__PORT=str(self.port),
                   **self.sim.daemon_env(), **self.extra)
        env.pop("NOTIFY_SOCKET", None)
        self.state.mkdir(parents=True, exist_ok=True)
        log = open(self.state / "daemon.stderr", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen([EXE, "run"], env=env, stdout=log, stderr=log)

    def token(self) -> str:
        return (self.state / "control-token").read_text().strip()

    def api(self, method: str, path: str, timeout: float = 30, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token()}"}
        return httpx.request(method, self.url + path, headers=headers, timeout=timeout, trust_env=False, **kw)

    def wait_ready(self, timeout: float = 90) -> dict[str, Any]:
        """Until ``/api/status`` says ready (the start-up reconciliation and resolution passed)."""
        deadline, pause = time.monotonic() + timeout, threading.Event()
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise HarnessError(f"the daemon exited {self.proc.returncode}: {self.tail()}")
            try:
                status = self.api("GET", "/api/status", timeout=5).json()
                if status.get("ready"):
                    return dict(status)
            except (httpx.HTTPError, OSError, ValueError):
                pass
            pause.wait(0.1)
        raise HarnessError(f"the daemon did not get ready within {timeout}s: {self.tail()}")

    def wait_settled(self, timeout: float = 60) -> str | None:
        """Until the last kill-switch stop has run every step (its answer does not wait for the cancel and the
        flatten) and the ledger holds no order short of a final state, so an audit compares still books.
        Returns None, or what was still moving at ``timeout``."""
        from kalshi_guard.ledger.store import Ledger

        deadline, pause, moving = time.monotonic() + timeout, threading.Event(), "nothing read"
        led = Ledger.open(self.ledger_url)
        try:
            while time.monotonic() < deadline:
                try:
                    stop = self.api("GET", "/api/status", timeout=5).json().get("last_stop")
                    open_orders = [o.client_order_id for o in led.non_final_orders()]
                except (httpx.HTTPError, OSError, ValueError) as exc:
                    moving = f"status unreadable: {exc!r}"
                else:
                    moving = ("the stop's steps" if stop is not None and not stop.get("done") else
                              f"{len(open_orders)} orders not final: {open_orders[:3]}" if open_orders else "")
                    if not moving:
                        return None
                pause.wait(0.05)
            return moving
        finally:
            led.close()

    def tail(self) -> str:
        path = self.state / "daemon.stderr"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def kill(self) -> None:
        end_process(self.proc, signal.SIGKILL, 30)

    def stop(self) -> None:
        end_process(self.proc, signal.SIGTERM, 30)


def audit(ledger_url: str, sim: Sim) -> dict[str, Any]:
    """Compare the ledger with the exchange. Returns counts and a list of ``problems`` (empty = they agree):
    per client_order_id the same existence, status class and filled count; fills by trade_id with the same
    count and price; net positions per ticker; no client_order_id twice on the exchange; no order UNKNOWN."""
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    from kalshi_guard.ledger.schema import AlertRow, FillRow
    from kalshi_guard.ledger.store import Ledger

    led = Ledger.open(ledger_url)
    try:
        orders = {o.client_order_id: o for o in led.orders()}
        positions = {p.ticker: p.net_count for p in led.positions(open_only=False) if p.net_count != 0}
    finally:
        led.close()
    engine = create_engine(ledger_url)
    try:
        with Session(engine) as s:
            fills = {f.trade_id: (f.count, f.price) for f in s.scalars(select(FillRow))}
            alert_ids = sorted(s.scalars(select(AlertRow.id)))
    finally:
        engine.dispose()
    with sim.client() as c:
        ex_orders, ex_fills = c.list_orders(limit=1000), c.get_fills(limit=1000)
        ex_positions = {p.ticker: p.position for p in c.get_positions().market_positions if p.position != 0}
    problems: list[str] = []
    seen: dict[str, int] = {}
    for o in ex_orders:
        seen[o.client_order_id] = seen.get(o.client_order_id, 0) + 1
    problems += [f"{coid}: on the exchange {n} times" for coid, n in seen.items() if n > 1]
    by_coid = {o.client_order_id: o for o in ex_orders}
    unknown = 0
    for coid, rec in orders.items():
        ex = by_coid.get(coid)
        if rec.status.value == "UNKNOWN":
            unknown += 1
            problems.append(f"{coid}: still UNKNOWN after start-up resolution")
            continue
        if rec.status.value in ("REJECTED", "INTENT"):
            if ex is not None:
                problems.append(f"{coid}: {rec.status.value} in the ledger but {ex.status.value} on the exchange")
            continue
        if ex is None:
            problems.append(f"{coid}: {rec.status.value} in the ledger but not on the exchange")
            continue
        if EXCHANGE_CLASS.get(rec.status.value) != ex.status.value:
            problems.append(f"{coid}: {rec.status.value} in the ledger, {ex.status.value} on the exchange")
        if rec.filled_count != ex.fill_count:
            problems.append(f"{coid}: ledger filled {rec.filled_count}, exchange {ex.fill_count}")
    problems += [f"{coid}: on the exchange but not in the ledger" for coid in by_coid if coid not in orders]
    ex_fill_map = {f.trade_id: (f.count, f.price) for f in ex_fills}
    problems += [f"fill {t}: on the exchange, not booked" for t in ex_fill_map if t not in fills]
    problems += [f"fill {t}: booked {fills[t]}, exchange {v}" for t, v in ex_fill_map.items()
                 if t in fills and fills[t] != v]
    problems += [f"fill {t}: booked but not on the exchange" for t in fills if t not in ex_fill_map]
    if positions != ex_positions:
        problems.append(f"positions differ: ledger {positions}, exchange {ex_positions}")
    return {"orders": len(orders), "exchange_orders": len(ex_orders), "fills": len(fills), "unknown": unknown,
            "alert_ids": alert_ids, "problems": problems}
