"""Test helpers: a running simulator on 127.0.0.1 (a free port) and a small signed HTTP client."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from kalshi_guard.exchange.signing import Signer
from kalshi_guard.simulator.markets import DEFAULT_TICKERS
from kalshi_guard.simulator.server import SimulatorServer

__all__ = ["ORDERS", "T0", "SignedClient", "admin_headers", "admin_request", "order_body", "running_simulator"]

T0 = DEFAULT_TICKERS[0]
ORDERS = "/portfolio/events/orders"


def order_body(ticker: str = T0, side: str = "bid", count: str = "5.00", price: str = "0.45",
               tif: str = "good_till_canceled", stp: str = "taker_at_cross", **extra: Any) -> dict[str, Any]:
    """A V2 create body with a fresh ``client_order_id`` (``extra`` adds or overrides fields)."""
    body = {"ticker": ticker, "side": side, "count": count, "price": price, "time_in_force": tif,
            "self_trade_prevention_type": stp, "client_order_id": str(uuid.uuid4())}
    body.update(extra)
    return body


def admin_headers(token: str) -> dict[str, str]:
    """The headers every ``/_sim`` admin call needs: the admin token and a JSON content type."""
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def admin_request(sim: SimulatorServer | str, method: str, path: str, body: Any = None, *, token: str | None = None,
                  timeout: float = 10.0) -> httpx.Response:
    """Call ``/_sim{path}`` with the admin token and a JSON body (``{}`` for a POST without one).

    ``sim`` is a :class:`SimulatorServer` (its ``admin_url`` and ``admin_token``) or an admin URL ending in
    ``/_sim`` together with ``token``.
    """
    if isinstance(sim, str):
        base, token = sim.rstrip("/"), token
    else:
        base, token = sim.admin_url, token or sim.admin_token
    assert token, "the simulator's admin token is needed"
    content = None if body is None and method.upper() != "POST" else json.dumps({} if body is None else body)
    return httpx.request(method, base + path, content=content, headers=admin_headers(token), timeout=timeout,
                         trust_env=False)


@contextlib.contextmanager
def running_simulator(seed: int = 7, state_file: Path | None = None, **options: Any) -> Iterator[SimulatorServer]:
    """A started :class:`SimulatorServer` (``rest_url``, ``ws_url``, ``admin_url``, ``key_id``,
    ``private_key_path``, ``private_key``, ``exchange``, ``register_key``), stopped on exit.

    ``options`` go to ``SimulatorServer`` (``key_dir``, ``tier``, ``auth_window_s``, ``ping_interval_s``,
    ``liquidity_interval_s`` — None by default here so books only move when a test says so).
    """
    options.setdefault("liquidity_interval_s", None)
    server = SimulatorServer("127.0.0.1", 0, seed, state_file, **options)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class SignedClient:
    """A minimal signed httpx client for the simulator's REST API (tests and benches)."""

    def __init__(self, sim: SimulatorServer, timeout: float = 5.0) -> None:
        self._sim = sim
        self.base = sim.rest_url
        self.path_prefix = "/trade-api/v2"
        self.signer = Signer(sim.key_id, sim.private_key)
        self.http = httpx.Client(timeout=timeout)

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """Sign and send ``method`` on ``path`` (relative to ``/trade-api/v2``)."""
        headers = self.signer.headers(method, self.path_prefix + path.split("?", 1)[0])
        return self.http.request(method, self.base + path, headers=headers, **kw)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return self.request("POST", path, json=body, **kw)

    def delete(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return self.request("DELETE", path, json=body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return self.request("PUT", path, json=body, **kw)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> SignedClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
