"""Run the real daemon as a subprocess: its own state directory, free ports, and an sd_notify socket
that the test reads, so start-up and state changes are awaited as events, not guessed with sleeps."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

EXE = str(Path(sys.executable).with_name("kalshi-guard"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Daemon:
    """One ``kalshi-guard run`` subprocess in paper mode."""

    def __init__(self, state: Path, extra_env: dict[str, str] | None = None) -> None:
        self.state = state
        self.port = free_port()
        self.notify_path = str(state.parent / f"notify-{self.port}.sock")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.notify_path)
        self.messages: queue.Queue[str] = queue.Queue()
        self.env = dict(
            os.environ,
            NOTIFY_SOCKET=self.notify_path,
            KALSHI_GUARD_STATE_DIR=str(state),
            KALSHI_GUARD_CONTROL__PORT=str(self.port),
            KALSHI_GUARD_SIMULATOR__PORT="0",
            **(extra_env or {}),
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = self._sock.recv(65536)
            except OSError:
                return
            self.messages.put(data.decode())

    def start(self, config: Path | None = None, extra_args: list[str] | None = None,
              preexec_fn: Callable[[], Any] | None = None) -> None:
        """``preexec_fn`` runs in the child before exec (e.g. to set its resource limits)."""
        args = [EXE, "run"] if config is None else [EXE, "--config", str(config), "run"]
        args += extra_args or []
        self.log = open(self.state.parent / f"daemon-{self.port}.stderr", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(args, env=self.env, stdout=self.log, stderr=self.log,
                                     preexec_fn=preexec_fn)

    def wait_notify(self, needle: str, timeout: float = 30.0) -> str:
        """Block until a datagram containing ``needle`` arrives (READY=1, STATUS=…, STOPPING=1)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"no sd_notify message containing {needle!r} within {timeout}s; stderr:\n{self.stderr()}")
            try:
                msg = self.messages.get(timeout=left)
            except queue.Empty:
                continue
            if needle in msg:
                return msg

    def wait_ready(self) -> None:
        self.wait_notify("READY=1")

    def stderr(self) -> str:
        return (self.state.parent / f"daemon-{self.port}.stderr").read_text(errors="replace")[-4000:]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def token(self) -> str:
        return (self.state / "control-token").read_text().strip()

    def cli(self, *args: str, expect: int = 0) -> str:
        """Run ``kalshi-guard ARGS`` against this daemon's state and port; its stdout (exit code checked)."""
        res = subprocess.run([EXE, *args], env=self.env, capture_output=True, text=True, timeout=60)
        assert res.returncode == expect, res.stdout + res.stderr
        return res.stdout

    def api(self, method: str, path: str, *, token: str | None = "default", **kw: Any) -> httpx.Response:  # noqa: S107
        headers = dict(kw.pop("headers", None) or {})
        if token == "default":
            token = self.token()
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.request(method, self.url + path, headers=headers, timeout=30, trust_env=False, **kw)

    def status(self) -> dict[str, Any]:
        return self.api("GET", "/api/status").json()

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float = 30) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()

    def close(self) -> None:
        self.stop()
        self._sock.close()


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    made: list[Daemon] = []

    def make(state: Path | None = None, **env: str) -> Daemon:
        d = Daemon(state or tmp_path / "state", env)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


def restart(d: Daemon, daemon_factory: Callable[..., Daemon], sig: int, **env: str) -> Daemon:
    """Stop ``d`` with ``sig``, wait for it to exit, and start a new daemon on its state directory; returned
    once it says READY."""
    d.signal(sig)
    d.wait_exit()
    d.close()
    again = daemon_factory(d.state, **env)
    again.start()
    again.wait_ready()
    return again


# -- crash safety: a standalone simulator that outlives the daemon, and ledger-vs-exchange checks ----------

SIM_LINES = {"REST URL": "rest_url", "WebSocket URL": "ws_url", "Admin URL": "admin_url",
             "API key id": "key_id", "Private key file": "private_key_file", "Admin token": "admin_token"}


class StandaloneSim:
    """A ``kalshi-guard sim`` subprocess (static book) whose printed URLs and key the tests parse."""

    def __init__(self, workdir: Path, seed: int = 11) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.info: dict[str, str] = {}
        self.proc = subprocess.Popen(
            [EXE, "sim", "--port", "0", "--seed", str(seed), "--liquidity-interval", "0",
             "--key-dir", str(workdir / "keys"), "--state-file", str(workdir / "sim-state.jsonl")],
            stdout=subprocess.PIPE, stderr=open(workdir / "sim.stderr", "ab"),  # noqa: SIM115
            env=dict(os.environ), text=True,
        )
        lines: queue.Queue[str | None] = queue.Queue()

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=read, daemon=True, name="sim-stdout").start()
        deadline = time.monotonic() + 30
        while set(SIM_LINES.values()) - set(self.info):
            try:
                line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                self.stop()
                pytest.fail(f"kalshi-guard sim did not print its endpoints; stderr:\n{self._stderr()}")
            label, _, value = line.partition(":")
            if label.strip() in SIM_LINES:
                self.info[SIM_LINES[label.strip()]] = value.strip()

    def _stderr(self) -> str:
        return (self.workdir / "sim.stderr").read_text(errors="replace")[-3000:]

    @property
    def admin_url(self) -> str:
        return self.info["admin_url"].rstrip("/")

    def daemon_env(self) -> dict[str, str]:
        """The environment that points a paper-mode daemon at this simulator."""
        return {"KALSHI_GUARD_EXCHANGE__BASE_URL": self.info["rest_url"],
                "KALSHI_GUARD_EXCHANGE__WS_URL": self.info["ws_url"],
                "KALSHI_GUARD_EXCHANGE__KEY_ID": self.info["key_id"],
                "KALSHI_GUARD_EXCHANGE__PRIVATE_KEY_FILE": self.info["private_key_file"]}

    def admin(self, method: str, path: str, **kw: Any) -> Any:
        """Call a ``/_sim`` admin endpoint (with the printed admin token); returns the JSON body (fails the test
        on an error). ``json=`` is the body."""
        from kalshi_guard.simulator.testing import admin_request

        base = self.admin_url if self.admin_url.endswith("/_sim") else self.admin_url + "/_sim"
        r = admin_request(base, method, path, kw.pop("json", None), token=self.info["admin_token"], **kw)
        assert r.status_code == 200, r.text
        return r.json()

    def created_orders(self) -> int:
        """Orders the simulator accepted since it started (counted on the exchange side)."""
        return int(self.admin("GET", "/stats")["created_orders"])

    def client(self) -> Any:
        """A fresh signed ``KalshiClient`` on the same key as the daemon (close it after use)."""
        from kalshi_guard.config.endpoints import make_client
        from kalshi_guard.config.schema import ExchangeSettings

        ex = ExchangeSettings(base_url=self.info["rest_url"], ws_url=self.info["ws_url"], key_id=self.info["key_id"],
                              private_key_file=Path(self.info["private_key_file"]), read_rate_per_s=1000,
                              write_rate_per_s=1000)
        return make_client(ex)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture
def standalone_sim(tmp_path: Path) -> Iterator[StandaloneSim]:
    """A running ``kalshi-guard sim`` subprocess (stopped after the test)."""
    sim = StandaloneSim(tmp_path / "sim")
    yield sim
    sim.stop()


_EXCHANGE_CLASS = {"FILLED": "executed", "CANCELED": "canceled", "RESTING": "resting", "PARTIAL": "resting"}


def ledger_vs_exchange(ledger_url: str, sim: StandaloneSim) -> list[str]:
    """Every difference between the ledger and the exchange, as readable lines (empty = they agree).

    Per ``client_order_id``: the same existence (a REJECTED ledger order must not exist on the exchange),
    the same status class and the same filled count; fills by ``trade_id`` with the same count and
    price; net positions per ticker; and no ``client_order_id`` more than once on the exchange.
    """
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    from kalshi_guard.ledger.schema import FillRow
    from kalshi_guard.ledger.store import Ledger

    problems: list[str] = []
    led = Ledger.open(ledger_url)
    try:
        orders = {o.client_order_id: o for o in led.orders()}
        positions = {p.ticker: p.net_count for p in led.positions(open_only=False) if p.net_count != 0}
    finally:
        led.close()
    engine = create_engine(ledger_url)
    try:
        with Session(engine) as s:
            fills = {f.trade_id: (f.client_order_id, f.count, f.price) for f in s.scalars(select(FillRow))}
    finally:
        engine.dispose()
    with sim.client() as c:
        ex_orders = c.list_orders()
        ex_fills = c.get_fills()
        ex_positions = {p.ticker: p.position for p in c.get_positions().market_positions if p.position != 0}
    seen: dict[str, int] = {}
    for o in ex_orders:
        seen[o.client_order_id] = seen.get(o.client_order_id, 0) + 1
    problems += [f"{coid}: on the exchange {n} times" for coid, n in seen.items() if n > 1]
    by_coid = {o.client_order_id: o for o in ex_orders}
    for coid, rec in orders.items():
        ex = by_coid.get(coid)
        if rec.status.value == "REJECTED":
            if ex is not None:
                problems.append(f"{coid}: REJECTED in the ledger but {ex.status.value} on the exchange")
            continue
        if ex is None:
            problems.append(f"{coid}: {rec.status.value} in the ledger but not on the exchange")
            continue
        want = _EXCHANGE_CLASS.get(rec.status.value)
        if want != ex.status.value:
            problems.append(f"{coid}: {rec.status.value} in the ledger, {ex.status.value} on the exchange")
        if rec.filled_count != ex.fill_count:
            problems.append(f"{coid}: ledger filled {rec.filled_count}, exchange filled {ex.fill_count}")
    problems += [f"{coid}: on the exchange but not in the ledger" for coid in by_coid if coid not in orders]
    ex_fill_map = {f.trade_id: (f.count, f.price) for f in ex_fills}
    for tid, (count, price) in ex_fill_map.items():
        if tid not in fills:
            problems.append(f"fill {tid}: on the exchange ({count} @ {price}) but not booked")
        elif (fills[tid][1], fills[tid][2]) != (count, price):
            problems.append(f"fill {tid}: booked {fills[tid][1]} @ {fills[tid][2]}, exchange {count} @ {price}")
    problems += [f"fill {tid}: booked but not on the exchange" for tid in fills if tid not in ex_fill_map]
    if positions != ex_positions:
        problems.append(f"positions differ: ledger {positions}, exchange {ex_positions}")
    return problems
