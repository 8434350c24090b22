"""The simulator answers as today's Kalshi does where a client built on the official SDK would notice:
enumerations the models enforce, the rate-limit introspection, error codes, stream control frames, and the
routes that used to be shadowed by templated ones or missing."""

from __future__ import annotations

import json
from decimal import Decimal

from websockets.sync.client import connect

from kalshi_guard.exchange.signing import Signer
from kalshi_guard.simulator.markets import DEFAULT_TICKERS
from kalshi_guard.simulator.testing import ORDERS, T0, order_body, running_simulator

T1 = DEFAULT_TICKERS[1]


class TestModelsToday:
    def test_settlement_bounds_type_is_an_allowed_value(self, client):
        """Markets say ``settlement_bounds_type: default`` (no bounds); ``none`` breaks the SDK's Market model."""
        assert {m["settlement_bounds_type"] for m in client.get("/markets").json()["markets"]} == {"default"}
        assert client.get(f"/markets/{T0}").json()["market"]["settlement_bounds_type"] == "default"

    def test_account_limits_name_a_kalshi_tier_and_list_grants(self, client):
        """``/account/limits`` has ``grants`` and a Kalshi tier name; the unthrottled default reports the
        highest tier, granted manually, with the budget it enforces."""
        body = client.get("/account/limits").json()
        assert body["usage_tier"] == "prestige"
        assert body["grants"] == [{"exchange_instance": "event_contract", "level": "prestige", "source": "manual"}]
        assert body["write"]["refill_rate"] >= 1_000_000

    def test_basic_tier_has_no_grant(self):
        """A self-service tier carries an empty ``grants`` list and its own budget."""
        from kalshi_guard.simulator.testing import SignedClient

        with running_simulator(tier="basic") as sim, SignedClient(sim) as client:
            body = client.get("/account/limits").json()
        assert (body["usage_tier"], body["grants"], body["write"]["refill_rate"]) == ("basic", [], 100)

    def test_too_little_balance_is_error_code_available_balance_too_low(self, client):
        """Kalshi's ``error.code`` is ``available_balance_too_low`` itself; details say what was needed."""
        resp = client.post(ORDERS, order_body(price="0.99", count="900000.00"))
        assert resp.status_code == 400
        err = resp.json()["error"]
        assert err["code"] == "available_balance_too_low"
        assert "available" in err["details"]


class TestStreamControl:
    def test_unsubscribed_carries_seq_on_every_channel(self, sim):
        """``unsubscribed`` has ``seq`` (AsyncAPI: required) for unsequenced channels too."""
        headers = Signer(sim.key_id, sim.private_key).headers("GET", "/trade-api/ws/v2")
        with connect(sim.ws_url, additional_headers=headers) as ws:
            ws.send(json.dumps({"id": 1, "cmd": "subscribe", "params": {"channels": ["ticker", "fill"]}}))
            sids = [json.loads(ws.recv(timeout=5))["msg"]["sid"] for _ in range(2)]
            ws.send(json.dumps({"id": 2, "cmd": "unsubscribe", "params": {"sids": sids}}))
            frames = [json.loads(ws.recv(timeout=5)) for _ in sids]
        assert [(f["type"], f["sid"], f["seq"]) for f in frames] == [("unsubscribed", s, 1) for s in sids]


class TestRoutesOnceShadowed:
    def test_queue_positions_is_not_read_as_an_order_id(self, client):
        """``/portfolio/orders/queue_positions`` lists resting orders with the contracts ahead of each."""
        mine = client.post(ORDERS, order_body(price="0.20", count="4.00")).json()["order_id"]
        body = client.get(f"/portfolio/orders/queue_positions?market_tickers={T0}").json()
        assert body == {"queue_positions": [{"order_id": mine, "market_ticker": T0, "queue_position_fp": "0.00"}]}

    def test_queue_position_counts_contracts_ahead_at_the_price(self, sim, client):
        """An order behind 7 contracts resting earlier at its price is at ``7.00`` (0-indexed)."""
        client.post(ORDERS, order_body(price="0.20", count="7.00"))
        behind = client.post(ORDERS, order_body(price="0.20", count="2.00")).json()["order_id"]
        assert client.get(f"/portfolio/orders/{behind}/queue_position").json() == {"queue_position_fp": "7.00"}
        client.delete(f"{ORDERS}/{behind}")
        assert client.get(f"/portfolio/orders/{behind}/queue_position").json()["error"]["code"] == "not_found"

    def test_orderbooks_returns_each_requested_book(self, client):
        """``/markets/orderbooks?tickers=A&tickers=B`` answers both books, each as ``/markets/{t}/orderbook``."""
        body = client.get(f"/markets/orderbooks?tickers={T0}&tickers={T1}").json()
        assert [b["ticker"] for b in body["orderbooks"]] == [T0, T1]
        assert body["orderbooks"][0]["orderbook_fp"] == client.get(f"/markets/{T0}/orderbook").json()["orderbook_fp"]

    def test_trades_lists_public_trades_newest_first(self, client):
        """``/markets/trades`` is the public tape: a trade we take shows with its price, count and taker side."""
        ask = Decimal(client.get(f"/markets/{T0}").json()["market"]["yes_ask_dollars"])
        client.post(ORDERS, order_body(price=f"{ask:.2f}", count="1.00", tif="immediate_or_cancel"))
        body = client.get(f"/markets/trades?ticker={T0}").json()
        assert body["cursor"] == ""
        newest = body["trades"][0]
        assert (newest["ticker"], newest["count_fp"], Decimal(newest["yes_price_dollars"]), newest["taker_side"]) == \
            (T0, "1.00", ask, "yes")
        assert (newest["taker_outcome_side"], newest["taker_book_side"], newest["is_block_trade"]) == \
            ("yes", "bid", False)


class TestEventsAndSeries:
    def test_events_group_the_markets(self, sim, client):
        """``/events`` lists each event once; ``/events/{t}`` carries its markets."""
        events = client.get("/events").json()["events"]
        expected = {m.event_ticker for m in sim.exchange.markets.values()}
        assert sorted(e["event_ticker"] for e in events) == sorted(expected)
        event = sim.exchange.markets[T0].event_ticker
        body = client.get(f"/events/{event}").json()
        assert body["event"]["series_ticker"] == event.split("-")[0]
        assert {m["ticker"] for m in body["markets"]} == {T0, T1}

    def test_series_list_and_one(self, client):
        """``/series`` lists the series of the events; ``/series/{t}`` answers one, 404 an unknown one."""
        tickers = [s["ticker"] for s in client.get("/series").json()["series"]]
        assert "KXSIMCPI" in tickers
        one = client.get("/series/KXSIMCPI").json()["series"]
        assert (one["ticker"], one["categories"]) == ("KXSIMCPI", [one["category"]])
        assert [s["ticker"] for s in client.get(f"/series?category={one['category']}").json()["series"]] == \
            ["KXSIMCPI"]
        assert client.get("/series/NOPE").status_code == 404


class TestUnknownRoutes:
    def test_missing_route_is_a_json_404(self, client):
        """A route the simulator does not serve answers Kalshi's JSON envelope, not a plain-text page."""
        resp = client.get("/structured_targets")
        assert (resp.status_code, resp.headers["content-type"]) == (404, "application/json")
        assert resp.json()["error"]["code"] == "not_found"
