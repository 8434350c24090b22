"""The control API under held-open connections (issue #8, file descriptors): figures beside their goals.

- how long after its deadline a half-sent request is closed (goal: within 0.5 s of ``request_timeout_s``);
- /api/health latency, p50 and worst of 20, while 1,100 half-sent requests are held (goal: p50 < 50 ms);
- descriptors the server holds for those 1,100 connections (goal: at most max_connections + reserve).

The server runs in this process; the bench raises its own soft open-file limit to hold the client sockets.
"""

from __future__ import annotations

import os
import resource
import socket
import statistics
import time
from typing import Any

import httpx

from kalshi_guard.control.server import RESERVED_PATHS, ControlServer
from kalshi_guard.core.gate import TradingGate
from kalshi_guard.web.guarded_http import ConnectionLimits

from figures import figure, quick

HALF_OPEN = 1100
TIMEOUT_S = 1.0


class Port:
    def __init__(self) -> None:
        self.gate = TradingGate()

    def status(self) -> dict[str, Any]:
        return {"gate": self.gate.snapshot().state.value}

    def emergency_stop(self, source: str, reason: str) -> dict[str, Any]:
        return {"gate": self.gate.close(reason, source).state.value}

    def reset(self, source: str, reason: str) -> dict[str, Any]:
        return {"gate": self.gate.reset(reason, source).state.value}


def main() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    limits = ConnectionLimits(max_connections=256, reserve=16, request_timeout_s=TIMEOUT_S,
                              reserved_paths=RESERVED_PATHS)
    srv = ControlServer(Port(), port_number=0, token="b" * 32, limits=limits)
    srv.start()
    try:
        assert srv.bound_port is not None
        lags = []
        for _ in range(3 if quick() else 10):
            with socket.create_connection(("127.0.0.1", srv.bound_port), timeout=30) as sock:
                sock.sendall(b"GET /api/health HTTP/1.1\r\n")
                start = time.monotonic()
                while sock.recv(1024):
                    pass
                lags.append(time.monotonic() - start - TIMEOUT_S)
        worst = max(lags)
        figure(f"half-sent request closed after its {TIMEOUT_S:g} s deadline (worst lag)", f"{worst * 1000:.0f} ms",
               "< 500 ms", worst < 0.5)

        before = len(os.listdir("/proc/self/fd"))
        limits_long = ConnectionLimits(max_connections=256, reserve=16, request_timeout_s=120,
                                       reserved_paths=RESERVED_PATHS)
        srv2 = ControlServer(Port(), port_number=0, token="b" * 32, limits=limits_long)
        srv2.start()
        held = []
        try:
            assert srv2.bound_port is not None
            for _ in range(HALF_OPEN):
                sock = socket.create_connection(("127.0.0.1", srv2.bound_port), timeout=30)
                sock.sendall(b"GET /api/health HTTP/1.1\r\n")
                held.append(sock)
            samples = []
            with httpx.Client(base_url=srv2.url, timeout=30, trust_env=False) as client:
                for _ in range(20):
                    start = time.monotonic()
                    assert client.get("/api/health", headers={"Connection": "close"}).status_code == 200
                    samples.append(time.monotonic() - start)
            p50 = statistics.median(samples)
            figure(f"/api/health p50 with {HALF_OPEN} half-sent requests held", f"{p50 * 1000:.1f} ms", "< 50 ms",
                   p50 < 0.05)
            figure(f"/api/health worst of 20 with {HALF_OPEN} held", f"{max(samples) * 1000:.1f} ms")
            assert srv2.guard is not None
            server_side = len(srv2.guard.open) + srv2.guard.reserve_open
            figure(f"connections the server holds of {HALF_OPEN} half-sent", str(server_side), "<= 272",
                   server_side <= 272)
            figure("process descriptors added (client and server side)",
                   str(len(os.listdir("/proc/self/fd")) - before))
        finally:
            for sock in held:
                sock.close()
            srv2.stop()
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
