"""The reconciliation routes of the control server (bearer token like every route but health).

- ``POST /api/reconcile`` — run a full pass now; 200 with its JSON report (``ok``, ``started_at``,
  ``duration_ms``, ``pages``, ``discrepancies: [{kind, ticker, ledger, exchange, evidence, action}]``, …)
  whether or not it found anything; ``ok`` false (still 200) when the exchange could not be read.
- ``GET /api/reconcile/last`` — the last pass's report; 404 before the first.
A port failure answers 503 without internals.
"""

from __future__ import annotations

from typing import Any

from loguru import logger
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route


def reconcile_routes(port: Any) -> list[BaseRoute]:
    """Routes over a port with ``reconcile_now(source)`` and ``reconcile_last()``."""

    async def run(_request: Request) -> Response:
        try:
            report = await run_in_threadpool(port.reconcile_now, "http")
        except Exception as exc:
            logger.exception("control: reconcile failed")
            return JSONResponse({"error": "reconciliation unavailable", "detail": type(exc).__name__}, 503)
        return JSONResponse(report)

    async def last(_request: Request) -> Response:
        try:
            report = await run_in_threadpool(port.reconcile_last)
        except Exception as exc:
            logger.exception("control: last reconcile failed")
            return JSONResponse({"error": "reconciliation unavailable", "detail": type(exc).__name__}, 503)
        if report is None:
            return JSONResponse({"error": "no reconciliation has run yet"}, 404)
        return JSONResponse(report)

    return [Route("/api/reconcile", run, methods=["POST"]), Route("/api/reconcile/last", last, methods=["GET"])]
