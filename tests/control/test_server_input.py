"""The control server against hostile bodies, over real loopback HTTP with a real gate: bodies capped while
read (413), JSON depth-limited (400), an emergency stop that halts whatever its body, a raising handler
answered with JSON naming only the exception type, and reasons cleaned before the port stores them."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kalshi_guard.control.request_body import MAX_BODY_BYTES, MAX_DEPTH, parse_json, too_deep
from kalshi_guard.control.server import ControlServer
from kalshi_guard.core.gate import GateState

from .test_server import TOKEN, GatePort

AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
DEEP = b"[" * 30_000 + b"]" * 30_000  # within the size cap, far beyond the recursion limit


async def _echo(request: Request) -> Response:
    return JSONResponse({"bytes": len(await request.body())})


async def _boom(_request: Request) -> Response:
    raise RecursionError("a secret detail that must not leak")


@pytest.fixture
def port() -> GatePort:
    return GatePort()


@pytest.fixture
def server(port: GatePort) -> Iterator[ControlServer]:
    srv = ControlServer(port, port_number=0, token=TOKEN,
                        extra_routes=[Route("/api/echo", _echo, methods=["POST"]),
                                      Route("/api/boom", _boom, methods=["POST"])])
    srv.start()
    yield srv
    assert srv.stop()


@pytest.fixture
def client(server: ControlServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30, headers=AUTH) as c:
        yield c


class TestDepth:
    def test_the_depth_scan_ignores_brackets_in_strings(self) -> None:
        """Brackets inside strings (escaped quotes too) do not count; real nesting does."""
        assert not too_deep(b'{"a": "' + b"[" * 1000 + b'\\"[[["}')
        assert too_deep(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1))
        assert not too_deep(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH)

    def test_parse_json_never_raises(self) -> None:
        """Too deep, invalid, invalid UTF-8, huge integers: a problem text, never an exception."""
        for raw in (DEEP, b"{", b"\xff\xfe", b"9" * 5000):
            value, problem = parse_json(raw)
            assert value is None
            assert problem

    def test_a_deep_reset_is_400_json(self, client: httpx.Client, port: GatePort) -> None:
        """30,000 levels: 400 naming the depth; the port is never called."""
        r = client.post("/api/bot/reset", content=DEEP)
        assert r.status_code == 400, r.text
        assert "nested" in r.json()["error"]
        assert port.calls == []

    def test_a_deep_emergency_stop_halts(self, client: httpx.Client, port: GatePort) -> None:
        """The stop is performed and its reason says the body was too deep."""
        r = client.post("/api/bot/emergency-stop", content=DEEP)
        assert r.status_code == 200, r.text
        assert port.gate.snapshot().state is GateState.HALTED
        assert port.calls == [("stop", "http", f"emergency stop (HTTP API; body is nested more than {MAX_DEPTH} "
                                               "levels)")]


class TestSize:
    def test_a_chunked_body_over_the_cap_is_413_on_every_route(self, client: httpx.Client) -> None:
        """Streamed without a length, 10 MB: 413 JSON, also on a route added later (the cap is the server's)."""
        for path in ("/api/bot/reset", "/api/echo"):
            r = client.post(path, content=iter([b"x" * (1024 * 1024)] * 10))
            assert r.status_code == 413, r.text
            assert r.json()["limit"] == MAX_BODY_BYTES

    def test_a_body_at_the_cap_passes_whole(self, client: httpx.Client) -> None:
        """Exactly the cap reaches the handler unchanged."""
        r = client.post("/api/echo", content=iter([b"x" * (MAX_BODY_BYTES // 2)] * 2))
        assert r.status_code == 200, r.text
        assert r.json() == {"bytes": MAX_BODY_BYTES}

    def test_an_announced_large_body_is_refused_before_it_arrives(self, server: ControlServer) -> None:
        """``Content-Length`` above the cap: 413 without waiting for the body."""
        with socket.create_connection(("127.0.0.1", server.bound_port), timeout=10) as s:
            s.sendall(f"POST /api/bot/reset HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                      "Content-Length: 10000000\r\n\r\n{".encode())
            assert s.recv(4096).startswith(b"HTTP/1.1 413")

    def test_an_oversized_emergency_stop_halts(self, client: httpx.Client, port: GatePort) -> None:
        """Too large to read, and still a stop, with a reason saying so."""
        r = client.post("/api/bot/emergency-stop", content=iter([b" " * (1024 * 1024)] * 3))
        assert r.status_code == 200, r.text
        assert port.gate.snapshot().state is GateState.HALTED
        assert "larger than" in port.calls[0][2]


class TestFailures:
    def test_a_raising_handler_answers_500_json_without_details(self, client: httpx.Client) -> None:
        """The exception type only; no traceback, no message."""
        r = client.post("/api/boom", content=b"{}")
        assert r.status_code == 500
        assert r.json() == {"error": "internal error", "detail": "RecursionError"}
        assert "secret detail" not in r.text


class TestReasons:
    def test_reasons_reach_the_port_cleaned(self, client: httpx.Client, port: GatePort) -> None:
        """The token masked, control characters escaped: what the port stores is one safe line."""
        r = client.post("/api/bot/emergency-stop", json={"reason": f"x\r\n<0>forged\x1b[2J\x00 {TOKEN}"})
        assert r.status_code == 200, r.text
        r = client.post("/api/bot/reset", json={"reason": f"ok\n{TOKEN}\u202e!"})
        assert r.status_code == 200, r.text
        assert [c[2] for c in port.calls] == ["x\\x0d\\x0a<0>forged\\x1b[2J\\x00 ***", "ok\\x0a***\\u202e!"]
