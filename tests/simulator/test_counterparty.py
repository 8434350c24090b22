"""A counterparty (another account) trading against one of our resting orders."""

from __future__ import annotations

from decimal import Decimal

from kalshi_guard.simulator.testing import ORDERS, T0, admin_request, order_body


def _rest(client, count: str = "10.00", price: str = "0.10", side: str = "bid") -> str:
    r = client.post(ORDERS, order_body(count=count, price=price, side=side))
    assert r.status_code == 201, r.text
    return r.json()["order_id"]


class TestCounterpartyFill:
    def test_partial_fill_leaves_the_rest_resting(self, sim, client):
        """A stranger taking 4 of 10 gives us a maker fill of 4 at our price and 6 still resting."""
        oid = _rest(client)
        out = sim.exchange.counterparty_fill(oid, "4")
        assert out["remaining"] == "6.00"
        assert out["status"] == "resting"
        order = client.get(f"/portfolio/orders/{oid}").json()["order"]
        assert (order["status"], order["fill_count_fp"], order["remaining_count_fp"]) == ("resting", "4.00", "6.00")
        fills = client.get("/portfolio/fills", params={"order_id": oid}).json()["fills"]
        assert len(fills) == 1
        assert fills[0]["count_fp"] == "4.00"
        assert fills[0]["is_taker"] is False
        pos = client.get("/portfolio/positions").json()["market_positions"][0]
        assert (pos["ticker"], pos["position_fp"]) == (T0, "4.00")

    def test_full_fill_executes_the_order(self, sim, client):
        """Taking everything that remains executes the order and takes it off the book."""
        oid = _rest(client, count="3.00", price="0.80", side="ask")
        sim.exchange.counterparty_fill(oid, Decimal(3))
        order = client.get(f"/portfolio/orders/{oid}").json()["order"]
        assert order["status"] == "executed"
        pos = client.get("/portfolio/positions").json()["market_positions"][0]
        assert pos["position_fp"] == "-3.00"

    def test_counts_beyond_the_remainder_and_dead_orders_are_refused(self, sim, client):
        """More than remains, or an order that no longer rests, is a 400 from the admin endpoint."""
        oid = _rest(client, count="2.00")
        r = admin_request(sim, "POST", "/external/counterparty", {"order_id": oid, "count": "3"})
        assert r.status_code == 400
        client.delete(f"{ORDERS}/{oid}")
        r = admin_request(sim, "POST", "/external/counterparty", {"order_id": oid, "count": "1"})
        assert r.status_code == 400
        r = admin_request(sim, "POST", "/external/counterparty", {"order_id": "nope", "count": "1"})
        assert r.status_code == 404

    def test_admin_endpoint_fills(self, sim, client):
        """POST /_sim/external/counterparty fills the order like the method does."""
        oid = _rest(client, count="5.00")
        r = admin_request(sim, "POST", "/external/counterparty", {"order_id": oid, "count": "5"})
        assert r.status_code == 200
        assert r.json()["status"] == "executed"
