"""The control API's OpenAPI 3.1 description, served at ``GET /api/openapi.json`` (token like every route).

:data:`OPERATIONS` lists every route the control server serves: method, path, summary, the JSON body it takes
(a JSON Schema, ``None`` for no body) and every status it may answer. Statuses every route shares are added
to each: 401 (no or a wrong token; ``/api/health`` excepted) and 413 on every POST (a body over the cap). No
route documents a 500: a handler that raises answers a JSON 500 naming only the exception type, a defect the
fuzz test looks for.
``tests/control/test_openapi.py`` checks that the description and the running server's routes are the same.
"""

from __future__ import annotations

from typing import Any

_STR = {"type": "string"}
_DEC = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$"}
_REASON = {"type": "object", "properties": {"reason": _STR}}
_ORDER = {
    "type": "object",
    "required": ["ticker", "outcome", "action", "count", "price", "time_in_force"],
    "properties": {
        "ticker": _STR, "outcome": {"enum": ["yes", "no"]}, "action": {"enum": ["buy", "sell"]},
        "count": _DEC, "price": _DEC, "time_in_force": {"enum": ["gtc", "ioc", "fok"]},
        "reference_price": _DEC, "client_order_id": _STR,
    },
}

# (method, path, summary, request body schema or None, statuses)
OPERATIONS: tuple[tuple[str, str, str, dict[str, Any] | None, tuple[int, ...]], ...] = (
    ("GET", "/api/health", "liveness (no token)", None, (200,)),
    ("GET", "/api/status", "gate, children, mode, exchange, limits, last stop", None, (200, 503)),
    ("GET", "/api/openapi.json", "this description", None, (200,)),
    ("GET", "/api/limits", "the six kill-switch triggers: code, config key, value, limit, distance, action", None,
     (200, 404, 503)),
    ("POST", "/api/bot/emergency-stop", "close the gate and stop; any body, even an unreadable one", _REASON,
     (200, 500)),
    ("POST", "/api/bot/reset", "lift a HALTED gate after review", {**_REASON, "required": ["reason"]},
     (200, 400, 409)),
    ("POST", "/api/orders", "place one order and wait for its confirmation", _ORDER, (200, 400, 409, 422, 503)),
    ("GET", "/api/orders", "recent orders, newest first", None, (200, 400, 422)),
    ("POST", "/api/orders/batch", "place orders together", {"type": "object", "required": ["orders"],
                                                            "properties": {"orders": {"type": "array",
                                                                                      "items": _ORDER}}},
     (200, 400, 409, 422, 503)),
    ("POST", "/api/orders/cancel-all", "cancel every resting order", _REASON, (202, 400, 503)),
    ("POST", "/api/orders/{client_order_id}/cancel", "cancel what remains of one order", None, (202, 404, 503)),
    ("GET", "/api/orders/{client_order_id}", "one order", None, (200, 404)),
    ("GET", "/api/positions", "open positions", None, (200,)),
    ("GET", "/api/trades", "the trade journal (?since, ?until, ?format=json|csv)", None, (200, 400, 503)),
    ("GET", "/api/report", "the day's report (?day)", None, (200, 400, 503)),
    ("GET", "/api/activity", "the activity log, newest first (?category, ?since, ?limit)", None, (200, 400, 503)),
    ("POST", "/api/mode", "the paper/live switch (two steps to live, one to paper)",
     {"type": "object", "required": ["mode"], "properties": {"mode": {"enum": ["live", "paper"]},
                                                              "challenge": _STR, "confirm": _STR}},
     (200, 400, 409, 410)),
    ("POST", "/api/reconcile", "run a reconciliation pass now; its report", None, (200, 503)),
    ("GET", "/api/reconcile/last", "the last reconciliation pass's report", None, (200, 404, 503)),
    ("GET", "/", "the dashboard's sign-in page (no token; holds no data)", None, (200,)),
    ("GET", "/favicon.ico", "nothing (no token)", None, (204,)),
    ("GET", "/static/{name}", "the page's dashboard.js and dashboard.css (no token); other names 401/404", None,
     (200, 404)),
    ("GET", "/api/account", "balance, positions with marks, today's P&L with fees apart, exposure vs limits",
     None, (200, 503)),
    ("GET", "/api/dashboard", "everything the dashboard shows, at once", None, (200,)),
    ("GET", "/api/events", "the dashboard's snapshot as server-sent events (a stream: snapshot, ping)", None,
     (200,)),
    ("GET", "/metrics", "Prometheus text format", None, (200,)),
)
STREAMS = frozenset({"/api/events"})  # answers that never end (the fuzzer leaves them out)
SHARED = (401, 413)


def document(operations: tuple[tuple[str, str, str, dict[str, Any] | None, tuple[int, ...]], ...] = OPERATIONS,
             ) -> dict[str, Any]:
    """The OpenAPI document for ``operations``."""
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, body, statuses in operations:
        op: dict[str, Any] = {"summary": summary, "responses": {
            str(code): {"description": "see the summary", "content": {"application/json": {"schema": {}}}}
            for code in sorted(set(statuses) | ({413} if method == "POST" else set())
                               | ({401} if path != "/api/health" else set()))}}
        params = [{"name": name, "in": "path", "required": True, "schema": _STR}
                  for name in ("client_order_id", "name") if "{" + name + "}" in path]
        if params:
            op["parameters"] = params
        if body is not None:
            op["requestBody"] = {"required": False, "content": {"application/json": {"schema": body}}}
        paths.setdefault(path, {})[method.lower()] = op
    return {"openapi": "3.1.0", "info": {"title": "kalshi-guard control API", "version": "1"},
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}], "paths": paths}


def documented_statuses(method: str, path: str) -> set[int]:
    """Every status ``method path`` may answer, by its description."""
    op = document()["paths"][path][method.lower()]
    return {int(code) for code in op["responses"]}


def openapi_routes() -> list[Any]:
    """``GET /api/openapi.json``."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    doc = document()

    async def serve(_request: Request) -> JSONResponse:
        return JSONResponse(doc)

    return [Route("/api/openapi.json", serve, methods=["GET"])]


def daemon_routes(daemon: Any) -> list[Any]:
    """Every route the daemon adds to the control server's own (health, status, emergency stop, reset): the
    one list the daemon mounts and the description is checked against."""
    from kalshi_guard.control.activity import activity_routes
    from kalshi_guard.control.console import console_routes
    from kalshi_guard.control.journal import journal_routes
    from kalshi_guard.control.mode import mode_routes
    from kalshi_guard.control.order_routes import order_routes
    from kalshi_guard.control.reconcile_routes import reconcile_routes

    return [*order_routes(daemon.trading), *journal_routes(daemon.ledger), *mode_routes(daemon),
            *activity_routes(daemon.ledger), *reconcile_routes(daemon), *openapi_routes(),
            *console_routes(getattr(daemon, "console", None))]
