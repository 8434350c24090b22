"""The control API's description is the routes the daemon serves (control.openapi)."""

from __future__ import annotations

from types import SimpleNamespace

from starlette.applications import Starlette
from starlette.routing import Route

from kalshi_guard.control.openapi import OPERATIONS, daemon_routes, document
from kalshi_guard.control.server import build_app


def served_operations() -> set[tuple[str, str]]:
    """(method, path) of every route of the app the daemon builds (the middleware unwrapped)."""
    app = build_app(SimpleNamespace(), "t" * 32, extra_routes=daemon_routes(SimpleNamespace(trading=None, ledger=None)))
    while not isinstance(app, Starlette):
        app = app.app
    ops = set()
    for route in app.routes:
        assert isinstance(route, Route)
        ops |= {(m, route.path) for m in (route.methods or set()) if m != "HEAD"}
    return ops


def test_every_route_is_described_and_every_description_is_a_route():
    described = {(method, path) for method, path, *_ in OPERATIONS}
    assert described == served_operations()


def test_the_document_is_openapi_with_a_bearer_scheme():
    doc = document()
    assert doc["openapi"].startswith("3.")
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert "401" not in doc["paths"]["/api/health"]["get"]["responses"]
    assert "401" in doc["paths"]["/api/orders"]["post"]["responses"]
