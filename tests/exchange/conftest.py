"""A scriptable loopback WebSocket server standing in for Kalshi's stream in the stream unit tests, and an
in-process simulator with a signed client for the REST tests."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.server import ServerConnection, serve

from kalshi_guard.exchange.keys import generate_private_key
from kalshi_guard.exchange.rest import KalshiClient
from kalshi_guard.exchange.signing import HEADER_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, Signer, verify
from kalshi_guard.simulator.testing import running_simulator

KEY = generate_private_key()


class ScriptedWsServer:
    """Verifies the signed handshake, acks subscribes with fresh sids, records commands, pushes frames."""

    def __init__(self) -> None:
        self.commands: queue.Queue[dict] = queue.Queue()
        self.handshakes: queue.Queue[bool] = queue.Queue()
        self._conn: ServerConnection | None = None
        self._lock = threading.Lock()
        self._sid = 0
        self.connected = threading.Event()
        self.handler_errors: list[Exception] = []
        self._server = serve(self._handler, "127.0.0.1", 0, process_request=self._check)
        self.port = self._server.socket.getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}/trade-api/ws/v2"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _check(self, conn, request):
        h = request.headers
        ok = h.get(HEADER_KEY) == "ws-key" and verify(KEY.public_key(), h.get(HEADER_SIGNATURE, ""),
                                                     h.get(HEADER_TIMESTAMP, ""), "GET", request.path)
        self.handshakes.put(ok)
        if not ok:
            return conn.respond(401, "bad signature\n")
        return None

    def _handler(self, conn: ServerConnection) -> None:
        with self._lock:
            self._conn = conn
        self.connected.set()
        try:
            for raw in conn:
                cmd = json.loads(raw)
                if cmd.get("cmd") == "subscribe":
                    for ch in cmd["params"]["channels"]:
                        with self._lock:
                            self._sid += 1
                            sid = self._sid
                        conn.send(json.dumps({"id": cmd["id"], "type": "subscribed",
                                              "msg": {"channel": ch, "sid": sid}}))
                self.commands.put(cmd)
        except Exception as exc:  # the test client may vanish at any time
            self.handler_errors.append(exc)

    def next_command(self, timeout: float = 5.0) -> dict:
        return self.commands.get(timeout=timeout)

    def push(self, frame: dict) -> None:
        assert self.connected.wait(5), "no client connected"
        with self._lock:
            conn = self._conn
        assert conn is not None
        conn.send(json.dumps(frame))

    def drop(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        self.connected.clear()
        if conn is not None:
            conn.close()

    def close(self) -> None:
        self.drop()
        self._server.shutdown()
        self._thread.join(5)


@pytest.fixture
def ws_server() -> Iterator[ScriptedWsServer]:
    server = ScriptedWsServer()
    yield server
    server.close()


@pytest.fixture
def ws_signer() -> Signer:
    return Signer("ws-key", KEY)


@pytest.fixture
def sim() -> Iterator[Any]:
    """An in-process simulator on a loopback port."""
    with running_simulator() as s:
        yield s


@pytest.fixture
def client(sim: Any) -> Iterator[KalshiClient]:
    """A signed client of ``sim``, reads not retried."""
    with KalshiClient(sim.rest_url, Signer(sim.key_id, sim.private_key), read_retries=0) as c:
        yield c
