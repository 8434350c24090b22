"""V2 order semantics over real HTTP on loopback."""

from __future__ import annotations

from decimal import Decimal

from kalshi_guard.simulator.markets import DEFAULT_TICKERS
from kalshi_guard.simulator.testing import ORDERS, T0
from kalshi_guard.simulator.testing import order_body as order


class TestCreate:
    def test_crossing_bid_fills_at_resting_price(self, client):
        """A bid above the best ask fills at the ask's price and reports 201 with fill figures."""
        book = client.get(f"/markets/{T0}/orderbook").json()["orderbook_fp"]
        best_ask = Decimal(1) - Decimal(book["no_dollars"][-1][0])
        r = client.post(ORDERS, order(price=f"{best_ask + Decimal('0.02'):.2f}", count="3.00"))
        assert r.status_code == 201
        body = r.json()
        assert body["fill_count"] == "3.00"
        assert body["remaining_count"] == "0.00"
        assert Decimal(body["average_fill_price"]) == best_ask
        assert set(body) >= {"order_id", "client_order_id", "ts_ms", "average_fee_paid"}

    def test_non_crossing_gtc_rests(self, client):
        """A GTC bid below the book rests with status resting."""
        r = client.post(ORDERS, order(price="0.10"))
        assert r.status_code == 201
        assert r.json()["fill_count"] == "0.00"
        assert r.json()["remaining_count"] == "5.00"
        got = client.get(f"/portfolio/orders/{r.json()['order_id']}").json()["order"]
        assert got["status"] == "resting"
        assert got["book_side"] == "bid"
        assert got["outcome_side"] == "yes"

    def test_ioc_cancels_unfilled_remainder(self, client):
        """IOC below the book fills nothing and ends cancelled with remaining 0."""
        r = client.post(ORDERS, order(price="0.10", tif="immediate_or_cancel"))
        assert r.json()["remaining_count"] == "0.00"
        got = client.get(f"/portfolio/orders/{r.json()['order_id']}").json()["order"]
        assert got["status"] == "canceled"

    def test_fok_not_fully_fillable_fills_nothing(self, client):
        """FOK for more than the crossing liquidity fills nothing."""
        r = client.post(ORDERS, order(price="0.99", count="99999.00", tif="fill_or_kill"))
        assert r.status_code in (201, 400)
        if r.status_code == 201:
            assert r.json()["fill_count"] == "0.00"
        assert client.get("/portfolio/positions").json()["market_positions"] == []

    def test_duplicate_client_order_id_is_409_forever(self, client):
        """A client_order_id stays spent even after its order is cancelled."""
        body = order(price="0.10")
        oid = client.post(ORDERS, body).json()["order_id"]
        assert client.delete(f"{ORDERS}/{oid}").status_code == 200
        r = client.post(ORDERS, body)
        assert r.status_code == 409
        assert r.json()["error"]["code"] == "order_already_exists"

    def test_numeric_count_is_400(self, client):
        """A JSON number instead of a fixed-point string is rejected."""
        body = order()
        body["count"] = 5
        assert client.post(ORDERS, body).status_code == 400

    def test_post_only_cross_is_rejected(self, client):
        """A post-only order that would cross is refused with 400 invalid_order."""
        r = client.post(ORDERS, order(price="0.95", post_only=True))
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "invalid_order"

    def test_reduce_only_requires_ioc(self, client):
        """reduce_only with GTC is refused."""
        r = client.post(ORDERS, order(reduce_only=True))
        assert r.status_code == 400

    def test_reduce_only_caps_at_position(self, client):
        """reduce_only IOC sells no more than the YES position held."""
        client.post(ORDERS, order(price="0.90", count="4.00", tif="immediate_or_cancel"))
        r = client.post(ORDERS, order(side="ask", price="0.01", count="10.00", tif="immediate_or_cancel",
                                      reduce_only=True))
        assert r.json()["fill_count"] == "4.00"
        pos = client.get("/portfolio/positions").json()["market_positions"]
        assert pos[0]["position_fp"] == "0.00"


class TestSelfTrade:
    def test_taker_at_cross_cancels_taker_keeps_resting(self, client):
        """taker_at_cross: the incoming order is cancelled at the self-cross, the resting one stays."""
        client.post(ORDERS, order(side="ask", price="0.30", count="2.00"))  # below the bids: sells into them
        rest = client.post(ORDERS, order(side="ask", price="0.50", count="2.00")).json()
        # own ask at 0.50 is behind the makers' asks; a bid at 0.60 crosses makers first, then self
        book = client.get(f"/markets/{T0}/orderbook").json()["orderbook_fp"]
        ask_levels = [Decimal(1) - Decimal(p) for p, _ in book["no_dollars"]]
        assert Decimal("0.50") in ask_levels
        r = client.post(ORDERS, order(price="0.50", count="100000.00", stp="taker_at_cross",
                                      tif="immediate_or_cancel"))
        assert r.status_code in (201, 400)
        got = client.get(f"/portfolio/orders/{rest['order_id']}").json()["order"]
        assert got["status"] == "resting"

    def test_maker_stp_cancels_resting_own_order(self, client):
        """maker STP: the resting own order is cancelled and matching continues."""
        rest = client.post(ORDERS, order(side="ask", price="0.99", count="1.00")).json()
        best_bid = client.get(f"/markets/{T0}/orderbook").json()["orderbook_fp"]["yes_dollars"][-1][0]
        assert rest["remaining_count"] == "1.00"
        own_bid = client.post(ORDERS, order(price="0.02", count="1.00")).json()
        r = client.post(ORDERS, order(side="ask", price="0.02", count="1.00", stp="maker",
                                      tif="immediate_or_cancel"))
        assert r.json()["fill_count"] == "1.00"  # filled by the makers' best bid, above our own
        assert best_bid
        assert client.get(f"/portfolio/orders/{own_bid['order_id']}").json()["order"]["status"] == "resting"


class TestCancelAndReads:
    def test_cancel_twice_is_404(self, client):
        """A second cancel of the same order is 404 not_found."""
        oid = client.post(ORDERS, order(price="0.10")).json()["order_id"]
        first = client.delete(f"{ORDERS}/{oid}")
        assert first.status_code == 200
        assert first.json()["reduced_by"] == "5.00"
        second = client.delete(f"{ORDERS}/{oid}")
        assert second.status_code == 404
        assert second.json()["error"]["code"] == "not_found"

    def test_cancel_all_is_204(self, client):
        """DELETE /portfolio/events/orders cancels every resting order and answers 204."""
        ids = [client.post(ORDERS, order(price="0.10", ticker=t)).json()["order_id"] for t in DEFAULT_TICKERS[:3]]
        r = client.delete(ORDERS)
        assert r.status_code == 204
        assert all(client.get(f"/portfolio/orders/{i}").json()["order"]["status"] == "canceled" for i in ids)

    def test_cursor_pages_end_with_empty_string(self, client):
        """Paging orders two at a time visits all and ends with cursor ''."""
        for _ in range(5):
            client.post(ORDERS, order(price="0.10"))
        seen, cursor = [], None
        while True:
            q = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
            body = client.get("/portfolio/orders" + q).json()
            seen += body["orders"]
            cursor = body["cursor"]
            if cursor == "":
                break
        assert len(seen) == 5

    def test_limit_above_max_is_400(self, client):
        """limit above 1000 is a hard 400, not clamped."""
        assert client.get("/portfolio/orders?limit=5000").status_code == 400

    def test_balance_drops_by_cost_and_fee(self, client):
        """A taker fill debits count × price + the taker fee (0.07·C·P·(1−P), rounded up)."""
        before = Decimal(client.get("/portfolio/balance").json()["balance_dollars"])
        r = client.post(ORDERS, order(price="0.99", count="1.00", tif="immediate_or_cancel")).json()
        p = Decimal(r["average_fill_price"])
        after = Decimal(client.get("/portfolio/balance").json()["balance_dollars"])
        fee = Decimal(r["average_fee_paid"])
        assert before - after == p + fee
        assert fee == (Decimal("0.07") * p * (1 - p)).quantize(Decimal("0.0001"), rounding="ROUND_CEILING")

    def test_yes_and_no_net(self, client):
        """Buying NO while long YES reduces the signed position instead of holding both."""
        client.post(ORDERS, order(price="0.99", count="3.00", tif="immediate_or_cancel"))
        client.post(ORDERS, order(side="ask", price="0.01", count="5.00", tif="immediate_or_cancel"))
        pos = client.get("/portfolio/positions").json()["market_positions"][0]
        assert pos["position_fp"] == "-2.00"

    def test_unsigned_request_is_401(self, client, sim):
        """A request without KALSHI-ACCESS-* headers is 401 with the nested envelope."""
        import httpx

        r = httpx.get(sim.rest_url + "/portfolio/balance")
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "authentication_error"
