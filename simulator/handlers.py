"""REST handlers: each maps a parsed call to ``(status, body)`` using the exchange; the route table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kalshi_guard.simulator.rest import Call
from kalshi_guard.simulator.wire import ApiError

if TYPE_CHECKING:
    from kalshi_guard.simulator.context import SimContext

R = tuple[int, Any]


def _obj(call: Call) -> dict[str, Any]:
    if not isinstance(call.body, dict):
        raise ApiError(400, "bad_request", "a JSON object body is required")
    return call.body


def create_order(ctx: SimContext, acct: str, call: Call) -> R:
    return 201, ctx.exchange.create_order(acct, _obj(call))


def batch_create(ctx: SimContext, acct: str, call: Call) -> R:
    items = _obj(call).get("orders")
    if not isinstance(items, list) or not items:
        raise ApiError(400, "invalid_parameters", "orders must be a non-empty array")
    out = []
    for item in items:
        try:
            res = ctx.exchange.create_order(acct, item)
            out.append({**res, "error": None})
        except ApiError as err:
            coid = item.get("client_order_id") if isinstance(item, dict) else None
            out.append({"client_order_id": coid, "error": err.body()["error"]})
    return 201, {"orders": out}


def cancel_order(ctx: SimContext, acct: str, call: Call) -> R:
    return 200, ctx.exchange.cancel_order(acct, call.params["order_id"])


def batch_cancel(ctx: SimContext, acct: str, call: Call) -> R:
    items = _obj(call).get("orders")
    if not isinstance(items, list) or not items:
        raise ApiError(400, "invalid_parameters", "orders must be a non-empty array")
    out = []
    for item in items:
        oid = item.get("order_id") if isinstance(item, dict) else None
        try:
            out.append({**ctx.exchange.cancel_order(acct, str(oid)), "error": None})
        except ApiError as err:
            out.append({"order_id": oid, "reduced_by": "0.00", "error": err.body()["error"]})
    return 200, {"orders": out}


def cancel_all(ctx: SimContext, acct: str, call: Call) -> R:
    ctx.exchange.cancel_all(acct)
    return 204, None


def amend_order(ctx: SimContext, acct: str, call: Call) -> R:
    return 200, ctx.exchange.amend_order(acct, call.params["order_id"], _obj(call))


def decrease_order(ctx: SimContext, acct: str, call: Call) -> R:
    return 200, ctx.exchange.decrease_order(acct, call.params["order_id"], _obj(call))


def get_order(ctx: SimContext, acct: str, call: Call) -> R:
    return 200, {"order": ctx.exchange.get_order(acct, call.params["order_id"])}


def get_orders(ctx: SimContext, acct: str, call: Call) -> R:
    orders, cursor = ctx.exchange.list_orders(acct, call.query)
    hidden = ctx.exchange.faults.unlisted
    if hidden:  # archived orders drop out of the listing (nautilus_trader#3870): only fills remain
        orders = [o for o in orders if o.get("client_order_id") not in hidden]
    return 200, {"orders": orders, "cursor": cursor}


def get_fills(ctx: SimContext, acct: str, call: Call) -> R:
    fills, cursor = ctx.exchange.list_fills(acct, call.query)
    return 200, {"fills": fills, "cursor": cursor}


def get_positions(ctx: SimContext, acct: str, call: Call) -> R:
    return 200, ctx.exchange.list_positions(acct, call.query)


def get_balance(ctx: SimContext, acct: str, call: Call) -> R:
    return 200, ctx.exchange.balance(acct)


def get_settlements(ctx: SimContext, acct: str, call: Call) -> R:
    items, cursor = ctx.exchange.list_settlements(acct, call.query)
    return 200, {"settlements": items, "cursor": cursor}


def historical_cutoff(ctx: SimContext, acct: str, call: Call) -> R:
    return 200, ctx.exchange.historical_cutoff()


def historical_orders(ctx: SimContext, acct: str, call: Call) -> R:
    items, cursor = ctx.exchange.list_historical_orders(acct, call.query)
    return 200, {"orders": items, "cursor": cursor}


def historical_fills(ctx: SimContext, acct: str, call: Call) -> R:
    items, cursor = ctx.exchange.list_historical_fills(acct, call.query)
    return 200, {"fills": items, "cursor": cursor}


def get_markets(ctx: SimContext, acct: str, call: Call) -> R:
    items, cursor = ctx.exchange.list_markets(call.query)
    return 200, {"markets": items, "cursor": cursor}


def get_market(ctx: SimContext, acct: str, call: Call) -> R:
    return 200, {"market": ctx.exchange.market(call.params["ticker"])}


def get_orderbook(ctx: SimContext, acct: str, call: Call) -> R:
    try:
        depth = int(call.query.get("depth") or 0)
    except ValueError:
        raise ApiError(400, "invalid_parameters", "depth must be an integer") from None
    if not 0 <= depth <= 100:
        raise ApiError(400, "invalid_parameters", "depth must be 0..100")
    return 200, ctx.exchange.orderbook(call.params["ticker"], depth)


def get_orderbooks(ctx: SimContext, acct: str, call: Call) -> R:
    return 200, ctx.exchange.orderbooks(call.multi.get("tickers", []))


def get_trades(ctx: SimContext, acct: str, call: Call) -> R:
    trades, cursor = ctx.exchange.list_trades(call.query)
    return 200, {"trades": trades, "cursor": cursor}


def get_events(ctx: SimContext, acct: str, call: Call) -> R:
    events, cursor = ctx.exchange.list_events(call.query)
    return 200, {"events": events, "cursor": cursor}


def get_event(ctx: SimContext, acct: str, call: Call) -> R:
    return 200, ctx.exchange.event(call.params["event_ticker"], call.query.get("with_nested_markets") == "true")


def get_series_list(ctx: SimContext, acct: str, call: Call) -> R:
    return 200, {"series": ctx.exchange.list_series(call.query)}


def get_series(ctx: SimContext, acct: str, call: Call) -> R:
    return 200, ctx.exchange.series(call.params["series_ticker"])


def queue_position(ctx: SimContext, acct: str, call: Call) -> R:
    return 200, ctx.exchange.queue_position(acct, call.params["order_id"])


def queue_positions(ctx: SimContext, acct: str, call: Call) -> R:
    return 200, ctx.exchange.queue_positions(acct, call.query)


def exchange_status(ctx: SimContext, acct: str, call: Call) -> R:
    return 200, ctx.exchange.exchange_status()


def exchange_schedule(ctx: SimContext, acct: str, call: Call) -> R:
    day = [{"open_time": "00:00", "close_time": "23:59"}]
    days = {d: day for d in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")}
    return 200, {"schedule": {"standard_hours": [{"start_time": "2025-08-07T00:00:00Z",
                                                   "end_time": "2099-01-01T00:00:00Z", **days}],
                              "maintenance_windows": []}}


def user_data_timestamp(ctx: SimContext, acct: str, call: Call) -> R:
    from kalshi_guard.simulator.wire import rfc3339

    return 200, {"as_of_time": rfc3339(ctx.exchange.clock())}


def account_limits(ctx: SimContext, acct: str, call: Call) -> R:
    return 200, ctx.buckets.limits()


def endpoint_costs(ctx: SimContext, acct: str, call: Call) -> R:
    costs = [{"method": m, "path": "/trade-api/v2" + p, "cost": c} for m, p, _n, _h, _k, c, _a in TABLE if c != 10]
    return 200, {"default_cost": 10, "endpoint_costs": costs}


def create_group(ctx: SimContext, acct: str, call: Call) -> R:
    return 201, ctx.exchange.create_group(acct, _obj(call))


def get_groups(ctx: SimContext, acct: str, call: Call) -> R:
    return 200, {"order_groups": ctx.exchange.list_groups(acct)}


def get_group(ctx: SimContext, acct: str, call: Call) -> R:
    return 200, ctx.exchange.get_group(acct, call.params["group_id"])


def delete_group(ctx: SimContext, acct: str, call: Call) -> R:
    ctx.exchange.delete_group(acct, call.params["group_id"])
    return 200, {}


def reset_group(ctx: SimContext, acct: str, call: Call) -> R:
    ctx.exchange.reset_group(acct, call.params["group_id"])
    return 200, {}


def trigger_group(ctx: SimContext, acct: str, call: Call) -> R:
    ctx.exchange.trigger_group(acct, call.params["group_id"])
    return 200, {}


def group_limit(ctx: SimContext, acct: str, call: Call) -> R:
    ctx.exchange.update_group_limit(acct, call.params["group_id"], _obj(call))
    return 200, {}


def deprecated_v1(ctx: SimContext, acct: str, call: Call) -> R:
    raise ApiError(410, "deprecated_v1_order_endpoint", "Please switch to the V2 endpoints",
                   "https://docs.kalshi.com/api-reference/orders/create-order-v2")


EO = "/portfolio/events/orders"
OG = "/portfolio/order_groups"
# (method, path, route name = fault endpoint name, handler, bucket, token cost, signed)
TABLE: list[tuple[str, str, str, Any, str, int, bool]] = [
    ("POST", EO + "/batched", "batch_create", batch_create, "write", 10, True),
    ("DELETE", EO + "/batched", "batch_cancel", batch_cancel, "write", 2, True),
    ("POST", EO, "create_order", create_order, "write", 10, True),
    ("DELETE", EO, "cancel_all", cancel_all, "write", 2, True),
    ("DELETE", EO + "/{order_id}", "cancel_order", cancel_order, "write", 2, True),
    ("POST", EO + "/{order_id}/amend", "amend_order", amend_order, "write", 10, True),
    ("POST", EO + "/{order_id}/decrease", "decrease_order", decrease_order, "write", 10, True),
    ("GET", "/portfolio/orders", "get_orders", get_orders, "read", 10, True),
    ("POST", "/portfolio/orders", "legacy_create", deprecated_v1, "write", 100, True),
    # fixed paths before the templated ones they would otherwise match (`/portfolio/orders/{order_id}`)
    ("GET", "/portfolio/orders/queue_positions", "queue_positions", queue_positions, "read", 10, True),
    ("GET", "/portfolio/orders/{order_id}/queue_position", "queue_position", queue_position, "read", 10, True),
    ("GET", "/portfolio/orders/{order_id}", "get_order", get_order, "read", 2, True),
    ("DELETE", "/portfolio/orders/{order_id}", "legacy_cancel", deprecated_v1, "write", 20, True),
    ("GET", "/portfolio/fills", "get_fills", get_fills, "read", 10, True),
    ("GET", "/portfolio/positions", "get_positions", get_positions, "read", 10, True),
    ("GET", "/portfolio/balance", "get_balance", get_balance, "read", 10, True),
    ("GET", "/portfolio/settlements", "get_settlements", get_settlements, "read", 10, True),
    ("GET", "/historical/cutoff", "historical_cutoff", historical_cutoff, "read", 10, False),
    ("GET", "/historical/orders", "historical_orders", historical_orders, "read", 10, True),
    ("GET", "/historical/fills", "historical_fills", historical_fills, "read", 10, True),
    ("GET", "/markets", "get_markets", get_markets, "read", 10, False),
    ("GET", "/markets/orderbooks", "get_orderbooks", get_orderbooks, "read", 10, True),
    ("GET", "/markets/trades", "get_trades", get_trades, "read", 10, False),
    ("GET", "/markets/{ticker}", "get_market", get_market, "read", 10, False),
    ("GET", "/markets/{ticker}/orderbook", "get_orderbook", get_orderbook, "read", 10, True),
    ("GET", "/events", "get_events", get_events, "read", 10, False),
    ("GET", "/events/{event_ticker}", "get_event", get_event, "read", 10, False),
    ("GET", "/series", "get_series_list", get_series_list, "read", 10, False),
    ("GET", "/series/{series_ticker}", "get_series", get_series, "read", 10, False),
    ("GET", "/exchange/status", "exchange_status", exchange_status, "read", 10, False),
    ("GET", "/exchange/schedule", "exchange_schedule", exchange_schedule, "read", 10, False),
    ("GET", "/exchange/user_data_timestamp", "user_data_timestamp", user_data_timestamp, "read", 10, True),
    ("GET", "/account/limits", "account_limits", account_limits, "read", 10, True),
    ("GET", "/account/endpoint_costs", "endpoint_costs", endpoint_costs, "read", 10, False),
    ("POST", OG + "/create", "create_group", create_group, "write", 10, True),
    ("GET", OG, "get_groups", get_groups, "read", 10, True),
    ("GET", OG + "/{group_id}", "get_group", get_group, "read", 10, True),
    ("DELETE", OG + "/{group_id}", "delete_group", delete_group, "write", 10, True),
    ("PUT", OG + "/{group_id}/reset", "reset_group", reset_group, "write", 10, True),
    ("PUT", OG + "/{group_id}/trigger", "trigger_group", trigger_group, "write", 10, True),
    ("PUT", OG + "/{group_id}/limit", "group_limit", group_limit, "write", 10, True),
]
