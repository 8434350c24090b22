"""The daemon under systemd's default file limit (soft 1,024) while 1,100 half-sent requests are held against
its control API: health and orders are answered, and SIGUSR1's emergency stop cancels every resting order."""

from __future__ import annotations

import resource
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.waiting import wait_until

from .conftest import Daemon

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

TICKER = "KXSIMCPI-26DEC-T30"
HALF_OPEN = 1100
RESTING = 3


def systemd_default_files() -> None:
    """In the daemon's child process: the soft open-file limit systemd gives a unit without LimitNOFILE=."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))


@pytest.fixture
def client_files() -> Iterator[None]:
    """This test process holds 1,100+ sockets: its own soft limit is raised for the test (not the daemon's)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4096 if hard == resource.RLIM_INFINITY else min(hard, 4096)
    if want < HALF_OPEN + 200:
        pytest.skip(f"the hard file limit here ({hard}) cannot hold {HALF_OPEN} client sockets")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def order(price: Decimal, tif: str, **extra: Any) -> dict[str, Any]:
    return {"ticker": TICKER, "outcome": "yes", "action": "buy", "count": "1", "price": str(price),
            "time_in_force": tif, **extra}


def exchange_orders(status: dict[str, Any]) -> Callable[[], list[dict[str, Any]]]:
    """Read the paper exchange's resting orders with the key the daemon's status shows."""
    from pathlib import Path
    from urllib.parse import urlsplit

    from kalshi_guard.exchange.keys import load_private_key
    from kalshi_guard.exchange.signing import Signer

    ex = status["exchange"]
    signer = Signer(ex["key_id"], load_private_key(Path(ex["private_key_file"])))
    prefix = urlsplit(ex["base_url"]).path

    def resting() -> list[dict[str, Any]]:
        headers = signer.headers("GET", prefix + "/portfolio/orders")
        r = httpx.get(ex["base_url"] + "/portfolio/orders", params={"status": "resting"}, headers=headers,
                      timeout=10, trust_env=False)
        r.raise_for_status()
        return r.json()["orders"]

    return resting


def hold_half_open(port: int, n: int) -> list[socket.socket]:
    """``n`` connections that each send half a request line and then wait."""
    held = []
    for _ in range(n):
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
        held.append(sock)
    return held


def test_api_and_stop_work_with_1100_half_open_requests_under_the_default_file_limit(
    daemon_factory: Callable[..., Daemon], client_files: None
) -> None:
    """Soft limit 1,024 at start (raised by the daemon), request deadline far away (120 s) so that only the
    file limit and the connection cap are tested: with 1,100 half-sent requests held, /api/health answers,
    an order is answered, and SIGUSR1 cancels every resting order on the exchange."""
    d = daemon_factory(KALSHI_GUARD_CONTROL__REQUEST_TIMEOUT_S="120")
    d.start(preexec_fn=systemd_default_files)
    d.wait_ready()
    status = d.status()
    resting = exchange_orders(status)
    market = httpx.get(f"{status['exchange']['base_url']}/markets/{TICKER}", timeout=10, trust_env=False)
    bid, ask = Decimal(market.json()["market"]["yes_bid_dollars"]), Decimal(market.json()["market"]["yes_ask_dollars"])

    replies: list[httpx.Response] = []
    for i in range(RESTING):  # a GTC's reply waits for its final state: placed from threads
        body = order(bid - Decimal("0.05"), "gtc", client_order_id=f"fd-rest-{i}")
        threading.Thread(target=lambda b=body: replies.append(d.api("POST", "/api/orders", json=b)),
                         daemon=True).start()
    wait_until(lambda: len(resting()) == RESTING, timeout=30, what="the GTC orders resting on the exchange")

    held = hold_half_open(d.port, HALF_OPEN)
    try:
        health = d.api("GET", "/api/health", token=None)
        assert health.status_code == 200, health.text
        ioc = d.api("POST", "/api/orders", json=order(ask, "ioc", client_order_id="fd-ioc"))
        assert ioc.status_code == 200, ioc.text
        assert ioc.json()["status"] == "FILLED"
        d.signal(signal.SIGUSR1)
        wait_until(lambda: resting() == [], timeout=30, what="the emergency stop cancelling every resting order")
        assert d.status()["gate"]["state"] == "HALTED"
    finally:
        for sock in held:
            sock.close()
    assert "open-file limit raised from 1024" in d.stderr() or "open-file limit raised from 1024" in (
        d.state.parent / f"daemon-{d.port}.stderr").read_text(errors="replace")
    assert "cancel-all failed" not in (d.state.parent / f"daemon-{d.port}.stderr").read_text(errors="replace")
