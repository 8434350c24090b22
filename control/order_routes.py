"""The order API of the control server (bearer token like every route but health).

- ``POST /api/orders`` — one order ``{"ticker", "outcome", "action", "count", "price", "time_in_force",
  "reference_price"?, "client_order_id"?}`` (counts and prices as decimal strings). Waits for the
  confirmation and returns it as JSON: 200 when the order reached the exchange (FILLED, PARTIAL,
  CANCELED, TIMEOUT, UNKNOWN), 409 when it was REJECTED (with ``reason``), 422 for a malformed or
  out-of-range request naming ``field`` and ``rule`` (nothing written, nothing sent), 400 for bad JSON
  or JSON nested too deep, 413 for a body over 64 KiB (refused while reading, see ``control.request_body``).
- ``POST /api/orders/batch`` — ``{"orders": [...]}``; every order is validated first (a bad one: 422
  naming ``orders[i].field``, nothing sent); returns ``{"confirmations": [...]}`` in order.
- ``POST /api/orders/{client_order_id}/cancel`` — cancel what remains (202; the confirmation reports it).
- ``POST /api/orders/cancel-all`` — cancel every resting order (202).
- ``GET /api/orders?status=&limit=`` (newest first), ``GET /api/orders/{client_order_id}``,
  ``GET /api/positions`` — from the ledger.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from enum import Enum
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from kalshi_guard.actors.facade import TradingFacade
from kalshi_guard.actors.orders_api import (
    Confirmation,
    ConfirmationStatus,
    Outcome,
    outcome_price,
    parse_order_request,
)
from kalshi_guard.control.request_body import clean_reason, parse_json
from kalshi_guard.core.errors import RequestInvalid

# Pre-trade reasons that are really request errors: the caller named something that does not exist.
_FIELD_OF_REASON = {"MARKET_UNKNOWN": ("ticker", "must be a market the exchange knows"),
                    "OFF_TICK": ("price", "must lie on the market's tick grid")}
MAX_BATCH = 20


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _order_json(row: Any) -> dict[str, Any]:
    """A ledger order as JSON, as the bot gave it: ``outcome``, ``action`` and ``price`` of that outcome;
    Kalshi's YES-book side and limit come as the extras ``book_side`` and ``book_price``.
    ``remaining_count`` is what may still fill: the exchange's last report when the ledger has one, else 0
    for a final order and the unfilled rest for an open one (an IOC settled by its booked fills never gets
    a separate report)."""
    out = _plain(row)
    if out.get("remaining_count") is None:
        out["remaining_count"] = str(row.open_count)
    if isinstance(row.price, Decimal) and out.get("outcome") in ("yes", "no"):
        out["book_price"] = str(row.price)
        out["price"] = str(outcome_price(Outcome(out["outcome"]), row.price))
    return out


def _invalid(field: str, rule: str, status: int = 422) -> Response:
    return JSONResponse({"error": f"{field}: {rule}", "field": field, "rule": rule}, status_code=status)


async def _body(request: Request) -> tuple[Any, Response | None]:
    """The decoded body, or a 400 naming what is wrong with it (invalid JSON, too deep); never raises.
    The size was capped while reading (413 before this runs)."""
    body, problem = parse_json(await request.body())
    if problem is not None:
        return None, _invalid("body", f"must be a JSON object ({problem})", 400)
    return body, None


def _reply(conf: Confirmation) -> Response:
    if conf.status is ConfirmationStatus.REJECTED and conf.reason in _FIELD_OF_REASON:
        field, rule = _FIELD_OF_REASON[conf.reason]
        return JSONResponse({"error": f"{field}: {rule}", "field": field, "rule": rule, "reason": conf.reason,
                             "detail": conf.detail}, status_code=422)
    status = 409 if conf.status is ConfirmationStatus.REJECTED else 200
    return JSONResponse(conf.to_json(), status_code=status)


def order_routes(trading: TradingFacade) -> list[BaseRoute]:
    """The routes, bound to the daemon's facade."""

    async def place(request: Request) -> Response:
        body, problem = await _body(request)
        if problem is not None:
            return problem
        if not isinstance(body, dict):
            return _invalid("body", "must be a JSON object", 400)
        try:
            req = parse_order_request(body)
        except RequestInvalid as exc:
            return _invalid(exc.field, exc.rule)
        return _reply(await run_in_threadpool(trading.place, req))

    async def place_batch(request: Request) -> Response:
        body, problem = await _body(request)
        if problem is not None:
            return problem
        orders = body.get("orders") if isinstance(body, dict) else None
        if not isinstance(orders, list) or not orders:
            return _invalid("orders", "must be a non-empty array of orders")
        if len(orders) > MAX_BATCH:
            return _invalid("orders", f"at most {MAX_BATCH} orders per batch")
        if set(body) - {"orders"}:
            return _invalid(sorted(set(body) - {"orders"})[0], "unknown field")
        reqs = []
        for i, item in enumerate(orders):
            if not isinstance(item, dict):
                return _invalid(f"orders[{i}]", "must be a JSON object")
            try:
                reqs.append(parse_order_request(item))
            except RequestInvalid as exc:
                return _invalid(f"orders[{i}].{exc.field}", exc.rule)
        confs = await run_in_threadpool(trading.place_batch_and_confirm, reqs)
        return JSONResponse({"confirmations": [c.to_json() for c in confs]})

    async def cancel(request: Request) -> Response:
        coid = request.path_params["client_order_id"]
        if await run_in_threadpool(trading.order, coid) is None:
            return JSONResponse({"error": "no such order", "field": "client_order_id"}, status_code=404)
        accepted = await run_in_threadpool(trading.cancel, coid)
        return JSONResponse({"accepted": accepted}, status_code=202 if accepted else 503)

    async def cancel_all(request: Request) -> Response:
        body, problem = await _body(request)
        if problem is not None:
            return problem
        reason = body.get("reason") if isinstance(body, dict) else None
        reason = clean_reason(reason) if isinstance(reason, str) and reason.strip() else "HTTP API"
        accepted = await run_in_threadpool(trading.cancel_all, reason)
        return JSONResponse({"accepted": accepted}, status_code=202 if accepted else 503)

    async def list_orders(request: Request) -> Response:
        status = request.query_params.get("status")
        try:
            limit = int(request.query_params.get("limit", "100"))
        except ValueError:
            return _invalid("limit", "must be an integer from 1 to 1000")
        if not 1 <= limit <= 1000:
            return _invalid("limit", "must be an integer from 1 to 1000")
        try:
            rows = await run_in_threadpool(lambda: trading.orders(status=status.upper() if status else None,
                                                                  limit=limit))
        except ValueError:
            return _invalid("status", "must be an order status (INTENT, SENT, RESTING, PARTIAL, UNKNOWN, "
                            "FILLED, CANCELED, REJECTED)")
        return JSONResponse({"orders": [_order_json(r) for r in rows]})

    async def get_order(request: Request) -> Response:
        row = await run_in_threadpool(trading.order, request.path_params["client_order_id"])
        if row is None:
            return JSONResponse({"error": "no such order", "field": "client_order_id"}, status_code=404)
        return JSONResponse(_order_json(row))

    async def positions(_request: Request) -> Response:
        return JSONResponse({"positions": _plain(await run_in_threadpool(trading.positions))})

    return [
        Route("/api/orders", place, methods=["POST"]),
        Route("/api/orders", list_orders, methods=["GET"]),
        Route("/api/orders/batch", place_batch, methods=["POST"]),
        Route("/api/orders/cancel-all", cancel_all, methods=["POST"]),
        Route("/api/orders/{client_order_id}/cancel", cancel, methods=["POST"]),
        Route("/api/orders/{client_order_id}", get_order, methods=["GET"]),
        Route("/api/positions", positions, methods=["GET"]),
    ]
