"""Every answer the simulator gives validates, whole, against Kalshi's published specs and today's models.

One scripted session walks every route of the simulator's REST table (successes and their documented
errors) and every WebSocket frame type it sends; each body is validated in full — required fields, types,
enumerations, fixed-point patterns, date-times — by ``kalshi_spec`` (the stored OpenAPI/AsyncAPI specs with
``tests/fixtures/kalshi/current.yaml`` laid over them). A route added to the table without a case here
fails ``test_every_route_is_walked``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.sync.client import connect

from kalshi_guard.exchange.signing import Signer
from kalshi_guard.simulator.handlers import TABLE
from kalshi_guard.simulator.markets import DEFAULT_TICKERS
from kalshi_guard.simulator.testing import ORDERS, T0, SignedClient, order_body, running_simulator
from kalshi_guard.simulator.ws import CHANNELS

T1 = DEFAULT_TICKERS[1]
OG = "/portfolio/order_groups"
# Routes newer than the stored spec (3.15.0), with what the current API documents for them.
NEWER_THAN_SPEC = {("DELETE", "/portfolio/events/orders"): "cancel-all (3.31.0): 204 without a body"}


def _walk(sim: Any, client: SignedClient) -> list[tuple[str, str, int, Any]]:
    """Drive every route once or more; returns ``(METHOD, route path, status, body)`` per answer."""
    seen: list[tuple[str, str, int, Any]] = []

    def call(method: str, route: str, path: str | None = None, body: Any = None, status: int | None = None) -> Any:
        resp = client.request(method, path or route, json=body) if body is not None else \
            client.request(method, path or route)
        out = resp.json() if resp.content else None
        if status is not None:
            assert resp.status_code == status, (method, path or route, resp.status_code, out)
        seen.append((method, route, resp.status_code, out))
        return out

    # order writes (V2), their errors, and the retired v1 endpoints
    rest = call("POST", ORDERS, body=order_body(price="0.10", count="9.00"), status=201)
    oid = rest["order_id"]
    call("POST", ORDERS, body=order_body(price="0.99", count="2.00", tif="immediate_or_cancel"), status=201)
    call("POST", ORDERS, body=order_body(price="0.99", count="900000.00"), status=400)  # balance too low
    call("POST", ORDERS, body=order_body(ticker="NOPE"), status=404)
    call("POST", ORDERS + "/batched", body={"orders": [order_body(price="0.11"), {**order_body(), "count": 3}]},
         status=201)
    call("POST", f"{ORDERS}/{{order_id}}/decrease", f"{ORDERS}/{oid}/decrease", {"reduce_by": "1.00"}, 200)
    call("POST", f"{ORDERS}/{{order_id}}/amend", f"{ORDERS}/{oid}/amend",
         {"ticker": T0, "side": "bid", "price": "0.12", "count": "5.00"}, 200)
    other = call("POST", ORDERS, body=order_body(price="0.12", count="3.00"), status=201)["order_id"]
    call("GET", "/portfolio/orders/{order_id}/queue_position", f"/portfolio/orders/{other}/queue_position",
         status=200)
    call("GET", "/portfolio/orders/queue_positions", f"/portfolio/orders/queue_positions?market_tickers={T0}",
         status=200)
    call("GET", "/portfolio/orders/queue_positions", "/portfolio/orders/queue_positions", status=400)
    call("DELETE", f"{ORDERS}/{{order_id}}", f"{ORDERS}/{other}", status=200)
    call("DELETE", f"{ORDERS}/{{order_id}}", f"{ORDERS}/{other}", status=404)
    call("GET", "/portfolio/orders/{order_id}/queue_position", f"/portfolio/orders/{other}/queue_position",
         status=404)
    ids = [call("POST", ORDERS, body=order_body(price="0.10"), status=201)["order_id"] for _ in range(2)]
    call("DELETE", ORDERS + "/batched", body={"orders": [{"order_id": i} for i in [*ids, "nope"]]}, status=200)
    call("DELETE", ORDERS, status=204)
    call("POST", "/portfolio/orders", body=order_body(), status=410)
    call("DELETE", "/portfolio/orders/{order_id}", f"/portfolio/orders/{oid}", status=410)

    # portfolio reads
    call("GET", "/portfolio/orders", status=200)
    call("GET", "/portfolio/orders/{order_id}", f"/portfolio/orders/{oid}", status=200)
    call("GET", "/portfolio/orders/{order_id}", "/portfolio/orders/nope", status=404)
    call("GET", "/portfolio/fills", status=200)
    call("GET", "/portfolio/positions", status=200)
    call("GET", "/portfolio/balance", status=200)

    # order groups
    gid = call("POST", OG + "/create", body={"contracts_limit": 5}, status=201)["order_group_id"]
    call("GET", OG, status=200)
    call("GET", OG + "/{group_id}", f"{OG}/{gid}", status=200)
    call("PUT", OG + "/{group_id}/limit", f"{OG}/{gid}/limit", {"contracts_limit": 7}, 200)
    call("PUT", OG + "/{group_id}/trigger", f"{OG}/{gid}/trigger", status=200)
    call("PUT", OG + "/{group_id}/reset", f"{OG}/{gid}/reset", status=200)
    call("DELETE", OG + "/{group_id}", f"{OG}/{gid}", status=200)
    call("GET", OG + "/{group_id}", f"{OG}/{gid}", status=404)

    # markets, events, series, exchange, account
    call("GET", "/markets", status=200)
    call("GET", "/markets", "/markets?status=open&limit=2", status=200)
    call("GET", "/markets/{ticker}", f"/markets/{T0}", status=200)
    call("GET", "/markets/{ticker}", "/markets/NOPE", status=404)
    call("GET", "/markets/{ticker}/orderbook", f"/markets/{T0}/orderbook", status=200)
    call("GET", "/markets/orderbooks", f"/markets/orderbooks?tickers={T0}&tickers={T1}", status=200)
    call("GET", "/markets/trades", status=200)
    call("GET", "/markets/trades", f"/markets/trades?ticker={T0}&limit=1", status=200)
    call("GET", "/events", status=200)
    call("GET", "/events", "/events?status=open&with_nested_markets=true", status=200)
    call("GET", "/events/{event_ticker}", f"/events/{sim.exchange.markets[T0].event_ticker}", status=200)
    call("GET", "/events/{event_ticker}", "/events/NOPE", status=404)
    call("GET", "/series", status=200)
    series = call("GET", "/series", status=200)["series"][0]["ticker"]
    call("GET", "/series/{series_ticker}", f"/series/{series}", status=200)
    call("GET", "/exchange/status", status=200)
    call("GET", "/exchange/schedule", status=200)
    call("GET", "/exchange/user_data_timestamp", status=200)
    call("GET", "/account/limits", status=200)
    call("GET", "/account/endpoint_costs", status=200)

    # any other read the table serves (a route added without a case above), its path filled in plainly
    walked = {(m, p) for m, p, status, _ in seen if status < 300}
    fill = {"{ticker}": T0, "{order_id}": oid, "{event_ticker}": sim.exchange.markets[T0].event_ticker,
            "{series_ticker}": series, "{group_id}": gid}
    for method, route, *_ in TABLE:
        if method == "GET" and (method, route) not in walked:
            path = route
            for key, value in fill.items():
                path = path.replace(key, value)
            call("GET", route, path)

    # settlement last: it closes T0
    sim.exchange.settle(T0, "yes")
    call("GET", "/portfolio/settlements", status=200)
    call("POST", ORDERS, body=order_body(), status=400)  # MARKET_INACTIVE after close
    return seen


@pytest.fixture(scope="module")
def walked() -> list[tuple[str, str, int, Any]]:
    """The answers of one scripted session against a fresh simulator."""
    with running_simulator(seed=7) as sim, SignedClient(sim) as client:
        return _walk(sim, client)


def _template(path: str) -> str:
    """Our table's path parameters named as the spec names them."""
    return path.replace("{group_id}", "{order_group_id}")


class TestRest:
    def test_every_route_is_walked(self, walked):
        """Each (method, path) the simulator serves answered at least once, and with a 2xx (a read the script
        has no case for is called with its path filled in; one that needs more gets a case above)."""
        ok = {(m, p) for m, p, status, _ in walked if status < 300}
        missing = [(m, p) for m, p, *_ in TABLE if (m, p) not in ok and _name(m, p) not in {"legacy_create",
                                                                                           "legacy_cancel"}]
        assert missing == []

    def test_every_served_route_is_a_kalshi_route(self, kalshi_spec):
        """Nothing the simulator serves is invented: each route is in the spec (or listed as newer)."""
        documented = kalshi_spec.spec_paths()
        extra = [(m, p) for m, p, *_ in TABLE if (m, _template(p)) not in documented
                 and (m, p) not in NEWER_THAN_SPEC]
        assert extra == []

    def test_every_answer_validates(self, walked, kalshi_spec):
        """Every body — successes against the operation's schema, errors against Kalshi's envelope — is valid."""
        problems = []
        for method, route, status, body in walked:
            if (method, route) in NEWER_THAN_SPEC:
                assert status == 204
                assert body is None
                continue
            for v in kalshi_spec.response_violations(method, _template(route), status, body):
                problems.append(f"{method} {route} {status}: {v}")
        assert problems == []

    def test_unknown_routes_answer_the_json_error_shape(self, client, kalshi_spec):
        """A path the simulator does not serve is a 404 and a wrong method a 405, both in Kalshi's envelope."""
        for method, path, status in (("GET", "/no/such/route", 404), ("GET", "/historicalish", 404),
                                     ("PATCH", "/markets", 405)):
            resp = client.request(method, path)
            assert resp.status_code == status
            assert resp.headers["content-type"] == "application/json"
            assert kalshi_spec.response_violations(method, "/markets", status, resp.json()) == []
            assert resp.json()["error"]["code"] == ("not_found" if status == 404 else "method_not_allowed")


def _name(method: str, path: str) -> str:
    return next(n for m, p, n, *_ in TABLE if (m, p) == (method, path))


# frame type (and for "ok", whether msg is a list) -> AsyncAPI schema
FRAME_SCHEMAS = {
    "subscribed": "subscribedResponsePayload", "unsubscribed": "unsubscribedResponsePayload",
    "error": "errorResponsePayload", "orderbook_snapshot": "orderbookSnapshotPayload",
    "orderbook_delta": "orderbookDeltaPayload", "ticker": "tickerPayload", "trade": "tradePayload",
    "fill": "fillPayload", "user_order": "userOrderPayload", "market_position": "marketPositionPayload",
    "market_lifecycle_v2": "marketLifecycleV2Payload", "order_group_updates": "orderGroupUpdatesPayload",
}


def _schema_of(frame: dict[str, Any]) -> str:
    if frame["type"] == "ok":
        return "listSubscriptionsResponsePayload" if isinstance(frame.get("msg"), list) else "okResponsePayload"
    return FRAME_SCHEMAS[frame["type"]]


class TestStream:
    def test_every_frame_type_validates(self, sim, kalshi_spec):
        """Data frames of every channel and every control frame (subscribed, ok, list, unsubscribed, error)
        validate whole against the AsyncAPI payload of their type."""
        headers = Signer(sim.key_id, sim.private_key).headers("GET", "/trade-api/ws/v2")
        frames: list[dict[str, Any]] = []
        with connect(sim.ws_url, additional_headers=headers) as ws, SignedClient(sim) as client:
            def send(cmd: dict[str, Any]) -> None:
                ws.send(json.dumps(cmd))

            def until(pred: Any) -> dict[str, Any]:
                while True:
                    frame = json.loads(ws.recv(timeout=5))
                    frames.append(frame)
                    if pred(frame):
                        return frame

            market = [c for c in CHANNELS if c != "order_group_updates"]  # that one takes no market filter
            send({"id": 1, "cmd": "subscribe", "params": {"channels": market, "market_tickers": [T0]}})
            send({"id": 6, "cmd": "subscribe", "params": {"channels": ["order_group_updates"]}})
            subs = {until(lambda f: f["type"] == "subscribed")["msg"]["channel"] for _ in CHANNELS}
            assert subs == set(CHANNELS)
            client.post("/portfolio/order_groups/create", {"contracts_limit": 5})
            client.post(ORDERS, order_body(price="0.99", count="1.00", tif="immediate_or_cancel"))
            client.post(ORDERS, order_body(price="0.05", count="1.00"))
            sim.exchange.determine(T0, "no")
            until(lambda f: f["type"] == "market_lifecycle_v2")
            send({"id": 2, "cmd": "list_subscriptions"})
            listing = until(lambda f: f.get("id") == 2)["msg"]
            book_sid = next(s["sid"] for s in listing if s["channel"] == "orderbook_delta")
            send({"id": 3, "cmd": "update_subscription",
                  "params": {"sids": [book_sid], "market_tickers": [T1], "action": "add_markets"}})
            until(lambda f: f.get("id") == 3)
            send({"id": 4, "cmd": "unsubscribe", "params": {"sids": [s["sid"] for s in listing]}})
            for _ in listing:
                until(lambda f: f["type"] == "unsubscribed")
            send({"id": 5, "cmd": "no_such_command"})
            until(lambda f: f["type"] == "error")
        kinds = {k for ks, _s, _p in CHANNELS.values() for k in ks}
        assert kinds | {"subscribed", "ok", "unsubscribed", "error"} <= {f["type"] for f in frames}
        problems = [f"{f['type']}: {v}" for f in frames for v in kalshi_spec.stream_violations(_schema_of(f), f)]
        assert problems == []
