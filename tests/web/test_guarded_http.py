"""The control server's connection guard over real loopback sockets: request deadline, cap with eviction of
waiting connections, a reserve for health and emergency stop, and 503 beyond it."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kalshi_guard.control.server import RESERVED_PATHS, ControlServer
from kalshi_guard.core.gate import TradingGate
from kalshi_guard.web.guarded_http import ConnectionLimits

TOKEN = "tok-" + "Z9y8X7w6V5u4T3s2R1q0"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WAIT_S = 20.0  # the most any closing is waited for (the deadlines under test are far shorter)


class GatePort:
    """The server's seam: a ControlPort over a real gate."""

    def __init__(self) -> None:
        self.gate = TradingGate()
        self.gate.mark_ready()

    def status(self) -> dict[str, Any]:
        return {"gate": self.gate.snapshot().state.value}

    def emergency_stop(self, source: str, reason: str) -> dict[str, Any]:
        return {"gate": self.gate.close(reason, source).state.value}

    def reset(self, source: str, reason: str) -> dict[str, Any]:
        return {"gate": self.gate.reset(reason, source).state.value}


class Blocker:
    """A route whose requests stay in the app until released (slots busy handling requests)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)

    def route(self) -> Route:
        async def slow(_request: Request) -> Response:
            self.entered.release()
            await asyncio.to_thread(self.release.wait, WAIT_S)
            return JSONResponse({"slow": True})

        return Route("/api/slow", slow, methods=["GET"])


def serve(limits: ConnectionLimits, blocker: Blocker | None = None) -> ControlServer:
    routes = [blocker.route()] if blocker else []
    srv = ControlServer(GatePort(), port_number=0, token=TOKEN, limits=limits, extra_routes=routes)
    srv.start()
    return srv


@pytest.fixture
def made() -> Iterator[list[ControlServer]]:
    servers: list[ControlServer] = []
    yield servers
    for srv in servers:
        assert srv.stop()


def connect(srv: ControlServer) -> socket.socket:
    assert srv.bound_port is not None
    sock = socket.create_connection(("127.0.0.1", srv.bound_port), timeout=WAIT_S)
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    """Block until the server closes (EOF or reset); False if it is still open after WAIT_S."""
    sock.settimeout(WAIT_S)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def read_response(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    sock.settimeout(WAIT_S)
    chunks = []
    try:
        while data := sock.recv(65536):
            chunks.append(data)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


class TestRequestDeadline:
    def test_a_half_sent_request_line_is_closed_within_the_timeout(self, made: list[ControlServer]) -> None:
        """A client that sends part of its request headers and waits is disconnected once the deadline passes."""
        srv = serve(ConnectionLimits(request_timeout_s=0.3, reserved_paths=RESERVED_PATHS))
        made.append(srv)
        with connect(srv) as sock:
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
            assert closed_by_server(sock)
        assert srv.guard is not None
        assert srv.guard.totals().get("timed_out") == 1

    def test_a_connection_that_sends_nothing_is_closed(self, made: list[ControlServer]) -> None:
        """An idle connection that never starts a request is closed like a half-sent one."""
        srv = serve(ConnectionLimits(request_timeout_s=0.3, reserved_paths=RESERVED_PATHS))
        made.append(srv)
        with connect(srv) as sock:
            assert closed_by_server(sock)

    def test_a_body_not_completed_in_time_is_closed(self, made: list[ControlServer]) -> None:
        """Complete headers with a body that stops short are cut off as well."""
        srv = serve(ConnectionLimits(request_timeout_s=0.3, reserved_paths=RESERVED_PATHS))
        made.append(srv)
        with connect(srv) as sock:
            sock.sendall(b"POST /api/bot/reset HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode()
                         + b"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"reason\":")
            assert closed_by_server(sock)

    def test_the_next_request_on_a_kept_alive_connection_has_its_own_deadline(
        self, made: list[ControlServer]
    ) -> None:
        """After a full answer, a second request that stops half-way is closed too."""
        srv = serve(ConnectionLimits(request_timeout_s=0.3, reserved_paths=RESERVED_PATHS))
        made.append(srv)
        with connect(srv) as sock:
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.settimeout(WAIT_S)
            first = sock.recv(65536)
            assert first.startswith(b"HTTP/1.1 200")
            sock.sendall(b"GET /api/hea")
            assert closed_by_server(sock)

    def test_complete_requests_are_answered_as_before(self, made: list[ControlServer]) -> None:
        """Ordinary clients see no difference."""
        srv = serve(ConnectionLimits(request_timeout_s=0.3, reserved_paths=RESERVED_PATHS))
        made.append(srv)
        with httpx.Client(base_url=srv.url, timeout=WAIT_S, trust_env=False) as client:
            assert client.get("/api/health").json() == {"status": "ok"}
            assert client.get("/api/status", headers=AUTH).status_code == 200


class TestCap:
    def test_new_connections_evict_the_oldest_waiting_ones(self, made: list[ControlServer]) -> None:
        """With every slot held by half-sent requests, a health check still gets in: the oldest waiting
        connection is closed to make room, and the number of open connections stays at the cap."""
        srv = serve(ConnectionLimits(max_connections=4, reserve=0, request_timeout_s=60,
                                     reserved_paths=RESERVED_PATHS))
        made.append(srv)
        held = [connect(srv) for _ in range(10)]
        try:
            for sock in held:
                sock.sendall(b"GET /api/health HTTP/1.1\r\n")
            assert all(closed_by_server(sock) for sock in held[:6])  # the six oldest made room
            with httpx.Client(base_url=srv.url, timeout=WAIT_S, trust_env=False) as client:
                assert client.get("/api/health").status_code == 200
                assert client.post("/api/bot/emergency-stop", headers=AUTH).status_code == 200
            assert srv.guard is not None
            assert len(srv.guard.open) <= 4
        finally:
            for sock in held:
                sock.close()

    def test_when_every_slot_is_busy_the_reserve_serves_only_health_and_stop(
        self, made: list[ControlServer]
    ) -> None:
        """Slots busy handling requests cannot be evicted: a further connection gets the reserve, which
        answers /api/health and the emergency stop and refuses anything else with 503."""
        blocker = Blocker()
        srv = serve(ConnectionLimits(max_connections=2, reserve=1, request_timeout_s=60, reserve_timeout_s=60,
                                     reserved_paths=RESERVED_PATHS), blocker)
        made.append(srv)
        busy = [connect(srv) for _ in range(2)]
        try:
            for sock in busy:
                sock.sendall(b"GET /api/slow HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode()
                             + b"\r\n\r\n")
            for _ in busy:
                assert blocker.entered.acquire(timeout=WAIT_S)
            with httpx.Client(base_url=srv.url, timeout=WAIT_S, trust_env=False) as client:
                assert client.get("/api/health").status_code == 200
                stop = client.post("/api/bot/emergency-stop", headers=AUTH, json={"reason": "drill"})
                assert stop.status_code == 200
                assert client.get("/api/status", headers=AUTH).status_code == 503
            with connect(srv) as reserve_holder:  # takes the one reserve place and sends nothing
                reserve_holder.sendall(b"GET /api/health HTTP/1.1\r\n")
                with connect(srv) as beyond:
                    answer = read_response(beyond)
                assert answer.startswith(b"HTTP/1.1 503")
            assert srv.guard is not None
            assert srv.guard.totals().get("refused") == 1
        finally:
            blocker.release.set()
            for sock in busy:
                sock.close()


class TestFitting:
    def test_the_cap_shrinks_to_fit_the_file_limit(self) -> None:
        """Cap and reserve never promise more connections than the descriptors left after the headroom."""
        limits = ConnectionLimits(max_connections=1000, reserve=16)
        fitted = limits.fitted(1024, 256)
        assert fitted.max_connections + fitted.reserve <= 768
        assert fitted.reserve > 0
        assert limits.fitted(65536, 256) == limits
