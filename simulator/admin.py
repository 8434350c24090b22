"""Admin and fault endpoints under ``/_sim`` (loopback only): faults, pauses, lifecycle, outsiders.

They are not signed like the trading API but need the simulator's admin token (``Authorization: Bearer
<token>``, see ``SimulatorServer.admin_token``; 401 otherwise), and a POST needs ``Content-Type:
application/json`` (415 otherwise): a web page in a browser on the same machine can send neither without
a CORS preflight the simulator never answers, so it cannot settle markets or switch on faults.
"""

from __future__ import annotations

import hmac
import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kalshi_guard.simulator.wire import ApiError

if TYPE_CHECKING:
    from kalshi_guard.simulator.server import SimulatorServer

PREFIX = "/_sim"


def admin_routes(server: SimulatorServer) -> list[Route]:
    """Routes: ``GET/POST/DELETE /_sim/faults``, ``POST /_sim/pause``, ``POST /_sim/markets/{ticker}/{action}``,
    ``POST /_sim/external/trade``, ``POST /_sim/external/close``,
    ``POST /_sim/external/counterparty`` (``{"order_id", "count"}``: a stranger trades against a resting
    order), ``POST /_sim/disconnect``, ``POST /_sim/archive`` (``{"before"?: unix s}``: move the historical
    cutoff), ``GET /_sim/stats`` (orders created, WebSocket connections, pings sent, and
    ``requests``: REST requests received per route name, e.g. ``{"create_order": 3, "batch_create": 1}``).

    Errors answer 400 ``{"error": "..."}``; a missing or wrong admin token 401, a POST that is not JSON 415.
    """
    ex = server.exchange

    async def body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        data = json.loads(raw) if raw else {}
        if not isinstance(data, dict):
            raise ValueError("body must be a JSON object")
        return data

    expected = ("Bearer " + server.admin_token).encode()

    def refusal(request: Request) -> JSONResponse | None:
        given = request.headers.get("authorization", "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, expected):
            return JSONResponse({"error": "the simulator's admin token is required (Authorization: Bearer)"},
                                status_code=401, headers={"WWW-Authenticate": 'Bearer realm="kalshi-sim"'})
        kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if request.method == "POST" and kind != "application/json":
            return JSONResponse({"error": "Content-Type must be application/json"}, status_code=415)
        return None

    def guarded(fn: Any) -> Any:
        async def run(request: Request) -> JSONResponse:
            refused = refusal(request)
            if refused is not None:
                return refused
            try:
                return JSONResponse(await fn(request))
            except (ValueError, KeyError, TypeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
            except ApiError as err:
                return JSONResponse(err.body(), status_code=err.status)
        return run

    async def faults(request: Request) -> dict[str, Any]:
        if request.method == "POST":
            ex.faults.configure(await body(request))
        elif request.method == "DELETE":
            ex.faults.clear()
        return ex.faults.snapshot()

    async def pause(request: Request) -> dict[str, Any]:
        data = await body(request)
        if "trading_active" in data:
            ex.set_trading_active(bool(data["trading_active"]))
        if "exchange_active" in data:
            ex.set_exchange_active(bool(data["exchange_active"]))
        return ex.exchange_status()

    async def market_action(request: Request) -> dict[str, Any]:
        ticker, action = request.path_params["ticker"], request.path_params["action"]
        data = await body(request)
        if action == "close":
            ex.close_market(ticker)
        elif action == "determine":
            ex.determine(ticker, data["result"])
        elif action == "settle":
            ex.settle(ticker, data.get("result"))
        elif action == "pause":
            ex.pause_market(ticker)
        elif action == "resume":
            ex.resume_market(ticker)
        else:
            raise ValueError(f"unknown action {action!r}")
        return ex.market(ticker)

    async def external_trade(request: Request) -> dict[str, Any]:
        d = await body(request)
        oid = ex.external_trade(d["ticker"], d["side"], d["count"], d["price"])
        return {"order_id": oid}

    async def external_close(request: Request) -> dict[str, Any]:
        d = await body(request)
        return {"order_id": ex.external_close(d["ticker"])}

    async def counterparty(request: Request) -> dict[str, Any]:
        d = await body(request)
        return ex.counterparty_fill(d["order_id"], d["count"])

    async def archive(request: Request) -> dict[str, Any]:
        d = await body(request)
        ex.archive(float(d["before"]) if d.get("before") is not None else None)
        return ex.historical_cutoff()

    async def disconnect(request: Request) -> dict[str, Any]:
        server.ctx.hub.close_all()
        return {"ok": True}

    async def stats(request: Request) -> dict[str, Any]:
        return {"created_orders": ex.created_order_count(), "ws_connections": len(server.ctx.hub.conns),
                "pings_sent": server.ctx.hub.pings_sent, "requests": dict(server.ctx.requests)}

    return [
        Route(PREFIX + "/faults", guarded(faults), methods=["GET", "POST", "DELETE"]),
        Route(PREFIX + "/pause", guarded(pause), methods=["POST"]),
        Route(PREFIX + "/markets/{ticker}/{action}", guarded(market_action), methods=["POST"]),
        Route(PREFIX + "/external/trade", guarded(external_trade), methods=["POST"]),
        Route(PREFIX + "/external/close", guarded(external_close), methods=["POST"]),
        Route(PREFIX + "/external/counterparty", guarded(counterparty), methods=["POST"]),
        Route(PREFIX + "/disconnect", guarded(disconnect), methods=["POST"]),
        Route(PREFIX + "/archive", guarded(archive), methods=["POST"]),
        Route(PREFIX + "/stats", guarded(stats), methods=["GET"]),
    ]
