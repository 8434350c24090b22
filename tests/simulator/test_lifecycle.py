"""Market lifecycle, settlement, outside actions, order groups, expiry and token buckets over loopback."""

from __future__ import annotations

from decimal import Decimal

from kalshi_guard.simulator.testing import ORDERS, T0, SignedClient, admin_request, order_body, running_simulator


def _buy(client, count="3.00", side="bid", price="0.99"):
    return client.post(ORDERS, order_body(side=side, price=price, count=count, tif="immediate_or_cancel")).json()


class TestCloseAndSettle:
    def test_close_cancels_resting_and_refuses_orders(self, sim, client):
        """After close resting orders are cancelled and every order operation is MARKET_INACTIVE."""
        oid = client.post(ORDERS, order_body(price="0.10")).json()["order_id"]
        sim.exchange.close_market(T0)
        assert client.get(f"/portfolio/orders/{oid}").json()["order"]["status"] == "canceled"
        r = client.post(ORDERS, order_body(price="0.10"))
        assert r.json()["error"]["code"] == "MARKET_INACTIVE"
        assert client.delete(f"{ORDERS}/{oid}").json()["error"]["code"] == "MARKET_INACTIVE"
        assert client.get(f"/markets/{T0}").json()["market"]["status"] == "closed"

    def test_settlement_pays_one_dollar_per_winning_contract(self, sim, client):
        """Settling YES pays $1 per net YES contract; the position moves to settlements."""
        _buy(client, "3.00")
        before = Decimal(client.get("/portfolio/balance").json()["balance_dollars"])
        sim.exchange.settle(T0, "yes")
        after = Decimal(client.get("/portfolio/balance").json()["balance_dollars"])
        assert after - before == Decimal("3.00")
        assert client.get("/portfolio/positions").json()["market_positions"] == []
        s = client.get("/portfolio/settlements").json()["settlements"][0]
        assert s["ticker"] == T0
        assert s["market_result"] == "yes"
        assert s["revenue"] == 300
        assert client.get(f"/markets/{T0}").json()["market"]["status"] == "finalized"

    def test_losing_side_gets_nothing(self, sim, client):
        """A NO position settled YES pays nothing."""
        _buy(client, "2.00", side="ask", price="0.01")
        before = Decimal(client.get("/portfolio/balance").json()["balance_dollars"])
        sim.exchange.settle(T0, "yes")
        assert Decimal(client.get("/portfolio/balance").json()["balance_dollars"]) == before
        assert client.get("/portfolio/settlements").json()["settlements"][0]["revenue"] == 0

    def test_resume_cancels_resting_orders(self, sim, client):
        """Unpausing a market cancels its resting orders, as Kalshi does on reactivation."""
        oid = client.post(ORDERS, order_body(price="0.10")).json()["order_id"]
        sim.exchange.pause_market(T0)
        sim.exchange.resume_market(T0)
        assert client.get(f"/portfolio/orders/{oid}").json()["order"]["status"] == "canceled"

    def test_expiration_time_expires_order(self):
        """A good-till-time order is cancelled once its expiration time passes."""
        now = [1_800_000_000.0]
        with running_simulator(exchange=None) as sim:
            sim.exchange.clock = lambda: now[0]
            with SignedClient(sim) as client:
                oid = client.post(ORDERS, order_body(price="0.10", expiration_time=int(now[0]) + 60)).json()
                now[0] += 61
                sim.exchange.tick()
                got = client.get(f"/portfolio/orders/{oid['order_id']}").json()["order"]
                assert got["status"] == "canceled"


class TestOutsideActions:
    def test_external_trade_is_an_orphan_fill(self, sim, client):
        """external_trade adds a fill and position the daemon never placed."""
        oid = sim.exchange.external_trade(T0, "yes", 4, "0.40")
        fills = client.get("/portfolio/fills").json()["fills"]
        assert fills[0]["order_id"] == oid
        assert client.get("/portfolio/positions").json()["market_positions"][0]["position_fp"] == "4.00"

    def test_external_close_flattens(self, sim, client):
        """external_close flattens the position outside the daemon (a ghost)."""
        _buy(client, "3.00")
        assert sim.exchange.external_close(T0) is not None
        assert client.get("/portfolio/positions").json()["market_positions"][0]["position_fp"] == "0.00"

    def test_admin_settle_endpoint(self, sim, client):
        """POST /_sim/markets/{ticker}/settle settles through the admin prefix."""

        _buy(client, "1.00")
        r = admin_request(sim, "POST", f"/markets/{T0}/settle", {"result": "no"})
        assert r.status_code == 200
        assert r.json()["status"] == "finalized"


class TestOrderGroups:
    def test_limit_hit_triggers_and_blocks(self, sim, client):
        """Matching the group's contract limit cancels its orders and refuses new ones until reset."""
        gid = client.post("/portfolio/order_groups/create", {"contracts_limit": 3}).json()["order_group_id"]
        resting = client.post(ORDERS, order_body(price="0.10", order_group_id=gid)).json()["order_id"]
        client.post(ORDERS, order_body(price="0.99", count="3.00", tif="immediate_or_cancel", order_group_id=gid))
        assert client.get(f"/portfolio/orders/{resting}").json()["order"]["status"] == "canceled"
        assert client.post(ORDERS, order_body(price="0.10", order_group_id=gid)).status_code == 400
        assert client.put(f"/portfolio/order_groups/{gid}/reset").status_code == 200
        assert client.post(ORDERS, order_body(price="0.10", order_group_id=gid)).status_code == 201

    def test_trigger_cancels_group_orders(self, client):
        """PUT trigger cancels every order in the group at once."""
        gid = client.post("/portfolio/order_groups/create", {"contracts_limit_fp": "100.00"}).json()["order_group_id"]
        oid = client.post(ORDERS, order_body(price="0.10", order_group_id=gid)).json()["order_id"]
        assert client.put(f"/portfolio/order_groups/{gid}/trigger").status_code == 200
        assert client.get(f"/portfolio/orders/{oid}").json()["order"]["status"] == "canceled"
        assert client.get(f"/portfolio/order_groups/{gid}").json()["orders"] == []


class TestRateLimits:
    def test_basic_tier_write_bucket_runs_dry(self):
        """On the basic tier (100 tokens/s, 2 s burst) the 21st rapid create is a 429."""
        with running_simulator(tier="basic") as sim, SignedClient(sim) as client:
            codes = [client.post(ORDERS, order_body(price="0.10", count="1.00")).status_code for _ in range(25)]
            assert 429 in codes
            assert codes[:20] == [201] * 20
            limits = client.get("/account/limits").json()
            assert limits["write"] == {"refill_rate": 100, "bucket_capacity": 200}

    def test_a_batch_create_is_billed_per_item(self):
        """On the basic tier (200 write tokens of burst) a batch of 20 creates spends the whole bucket, as 20
        single creates would (10 tokens each, docs/kalshi.md §4.3): the next create is a 429."""
        with running_simulator(tier="basic") as sim, SignedClient(sim) as client:
            orders = [order_body(price="0.10", count="1.00") for _ in range(20)]
            assert client.post(ORDERS + "/batched", {"orders": orders}).status_code == 201
            assert client.post(ORDERS, order_body(price="0.10", count="1.00")).status_code == 429


class TestRequestCounts:
    def test_requests_are_counted_per_route_and_reported_in_stats(self, sim, client):
        """Every REST request is counted under its route name (faulted ones too); /_sim/stats reports them."""
        client.post(ORDERS, order_body(price="0.10"))
        client.post(ORDERS + "/batched", {"orders": [order_body(price="0.10"), order_body(price="0.11")]})
        sim.exchange.faults.configure({"error_5xx_next": {"create_order": 1}})
        assert client.post(ORDERS, order_body(price="0.10")).status_code == 500
        stats = admin_request(sim, "GET", "/stats").json()
        assert stats["requests"] == {"create_order": 2, "batch_create": 1}
        assert stats["created_orders"] == 3
