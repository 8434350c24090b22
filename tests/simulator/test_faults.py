"""Each injected fault, through real HTTP and WebSocket connections on loopback."""

from __future__ import annotations

import json

import httpx
import pytest
from websockets.sync.client import connect

from kalshi_guard.exchange.signing import Signer
from kalshi_guard.simulator.faults import FaultPlan
from kalshi_guard.simulator.testing import ORDERS, T0, SignedClient, admin_request, order_body


def _orders(client):
    return client.get("/portfolio/orders").json()["orders"]


class TestHttpFaults:
    def test_timeout_after_accept_creates_the_order(self, sim):
        """The order exists although the client's request timed out."""
        sim.exchange.faults.configure({"timeout_after_accept": {"create_order": 1}, "timeout_hold_s": 5.0})
        body = order_body(price="0.10")
        with SignedClient(sim, timeout=0.5) as c, pytest.raises(httpx.TimeoutException):
            c.post(ORDERS, body)
        with SignedClient(sim) as c:
            assert [o["client_order_id"] for o in _orders(c)] == [body["client_order_id"]]
            again = c.post(ORDERS, body)
            assert again.status_code == 409

    def test_reset_before_processing(self, client):
        """A reset before processing breaks the connection and creates nothing."""
        with pytest.raises(httpx.TransportError):
            _reset_create(client, "reset_before")
        assert _orders(client) == []

    def test_reset_after_accept(self, client):
        """A reset after accepting breaks the connection but the order exists."""
        with pytest.raises(httpx.TransportError):
            _reset_create(client, "reset_after_accept")
        assert len(_orders(client)) == 1

    def test_2xx_without_order_id(self, sim, client):
        """201 arrives without order_id while the order was created."""
        sim.exchange.faults.configure({"no_order_id": {"create_order": 1}})
        r = client.post(ORDERS, order_body(price="0.10"))
        assert r.status_code == 201
        assert "order_id" not in r.json()
        assert len(_orders(client)) == 1

    def test_5xx_rate_one_means_always(self, sim, client):
        """error_5xx_rate 1.0 answers 500 with the nested envelope and does nothing."""
        sim.exchange.faults.configure({"error_5xx_rate": {"create_order": 1.0}})
        r = client.post(ORDERS, order_body(price="0.10"))
        assert r.status_code == 500
        assert r.json()["error"]["code"] == "internal_server_error"
        assert _orders(client) == []

    def test_429_rate_uses_kalshi_body(self, sim, client):
        """rate_429 answers 429 with {"error": "too many requests"}."""
        sim.exchange.faults.configure({"rate_429": {"*": 1.0}})
        r = client.get("/portfolio/balance")
        assert r.status_code == 429
        assert r.json() == {"error": "too many requests"}

    def test_latency_per_endpoint_applies_only_there(self, sim):
        """Latency on create trips a short client timeout; other endpoints answer."""
        sim.exchange.faults.configure({"latency": {"create_order": 2.0}})
        with SignedClient(sim, timeout=0.3) as c:
            assert c.get("/portfolio/balance").status_code == 200
            with pytest.raises(httpx.TimeoutException):
                c.post(ORDERS, order_body(price="0.10"))

    def test_rates_are_deterministic_under_seed(self):
        """Two plans with the same seed make the same sequence of decisions."""
        plans = [FaultPlan(seed=3), FaultPlan(seed=3)]
        for p in plans:
            p.configure({"error_5xx_rate": {"*": 0.5}})
        seqs = [[p.http_decision("get_balance").error_5xx for _ in range(50)] for p in plans]
        assert seqs[0] == seqs[1]
        assert any(seqs[0])
        assert not all(seqs[0])

    def test_admin_endpoint_sets_faults(self, sim, client):
        """POST /_sim/faults configures the plan; DELETE clears it."""
        r = admin_request(sim, "POST", "/faults", {"error_5xx_rate": {"get_balance": 1.0}})
        assert r.status_code == 200
        assert client.get("/portfolio/balance").status_code == 500
        admin_request(sim, "DELETE", "/faults")
        assert client.get("/portfolio/balance").status_code == 200

    def test_admin_rejects_unknown_fault(self, sim):
        """An unknown fault name is a 400 from the admin endpoint."""
        r = admin_request(sim, "POST", "/faults", {"meteor_strike": 1})
        assert r.status_code == 400


def _reset_create(client, kind):
    sim_exchange = client._sim.exchange
    sim_exchange.faults.configure({kind: {"create_order": 1}})
    client.post(ORDERS, order_body(price="0.10"))


class TestPauses:
    def test_trading_pause_is_409_but_cancel_works(self, sim, client):
        """During a trading pause creates get 409 trading_is_paused; cancels still work."""
        oid = client.post(ORDERS, order_body(price="0.10")).json()["order_id"]
        admin_request(sim, "POST", "/pause", {"trading_active": False})
        r = client.post(ORDERS, order_body(price="0.10"))
        assert r.status_code == 409
        assert r.json()["error"]["code"] == "trading_is_paused"
        assert client.delete(f"{ORDERS}/{oid}").status_code == 200
        assert client.get("/exchange/status").json()["trading_active"] is False

    def test_exchange_pause_refuses_cancel(self, sim, client):
        """During an exchange pause even cancels are refused (503 exchange_paused)."""
        oid = client.post(ORDERS, order_body(price="0.10")).json()["order_id"]
        sim.exchange.set_exchange_active(False)
        r = client.delete(f"{ORDERS}/{oid}")
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "exchange_paused"

    def test_cancel_order_on_pause(self, sim, client):
        """Orders flagged cancel_order_on_pause are cancelled when trading pauses."""
        keep = client.post(ORDERS, order_body(price="0.10")).json()["order_id"]
        drop = client.post(ORDERS, order_body(price="0.10", cancel_order_on_pause=True)).json()["order_id"]
        sim.exchange.set_trading_active(False)
        assert client.get(f"/portfolio/orders/{keep}").json()["order"]["status"] == "resting"
        assert client.get(f"/portfolio/orders/{drop}").json()["order"]["status"] == "canceled"

    def test_market_pause_is_409(self, sim, client):
        """A paused market refuses new orders with 409 trading_is_paused."""
        sim.exchange.pause_market(T0)
        r = client.post(ORDERS, order_body(price="0.10"))
        assert r.status_code == 409
        assert r.json()["error"]["code"] == "trading_is_paused"


class TestStreamFaults:
    def _ws(self, sim):
        headers = Signer(sim.key_id, sim.private_key).headers("GET", "/trade-api/ws/v2")
        return connect(sim.ws_url, additional_headers=headers)

    def _sub(self, ws):
        ws.send(json.dumps({"id": 1, "cmd": "subscribe", "params": {"channels": ["user_orders"]}}))
        assert json.loads(ws.recv(timeout=5))["type"] == "subscribed"

    def _rest(self, client, n):
        ids = [client.post(ORDERS, order_body(price="0.10")).json()["order_id"] for _ in range(n)]
        client.post(ORDERS, order_body(price="0.11"))  # a marker
        return ids

    def _collect(self, ws, stop_price="0.1100"):
        got = []
        while True:
            m = json.loads(ws.recv(timeout=5))["msg"]
            if m["yes_price_dollars"] == stop_price:
                return got
            got.append(m["order_id"])

    def test_drop(self, sim, client):
        """With drop rate 1 no private message arrives (the marker shows the stream is alive)."""
        with self._ws(sim) as ws:
            self._sub(ws)
            sim.exchange.faults.configure({"stream_drop_rate": 1.0})
            client.post(ORDERS, order_body(price="0.10"))
            sim.exchange.faults.clear()
            ids = self._rest(client, 1)
            assert self._collect(ws) == ids

    def test_duplicate(self, sim, client):
        """With duplicate rate 1 every private message arrives twice."""
        with self._ws(sim) as ws:
            self._sub(ws)
            sim.exchange.faults.configure({"stream_duplicate_rate": 1.0})
            ids = self._rest(client, 2)
            got = self._collect(ws)
            assert got == [ids[0], ids[0], ids[1], ids[1]]

    def test_reorder(self, sim, client):
        """With reorder rate 1 a message is held back and sent after the next one."""
        with self._ws(sim) as ws:
            self._sub(ws)
            sim.exchange.faults.configure({"stream_reorder_rate": 1.0})
            ids = [client.post(ORDERS, order_body(price="0.10")).json()["order_id"] for _ in range(2)]
            sim.exchange.faults.clear()
            client.post(ORDERS, order_body(price="0.11"))
            assert self._collect(ws) == [ids[1], ids[0]]

    def test_delay(self, sim, client):
        """A delayed private message still arrives, after the delay."""
        with self._ws(sim) as ws:
            self._sub(ws)
            sim.exchange.faults.configure({"stream_delay_s": 0.2})
            ids = self._rest(client, 1)
            assert self._collect(ws) == ids
