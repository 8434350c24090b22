"""The simulator's REST API under ``/trade-api/v2``: signed routes, token buckets and HTTP faults."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kalshi_guard.simulator.buckets import DEFAULT_COST
from kalshi_guard.simulator.wire import ApiError

if TYPE_CHECKING:
    from kalshi_guard.simulator.context import SimContext

PREFIX = "/trade-api/v2"
TOO_MANY = b'{"error":"too many requests"}'
PER_ITEM = frozenset({"batch_create", "batch_cancel"})  # billed per item of ``orders`` (docs/kalshi.md §4.3)
Handler = Callable[["SimContext", str, "Call"], tuple[int, Any]]


@dataclass(frozen=True, slots=True)
class Call:
    """One parsed request handed to a handler."""

    params: dict[str, str]
    query: dict[str, str]  # the last value of each query parameter
    body: Any
    multi: dict[str, list[str]] = field(default_factory=dict)  # every value (``?tickers=A&tickers=B``)


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(obj, separators=(",", ":")).encode()


def reset_connection(scope: MutableMapping[str, Any]) -> None:
    """Abort the client's TCP connection with an RST (SO_LINGER 0); no HTTP response is sent."""
    transport = scope.get("sim.transport")
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class _NoResponse(Response):
    """Sends nothing: the connection was already reset."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        return


def _json(status: int, body: Any) -> Response:
    if status == 204:
        return Response(status_code=204)
    return Response(dumps(body), status_code=status, media_type="application/json")


def _decode(raw: bytes) -> tuple[Any, bool]:
    """``(body, ok)``: the decoded JSON body (None when empty); ``ok`` False when it does not decode."""
    if not raw:
        return None, True
    try:
        return json.loads(raw), True
    except ValueError:
        return None, False


def _items(body: Any) -> int:
    """How many items a batch body bills for: the length of its ``orders`` array (at least 1)."""
    orders = body.get("orders") if isinstance(body, dict) else None
    return max(1, len(orders)) if isinstance(orders, list) else 1


def endpoint(ctx: SimContext, name: str, handler: Handler, *, kind: str = "read", cost: int = DEFAULT_COST,
             auth: bool = True) -> Callable[[Request], Any]:
    """Wrap a sync handler with faults, signature check, token bucket and the error envelope.

    Every request is counted in ``ctx.requests[name]`` as it arrives (faulted ones too). Batch routes
    (:data:`PER_ITEM`) cost ``cost`` per item, like Kalshi.
    """

    async def run(request: Request) -> Response:
        ctx.requests[name] += 1
        hook = ctx.before.get(name)
        if hook is not None:
            hook()
        fault = ctx.exchange.faults.http_decision(name)
        if fault.latency:
            await asyncio.sleep(fault.latency)
        if fault.reset_before:
            reset_connection(request.scope)
            return _NoResponse()
        try:
            account = ctx.default_account
            if auth:
                account = ctx.keys.authenticate(request.headers, request.method, request.url.path)
            body, decoded = _decode(await request.body())
            billed = cost * _items(body) if name in PER_ITEM else cost
            if fault.rate_limited or not ctx.buckets.take(account, kind, billed):
                return Response(TOO_MANY, status_code=429, media_type="application/json")
            if fault.error_5xx:
                raise ApiError(500, "internal_server_error", "internal server error (injected)")
            if not decoded:
                return _json(400, {"code": "bad_request", "message": "invalid JSON body",
                                   "details": "request body could not be decoded"})
            qp = request.query_params
            multi = {k: [v for item in qp.getlist(k) for v in item.split(",") if v] for k in qp}
            call = Call(dict(request.path_params), dict(qp), body, multi)
            status, out = handler(ctx, account, call)
        except ApiError as err:
            status, out = err.status, err.body()
        if status < 300 and (fault.reset_after or fault.timeout_after):
            if fault.timeout_after:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ctx.stopping.wait(), fault.hold_s)
            reset_connection(request.scope)
            return _NoResponse()
        if fault.error_5xx_after and status < 300:
            status, out = 500, ApiError(500, "internal_server_error", "internal server error (injected)").body()
        if fault.short_page and isinstance(out, dict) and status < 300:
            out = {k: (v[: len(v) // 2] if isinstance(v, list) else v) for k, v in out.items() if k != "cursor"}
        if fault.no_order_id and isinstance(out, dict) and status < 300:
            out = {k: v for k, v in out.items() if k != "order_id"}
        return _json(status, out)

    return run


def routes(ctx: SimContext, table: list[tuple[str, str, str, Handler, str, int, bool]]) -> list[Route]:
    """Starlette routes for a table of ``(method, path, name, handler, kind, cost, auth)``."""
    return [Route(PREFIX + path, endpoint(ctx, name, h, kind=kind, cost=cost, auth=auth), methods=[method],
                  name=name) for method, path, name, h, kind, cost, auth in table]


async def unrouted(request: Request, exc: Exception) -> Response:
    """A path the simulator does not serve (404) or a method it does not take there (405), answered in
    Kalshi's JSON error envelope rather than a plain-text page."""
    status = getattr(exc, "status_code", 404)
    if status == 405:
        err = ApiError(405, "method_not_allowed", f"{request.method} is not allowed on {request.url.path}")
    else:
        err = ApiError(404, "not_found", f"no route {request.method} {request.url.path}")
    return _json(err.status, err.body())
