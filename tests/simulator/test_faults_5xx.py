"""Counted 5xx faults (before and after accepting) and the per-endpoint request counter."""

from __future__ import annotations

from kalshi_guard.simulator.testing import ORDERS, order_body


def _orders(client):
    return client.get("/portfolio/orders").json()["orders"]


class TestCounted5xx:
    def test_5xx_next_fires_once_and_creates_nothing(self, sim, client):
        """error_5xx_next answers 500 to the next request only, without creating the order."""
        sim.exchange.faults.configure({"error_5xx_next": {"create_order": 1}})
        body = order_body(price="0.10")
        assert client.post(ORDERS, body).status_code == 500
        assert _orders(client) == []
        assert client.post(ORDERS, body).status_code == 201

    def test_5xx_after_accept_creates_the_order(self, sim, client):
        """error_5xx_after_accept processes the create and then answers 500: the order exists."""
        sim.exchange.faults.configure({"error_5xx_after_accept": {"create_order": 1}})
        body = order_body(price="0.10")
        r = client.post(ORDERS, body)
        assert r.status_code == 500
        assert r.json()["error"]["code"] == "internal_server_error"
        assert [o["client_order_id"] for o in _orders(client)] == [body["client_order_id"]]
        assert client.post(ORDERS, body).status_code == 409

    def test_seen_counts_requests_while_faults_are_on(self, sim, client):
        """seen counts requests per endpoint while any HTTP fault is configured; clear() keeps the counts."""
        sim.exchange.faults.configure({"latency": {"cancel_order": 0.01}})
        client.get("/portfolio/balance")
        client.get("/portfolio/balance")
        assert sim.exchange.faults.seen["get_balance"] == 2
        sim.exchange.faults.clear()
        assert sim.exchange.faults.snapshot()["error_5xx_next"] == {}


class TestUnlisted:
    def test_unlisted_orders_drop_out_of_the_listing_only(self, sim, client):
        """A client_order_id in faults.unlisted is left out of GET /portfolio/orders but still readable by id."""
        body = order_body(price="0.10")
        oid = client.post(ORDERS, body).json()["order_id"]
        sim.exchange.faults.configure({"unlisted": [body["client_order_id"]]})
        assert _orders(client) == []
        assert client.get(f"/portfolio/orders/{oid}").status_code == 200
        sim.exchange.faults.clear()
        assert len(_orders(client)) == 1
