"""The control server over real loopback HTTP, with a small ControlPort over a real TradingGate."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kalshi_guard.control.server import ControlServer, scrub
from kalshi_guard.core.errors import ReconcileError
from kalshi_guard.core.gate import GateState, TradingGate

TOKEN = "tok-" + "A1b2C3d4E5f6G7h8I9j0"


class GatePort:
    """The server's seam: a ControlPort over a real gate, recording every call."""

    def __init__(self) -> None:
        self.gate = TradingGate()
        self.gate.mark_ready()
        self.calls: list[tuple[str, str, str]] = []
        self.refuse_reset: str | None = None
        self.leak = False

    def status(self) -> dict[str, Any]:
        snap = self.gate.snapshot()
        out: dict[str, Any] = {
            "gate": {"state": snap.state, "reason": snap.reason, "source": snap.source},
            "children": {"guardian": "running"},
            "restarts": 0,
            "mode": "paper",
            "balance": Decimal("12.3400"),
        }
        if self.leak:
            out["exchange"] = {"private_key": "-----BEGIN", "url": f"http://x/?t={TOKEN}"}
            out["alerts"] = {"discord_webhook_url": SecretStr("https://discord/x"), "note": SecretStr("s")}
        return out

    def emergency_stop(self, source: str, reason: str) -> dict[str, Any]:
        self.calls.append(("stop", source, reason))
        snap = self.gate.close(reason, source)
        return {"gate": snap.state}

    def reset(self, source: str, reason: str) -> dict[str, Any]:
        self.calls.append(("reset", source, reason))
        if self.refuse_reset:
            raise ReconcileError(self.refuse_reset)
        snap = self.gate.reset(reason, source)
        return {"gate": snap.state}


@pytest.fixture
def port() -> GatePort:
    return GatePort()


@pytest.fixture
def server(port: GatePort) -> Iterator[ControlServer]:
    srv = ControlServer(port, port_number=0, token=TOKEN)
    srv.start()
    yield srv
    assert srv.stop()


@pytest.fixture
def client(server: ControlServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as c:
        yield c


AUTH = {"Authorization": f"Bearer {TOKEN}"}


class TestLifecycle:
    def test_start_returns_listening_on_the_real_port(self, port: GatePort) -> None:
        """With port_number=0 start() returns once listening, and url reports the bound port."""
        srv = ControlServer(port, port_number=0, token=TOKEN)
        srv.start()
        try:
            assert srv.running
            assert srv.bound_port is not None
            assert srv.bound_port > 0
            assert srv.url == f"http://127.0.0.1:{srv.bound_port}"
            with socket.create_connection(("127.0.0.1", srv.bound_port), timeout=5):
                pass
        finally:
            assert srv.stop()
        assert not srv.running

    def test_stop_closes_the_port(self, port: GatePort) -> None:
        """After stop() nothing listens on the port any more."""
        srv = ControlServer(port, port_number=0, token=TOKEN)
        srv.start()
        bound = srv.bound_port
        assert srv.stop()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", bound), timeout=5).close()

    def test_address_in_use_raises(self, port: GatePort) -> None:
        """Binding a port another socket listens on raises OSError from start()."""
        holder = socket.socket()
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        try:
            srv = ControlServer(port, port_number=holder.getsockname()[1], token=TOKEN)
            with pytest.raises(OSError, match="in use"):
                srv.start()
            assert srv.stop()
        finally:
            holder.close()

    def test_empty_token_refused(self, port: GatePort) -> None:
        """A server without a token cannot be built."""
        with pytest.raises(ValueError, match="token"):
            ControlServer(port, port_number=0, token="")

    def test_url_before_start_raises(self, port: GatePort) -> None:
        """Asking for the url before start() is an error, not a guess."""
        with pytest.raises(RuntimeError):
            _ = ControlServer(port, port_number=0, token=TOKEN).url


class TestHealth:
    def test_health_without_auth(self, client: httpx.Client) -> None:
        """GET /api/health answers without a token and reveals nothing but ok."""
        r = client.get("/api/health")
        assert r.status_code == 200
        assert r.json() == {"status": "ok"}


class TestAuth:
    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"Authorization": "Bearer wrong-token-wrong-token"},
            {"Authorization": f"Basic {TOKEN}"},
            {"Authorization": f"Bearer {TOKEN}x"},
            {"Authorization": f"Bearer {TOKEN[:-1]}"},
            {"Authorization": "Bearer"},
        ],
    )
    def test_status_needs_the_token(self, client: httpx.Client, headers: dict[str, str]) -> None:
        """Missing or wrong credentials give 401 with WWW-Authenticate: Bearer."""
        r = client.get("/api/status", headers=headers)
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert TOKEN not in r.text

    def test_unauthorized_emergency_stop_changes_nothing(self, client: httpx.Client, port: GatePort) -> None:
        """An emergency stop with a wrong token is refused and the gate stays ACTIVE."""
        r = client.post("/api/bot/emergency-stop", headers={"Authorization": "Bearer nope"}, json={})
        assert r.status_code == 401
        assert port.gate.state is GateState.ACTIVE
        assert port.calls == []

    def test_unauthorized_reset_changes_nothing(self, client: httpx.Client, port: GatePort) -> None:
        """A reset without a token is refused and a HALTED gate stays HALTED."""
        port.gate.close("test", "test")
        r = client.post("/api/bot/reset", json={"reason": "looks fine"})
        assert r.status_code == 401
        assert port.gate.state is GateState.HALTED
        assert port.calls == []

    def test_scheme_is_case_insensitive(self, client: httpx.Client) -> None:
        """'bearer' in lower case is accepted (RFC 7235 schemes are case-insensitive)."""
        r = client.get("/api/status", headers={"Authorization": f"bearer {TOKEN}"})
        assert r.status_code == 200

    def test_unknown_paths_need_auth_too(self, client: httpx.Client) -> None:
        """Paths that do not exist answer 401 without a token (no route discovery), 404 with one."""
        assert client.get("/api/nothing").status_code == 401
        assert client.get("/api/nothing", headers=AUTH).status_code == 404


class TestStatus:
    def test_status_shape(self, client: httpx.Client) -> None:
        """GET /api/status returns the port's status as JSON, Decimals as strings."""
        r = client.get("/api/status", headers=AUTH)
        assert r.status_code == 200
        body = r.json()
        assert body["gate"]["state"] == "ACTIVE"
        assert body["children"] == {"guardian": "running"}
        assert body["mode"] == "paper"
        assert body["balance"] == "12.3400"

    def test_status_is_scrubbed(self, client: httpx.Client, port: GatePort) -> None:
        """Secret-named keys, SecretStr values and the token itself never leave in a response."""
        port.leak = True
        r = client.get("/api/status", headers=AUTH)
        assert r.status_code == 200
        assert TOKEN not in r.text
        assert "BEGIN" not in r.text
        assert "discord/x" not in r.text
        body = r.json()
        assert body["exchange"]["private_key"] == "***"
        assert body["alerts"]["note"] == "***"

    def test_status_failure_is_503(self, port: GatePort) -> None:
        """A port whose status() raises gives 503 naming only the exception type."""

        class Broken(GatePort):
            def status(self) -> dict[str, Any]:
                raise RuntimeError(f"db at postgres://u:{TOKEN}@h")

        with ControlServer(Broken(), port_number=0, token=TOKEN) as srv:
            r = httpx.get(srv.url + "/api/status", headers=AUTH, timeout=10)
        assert r.status_code == 503
        assert r.json()["detail"] == "RuntimeError"
        assert TOKEN not in r.text


class TestEmergencyStop:
    def test_emergency_stop_closes_the_gate(self, client: httpx.Client, port: GatePort) -> None:
        """POST /api/bot/emergency-stop closes the gate before answering, with the given reason."""
        r = client.post("/api/bot/emergency-stop", headers=AUTH, json={"reason": "odd fills"})
        assert r.status_code == 200
        assert r.json()["ok"] is True
        assert port.gate.state is GateState.HALTED
        assert port.gate.snapshot().reason == "odd fills"
        assert port.calls == [("stop", "http", "odd fills")]

    def test_emergency_stop_without_body(self, client: httpx.Client, port: GatePort) -> None:
        """No body is fine: the stop happens with a default reason."""
        r = client.post("/api/bot/emergency-stop", headers=AUTH)
        assert r.status_code == 200
        assert port.gate.state is GateState.HALTED
        assert port.calls[0][2] == "emergency stop (HTTP API)"

    def test_emergency_stop_with_garbage_body_still_stops(self, client: httpx.Client, port: GatePort) -> None:
        """A malformed body never prevents an emergency stop."""
        r = client.post("/api/bot/emergency-stop", headers=AUTH, content=b"{not json")
        assert r.status_code == 200
        assert port.gate.state is GateState.HALTED

    def test_get_is_not_allowed(self, client: httpx.Client, port: GatePort) -> None:
        """GET on the stop route is 405 and stops nothing."""
        r = client.get("/api/bot/emergency-stop", headers=AUTH)
        assert r.status_code == 405
        assert port.gate.state is GateState.ACTIVE


class TestReset:
    def test_reset_needs_a_reason(self, client: httpx.Client, port: GatePort) -> None:
        """A reset without a reason is 400 naming the field, and the gate stays HALTED."""
        port.gate.close("test", "test")
        for body in ({}, {"reason": ""}, {"reason": "   "}, {"reason": 5}):
            r = client.post("/api/bot/reset", headers=AUTH, json=body)
            assert r.status_code == 400
            assert r.json()["field"] == "reason"
        r = client.post("/api/bot/reset", headers=AUTH)
        assert r.status_code == 400
        assert port.gate.state is GateState.HALTED
        assert port.calls == []

    def test_reset_with_reason_and_token(self, client: httpx.Client, port: GatePort) -> None:
        """With the token and a reason the gate opens, and the reason is recorded."""
        port.gate.close("test", "test")
        r = client.post("/api/bot/reset", headers=AUTH, json={"reason": "  reviewed fills  "})
        assert r.status_code == 200
        assert port.gate.state is GateState.ACTIVE
        assert port.gate.snapshot().reason == "reviewed fills"
        assert port.calls == [("reset", "http", "reviewed fills")]

    def test_reset_refused_by_the_daemon_is_409(self, client: httpx.Client, port: GatePort) -> None:
        """A reset the daemon refuses (e.g. reconciliation not clean) is 409 and the gate stays HALTED."""
        port.gate.close("test", "test")
        port.refuse_reset = "reconciliation found 1 orphan"
        r = client.post("/api/bot/reset", headers=AUTH, json={"reason": "try"})
        assert r.status_code == 409
        assert "orphan" in r.json()["detail"]
        assert port.gate.state is GateState.HALTED

    def test_reset_body_must_be_an_object(self, client: httpx.Client) -> None:
        """A JSON array or invalid JSON is a 400."""
        assert client.post("/api/bot/reset", headers=AUTH, json=["reason"]).status_code == 400
        assert client.post("/api/bot/reset", headers=AUTH, content=b"nope").status_code == 400


class TestExtraRoutes:
    def test_extra_routes_are_protected_by_default(self, port: GatePort) -> None:
        """A route added by a later feature needs the token unless declared public."""

        async def orders(_request: Request) -> Response:
            return JSONResponse({"orders": []})

        async def page(_request: Request) -> Response:
            return JSONResponse({"page": 1})

        srv = ControlServer(
            port,
            port_number=0,
            token=TOKEN,
            extra_routes=[Route("/api/orders", orders), Route("/", page)],
            public_paths={"/api/health", "/"},
        )
        with srv, httpx.Client(base_url=srv.url, timeout=10) as c:
            assert c.get("/api/orders").status_code == 401
            assert c.get("/api/orders", headers=AUTH).json() == {"orders": []}
            assert c.get("/").json() == {"page": 1}


class TestConcurrency:
    def test_parallel_requests(self, server: ControlServer, port: GatePort) -> None:
        """Many clients at once all get answers; one stop closes the gate once."""
        results: list[int] = []
        lock = threading.Lock()

        def hit(i: int) -> None:
            with httpx.Client(base_url=server.url, timeout=10) as c:
                r = (
                    c.post("/api/bot/emergency-stop", headers=AUTH, json={"reason": f"r{i}"})
                    if i % 5 == 0
                    else c.get("/api/status", headers=AUTH)
                )
            with lock:
                results.append(r.status_code)

        threads = [threading.Thread(target=hit, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        assert results == [200] * 20
        assert port.gate.state is GateState.HALTED


class TestScrub:
    def test_nested_secret_keys(self) -> None:
        """Secret-looking keys are redacted at any depth; None stays None."""
        data = {"a": [{"api_key": "k", "Routing-Key": "r", "password": None}], "ok": 1}
        assert scrub(data) == {"a": [{"api_key": "***", "Routing-Key": "***", "password": None}], "ok": 1}

    def test_token_inside_text(self) -> None:
        """The token is replaced wherever it appears inside a string."""
        assert scrub({"msg": f"x{TOKEN}y"}, TOKEN) == {"msg": "x***y"}


class TestSlowReset:
    def test_slow_reset_does_not_block_stop_or_health(self, port: GatePort) -> None:
        """While a reset is busy reconciling, health answers and an emergency stop still closes the gate."""
        entered = threading.Event()
        release = threading.Event()

        class SlowPort(GatePort):
            def reset(self, source: str, reason: str) -> dict[str, Any]:
                entered.set()
                release.wait(30)
                return {"gate": self.gate.state}

        slow = SlowPort()
        with ControlServer(slow, port_number=0, token=TOKEN) as srv:
            answers: list[int] = []
            t = threading.Thread(
                target=lambda: answers.append(
                    httpx.post(srv.url + "/api/bot/reset", headers=AUTH, json={"reason": "r"}, timeout=30).status_code
                )
            )
            t.start()
            try:
                assert entered.wait(10)
                assert httpx.get(srv.url + "/api/health", timeout=10).status_code == 200
                r = httpx.post(srv.url + "/api/bot/emergency-stop", headers=AUTH, timeout=10)
                assert r.status_code == 200
                assert slow.gate.state is GateState.HALTED
            finally:
                release.set()
                t.join(30)
        assert answers == [200]
