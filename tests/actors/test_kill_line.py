"""The kill switch's line to the exchange: a cancel-all still goes out when the process has no file
descriptor left (the real simulator over loopback; descriptors really used up)."""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import time
from collections.abc import Iterator

import pytest

from kalshi_guard.actors.kill_line import KEEPALIVE_EXPIRY_S, KillLine
from kalshi_guard.exchange.rest import KalshiClient
from kalshi_guard.exchange.signing import Signer
from kalshi_guard.simulator.server import SimulatorServer
from kalshi_guard.simulator.testing import ORDERS, SignedClient, order_body, running_simulator


@contextlib.contextmanager
def no_descriptor_left() -> Iterator[None]:
    """Take every free file descriptor of this process (under a soft limit a little above what is open),
    then give them back and restore the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 64, hard))
    hoard: list[int] = []
    try:
        with contextlib.suppress(OSError):
            while True:
                hoard.append(os.open(os.devnull, os.O_RDONLY))
        yield
    finally:
        for fd in hoard:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    """The simulator in this process; uvicorn's logging set-up it brings is undone afterwards (later tests
    in this process check where uvicorn's records go)."""
    names = ("uvicorn", "uvicorn.error", "uvicorn.access")
    saved = {n: (list(logging.getLogger(n).handlers), logging.getLogger(n).propagate, logging.getLogger(n).level)
             for n in names}
    try:
        with running_simulator() as s:
            yield s
    finally:
        for n, (handlers, propagate, level) in saved.items():
            lg = logging.getLogger(n)
            lg.handlers[:] = handlers
            lg.propagate = propagate
            lg.setLevel(level)


def resting(sim: SimulatorServer) -> list:
    with SignedClient(sim) as c:
        return c.get("/portfolio/orders", params={"status": "resting"}).json()["orders"]


def rest_orders(sim: SimulatorServer, n: int) -> None:
    with SignedClient(sim) as c:
        for _ in range(n):
            assert c.post(ORDERS, order_body(price="0.05")).status_code == 201
    assert len(resting(sim)) == n


class TestKillLine:
    def test_a_primed_line_cancels_with_no_descriptor_left(self, sim: SimulatorServer) -> None:
        """Opened at start, the kept connection carries the cancel-all although no new socket can be made."""
        rest_orders(sim, 3)
        with KalshiClient(sim.rest_url, Signer(sim.key_id, sim.private_key),
                          keepalive_expiry=KEEPALIVE_EXPIRY_S) as client:
            line = KillLine(client, time.monotonic)
            line.close()  # no spare: the kept connection alone must do it
            line.prime()
            assert line.warm
            with no_descriptor_left():
                line.cancel_all()
        assert resting(sim) == []

    def test_the_line_is_kept_warm_only_when_idle(self, sim: SimulatorServer) -> None:
        """A tick sends a keep-alive only once the line has been idle for the interval (injected clock)."""
        now = [100.0]
        with KalshiClient(sim.rest_url, Signer(sim.key_id, sim.private_key)) as client:
            line = KillLine(client, lambda: now[0], interval_s=3.0)
            line.prime()
            assert line.last_used == 100.0
            now[0] = 102.0
            line.tick()
            assert line.last_used == 100.0
            now[0] = 103.5
            line.tick()
            assert line.last_used == 103.5
            line.close()
