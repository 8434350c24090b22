"""Foundation benchmarks (issue #2): prints each measured figure beside its goal.

1. SIGUSR1 → gate closed at the order placer's send point. The real tree runs, with the order placer
   extended by one bench-only message that makes it loop on its send point's check
   (``gate.allows(OPENING)``, what ``_send_one`` calls before every create) in its own thread, stamping
   ``perf_counter_ns`` (CLOCK_MONOTONIC) before each check. A separate process — as an operator's
   ``kill`` is — stamps the same clock and sends SIGUSR1. Per signal the figure is how long after the
   kill a check could still *begin* and pass: max(0, start of the last passing check − kill). 0 means
   every check that began after the signal refused. 200 signals with the actors idle, 200 with the other
   four actors flooded with messages by two feeder threads (the placer is busy at its send point). Goal:
   p99 < 1 ms. Printed for information: when the placer saw its first refusal (this includes time its
   thread waited for a CPU or the GIL, during which it runs nothing), and when the Python-level handler
   ran on the main thread (the persisted close and the Halt broadcast follow that).
   The daemon makes this hold by delivering SIGUSR1 to the placer's thread (``control/signals.py``):
   the C-level handler that writes the byte the send point probes runs in that thread before its next
   instruction.
2. Crashed actor → replacement handling messages: a ``Crash`` is told to a child; the clock stops when
   an ask to the new instance returns. Crashes are spaced beyond the restart window, so each uses the
   first backoff step (``backoff_initial_s`` 50 ms, +0–50 % jitter). Goal: p99 < 100 ms.
3. Cold start → READY=1: the real ``kalshi-guard run`` in paper mode, READY read from our own
   NOTIFY_SOCKET. Goal: < 1.5 s. The package's bytecode is compiled first, as ``pip install`` does for an
   installed daemon (a shell with ``PYTHONDONTWRITEBYTECODE=1`` and an editable install would otherwise
   recompile every module at every start: about 2 s more on this machine, which no operator's daemon pays).
4. Idle RSS and CPU of that daemon over 10 s. Goals: RSS < 100 MB, CPU < 1 % of a core.
"""

from __future__ import annotations

import os
import random
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from loguru import logger

from kalshi_guard.actors.messages import Crash, Ping
from kalshi_guard.actors.order_placer import OrderPlacer
from kalshi_guard.config.schema import Settings, SupervisorSettings
from kalshi_guard.control.daemon import GIL_SWITCH_INTERVAL_S
from kalshi_guard.control.signals import SignalRouter
from kalshi_guard.control.tree import build_tree, child_specs
from kalshi_guard.core.gate import OrderIntent, TradingGate
from kalshi_guard.supervisor import Supervisor

from figures import figure


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def line(name: str, value: str, goal: str, ok: bool) -> None:
    figure(name, value, goal, None if goal == "-" else ok)  # "-": printed for information


@dataclass(frozen=True)
class SpinAtSendPoint:
    """Bench-only: loop on the send point's gate check until it refuses."""

    started: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    out: dict[str, int] = field(default_factory=dict)


class ProbingPlacer(OrderPlacer):
    """The real order placer (same setup, same thread, same signal disposition) plus one bench message."""

    def handle(self, message: Any) -> Any:
        if not isinstance(message, SpinAtSendPoint):
            return super().handle(message)
        gate, out = self.ctx.gate, message.out
        message.started.set()
        while True:
            began = time.perf_counter_ns()
            if not gate.allows(OrderIntent.OPENING):  # what _send_one's gate.check asks
                out["refused"] = began
                break
            out["passed"] = began
        message.done.set()
        return None


KILLER = """
import os, signal, sys, time
pid = int(sys.argv[1])
for _ in sys.stdin:
    t = time.perf_counter_ns()
    os.kill(pid, signal.SIGUSR1)
    print(t, flush=True)
"""


def run_tree(settings: SupervisorSettings) -> tuple[Supervisor, SignalRouter, threading.Event, threading.Event]:
    router = SignalRouter()
    router.install()
    gate = TradingGate()
    router.attach(gate)
    specs = [replace(s, actor=ProbingPlacer) if s.name == "order_placer" else s for s in child_specs(Settings())]
    sup = build_tree(Settings(supervisor=settings), gate, None, connect=False, signals=router, wake=router.wake,
                     specs=specs)
    sup.start()
    gate.mark_ready()
    return sup, router, threading.Event(), threading.Event()


def main_loop(sup: Supervisor, router: SignalRouter, seen: threading.Event, done: threading.Event) -> None:
    """The daemon's loop, reduced: wait on the wakeup socket, persist-free halt handling, tick."""
    while not done.is_set():
        deadline = sup.next_deadline()
        wait = 0.1 if deadline is None else max(0.0, min(0.1, deadline - sup.clock()))
        select.select([router.wakeup_socket], [], [], wait)
        router.drain()
        if sup.gate.take_pending() is not None:
            seen.set()
        sup.tick()


def bench_sigusr1(busy: bool) -> tuple[list[float], list[float], list[float]]:
    """Per signal (ms after the kill): last passing check began, first refusal seen, Python handler ran."""
    sup, router, seen, done = run_tree(SupervisorSettings())
    stop_flood = threading.Event()
    killer = subprocess.Popen([sys.executable, "-c", KILLER, str(os.getpid())], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert killer.stdin is not None
    assert killer.stdout is not None

    def flood() -> None:
        ping = Ping(0)
        while not stop_flood.is_set():
            for h in sup.peers:
                if h.name != "order_placer":  # the placer is busy at its send point
                    for _ in range(50):
                        h.tell(ping)

    leak: list[float] = []
    refused: list[float] = []
    handler: list[float] = []

    def sender() -> None:
        gate, placer = sup.gate, sup.peers["order_placer"]
        for _ in range(200):
            gate.reset("bench", "bench")
            seen.clear()
            spin = SpinAtSendPoint()
            placer.tell(spin)
            if not spin.started.wait(5):
                raise RuntimeError("placer did not start spinning")
            killer.stdin.write("kill\n")
            killer.stdin.flush()
            t0 = int(killer.stdout.readline())
            if not (spin.done.wait(5) and seen.wait(5)):
                raise RuntimeError("signal not seen")
            leak.append(max(0, spin.out.get("passed", 0) - t0) / 1e6)
            refused.append((spin.out["refused"] - t0) / 1e6)
            handler.append((router.last_usr1_ns - t0) / 1e6)
        done.set()

    floods = [threading.Thread(target=flood, daemon=True) for _ in range(2 if busy else 0)]
    for t in floods:
        t.start()
    th = threading.Thread(target=sender)
    th.start()
    main_loop(sup, router, seen, done)
    th.join()
    stop_flood.set()
    killer.stdin.close()
    killer.wait(10)
    sup.stop()
    router.uninstall()
    router.close()
    return leak, refused, handler


def bench_restart() -> list[float]:
    settings = SupervisorSettings(max_restarts=1000, window_s=0.5)
    sup, router, seen, done = run_tree(settings)
    out: list[float] = []
    names = [h.name for h in sup.peers]

    def crasher() -> None:
        pause = threading.Event()
        for i in range(40):
            handle = sup.peers[names[i % len(names)]]
            epoch = handle.epoch
            t0 = time.perf_counter()
            handle.tell(Crash("bench"))
            while True:
                if handle.epoch != epoch and handle.ref is not None:
                    try:
                        handle.ask(Ping(0), timeout=1)
                        break
                    except Exception:  # noqa: S110 - the old or new instance is not there yet
                        pass
                pause.wait(0.0005)
            out.append((time.perf_counter() - t0) * 1000)
            pause.wait(settings.window_s + 0.1)  # beyond the window: every crash is a first crash
        done.set()

    th = threading.Thread(target=crasher)
    th.start()
    main_loop(sup, router, seen, done)
    th.join()
    sup.stop()
    router.uninstall()
    router.close()
    return out


def bench_daemon() -> tuple[list[float], float, float]:
    """Cold starts to READY=1, then idle RSS (MB) and CPU (% of a core) of the last one."""
    readies: list[float] = []
    rss = cpu = float("nan")
    with tempfile.TemporaryDirectory() as tmp:
        sock_path = os.path.join(tmp, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(sock_path)
        exe = str(Path(sys.executable).with_name("kalshi-guard"))
        package = Path(__file__).resolve().parent.parent
        subprocess.run([sys.executable, "-m", "compileall", "-q", "-x", r"/\.|/tests/|/bench/", str(package)],
                       check=True)
        for i in range(5):
            base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
            env = dict(base, NOTIFY_SOCKET=sock_path, KALSHI_GUARD_STATE_DIR=os.path.join(tmp, f"s{i}"),
                       KALSHI_GUARD_CONTROL__PORT="0", KALSHI_GUARD_SIMULATOR__PORT="0")
            t0 = time.perf_counter()
            err_path = os.path.join(tmp, f"stderr{i}.log")
            with open(err_path, "wb") as err:
                proc = subprocess.Popen([exe, "run"], env=env, stdout=subprocess.DEVNULL, stderr=err)
            ready = False
            deadline = t0 + 30
            while not ready and time.perf_counter() < deadline:
                r, _, _ = select.select([sock], [], [], 1)
                if r and b"READY=1" in sock.recv(4096):
                    ready = True
            readies.append(time.perf_counter() - t0 if ready else float("inf"))
            if not ready:  # say why instead of a bare "inf"
                tail = Path(err_path).read_text(errors="replace").strip().splitlines()[-3:]
                print(f"  cold start {i}: no READY=1 within 30 s (exit {proc.poll()}): " + " | ".join(tail), flush=True)
            if i == 4 and ready:
                threading.Event().wait(3)  # settle, then measure idle
                tck = os.sysconf("SC_CLK_TCK")

                def cpu_ticks(pid: int = proc.pid) -> int:
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    return int(fields[11]) + int(fields[12])

                c0, w0 = cpu_ticks(), time.perf_counter()
                threading.Event().wait(10)
                c1, w1 = cpu_ticks(), time.perf_counter()
                cpu = (c1 - c0) / tck / (w1 - w0) * 100
                for row in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    if row.startswith("VmRSS:"):
                        rss = int(row.split()[1]) / 1024
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        sock.close()
    return readies, rss, cpu


def main() -> None:
    logger.remove()
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)  # as the daemon does
    random.seed(1)
    print("kalshi-guard foundation benchmarks")
    print(f"  python {sys.version.split()[0]}, {os.cpu_count()} cores, GIL switch interval "
          f"{sys.getswitchinterval() * 1000:.1f} ms")
    for busy in (False, True):
        leak, refused, handler = bench_sigusr1(busy)
        label = "busy" if busy else "idle"
        line(f"SIGUSR1 -> send point closed, actors {label}, p50 (n={len(leak)})", f"{pct(leak, 50):.3f} ms", "-",
             True)
        line(f"SIGUSR1 -> send point closed, actors {label}, p99", f"{pct(leak, 99):.3f} ms", "< 1 ms",
             pct(leak, 99) < 1)
        line(f"  (info) ... worst of {len(leak)}", f"{max(leak):.3f} ms", "-", True)
        line(f"  (info) placer saw its first refusal, {label}, p50", f"{pct(refused, 50):.3f} ms", "-", True)
        line(f"  (info) placer saw its first refusal, {label}, p99", f"{pct(refused, 99):.3f} ms", "-", True)
        line(f"  (info) Python handler ran (main thread), {label}, p99", f"{pct(handler, 99):.3f} ms", "-", True)
    rest = bench_restart()
    line(f"crash -> replacement answers, p50 (n={len(rest)})", f"{pct(rest, 50):.1f} ms", "-", True)
    line("crash -> replacement answers, p99", f"{pct(rest, 99):.1f} ms", "< 100 ms", pct(rest, 99) < 100)
    readies, rss, cpu = bench_daemon()
    line("cold start -> READY=1, median of 5", f"{statistics.median(readies):.3f} s", "< 1.5 s",
         statistics.median(readies) < 1.5)
    line("cold start -> READY=1, worst of 5", f"{max(readies):.3f} s", "< 1.5 s", max(readies) < 1.5)
    line("idle RSS", f"{rss:.1f} MB", "< 100 MB", rss < 100)
    line("idle CPU over 10 s", f"{cpu:.2f} %", "< 1 % core", cpu < 1)


if __name__ == "__main__":
    main()
