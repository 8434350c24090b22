"""The activity log for operators: ``GET /api/activity`` and ``kalshi-guard activity``.

The activity log holds what the daemon did on its own account (KILL_SWITCH, RESET, HALT, ALERT_GIVEN_UP,
ALERT_CHANNEL_DISABLED, DAILY_SUMMARY, …). The route answers ``{"activity": [...]}`` newest first,
filtered by ``category`` and ``since`` (Unix seconds), at most ``limit`` (default 100, at most 1000)
rows; every row is scrubbed of secrets. A bad parameter is a 400; a ledger failure a 503 (no internals).
The command prints one line per row, or the JSON with ``--json``; ``--since`` takes a duration
(``30m``, ``2h``, ``1d``) or an ISO time. Exit codes: 0 ok, 1 daemon unreachable or refused.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from loguru import logger
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

EX_OK = 0
EX_FAIL = 1
MAX_LIMIT = 1000
MAX_SINCE = 253402300799.0  # 9999-12-31T23:59:59Z: the last instant a timestamp column holds
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: float | None = None) -> float:
    """``30m``/``2h``/``1d``/``45s`` ago, or an ISO 8601 time (UTC when no zone), as Unix seconds.

    Raises ``ValueError`` for anything else.
    """
    text = text.strip()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhd])", text)
    if m:
        return (now if now is not None else time.time()) - float(m.group(1)) * _UNITS[m.group(2)]
    at = datetime.fromisoformat(text)
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def row_json(row: Any) -> dict[str, Any]:
    """One activity row as JSON (``at`` as ISO 8601 UTC)."""
    return {"id": row.id, "at": datetime.fromtimestamp(row.at, UTC).isoformat(), "category": row.category,
            "level": row.level, "message": row.message, "details": dict(row.details or {})}


def activity_routes(ledger: Any) -> list[BaseRoute]:
    """``GET /api/activity`` over ``ledger`` (protected by the server's bearer token like every route)."""
    from kalshi_guard.control.http_guard import scrub
    from kalshi_guard.control.logs import mask_secrets

    async def activity(request: Request) -> Response:
        q = request.query_params
        try:
            limit = int(q.get("limit", "100"))
            since = float(q["since"]) if q.get("since") else None
            if not 1 <= limit <= MAX_LIMIT or (since is not None and not 0 <= since <= MAX_SINCE):
                raise ValueError  # also NaN and infinities (every comparison with them is false)
        except ValueError:
            return JSONResponse({"error": f"limit must be 1..{MAX_LIMIT} and since Unix seconds (0..{MAX_SINCE:.0f})"},
                                400)
        category = q.get("category") or None
        try:
            rows = await run_in_threadpool(ledger.activity, category, limit, since)
        except Exception as exc:
            logger.error("control: activity read failed: {}", type(exc).__name__)
            return JSONResponse({"error": "activity unavailable", "detail": type(exc).__name__}, 503)
        body = json.loads(mask_secrets(json.dumps(scrub([row_json(r) for r in rows]))))
        return JSONResponse({"activity": body})

    return [Route("/api/activity", activity, methods=["GET"])]


# -- the command ------------------------------------------------------------------------------------


def add_parser(subparsers: Any, name: str, common: argparse.ArgumentParser) -> None:
    """Register ``activity``."""
    help_ = "show the daemon's activity log (kill switch, resets, halts, alert failures, …)"
    p = subparsers.add_parser(name, parents=[common], help=help_, description=help_)
    p.add_argument("--category", help="only this category, e.g. KILL_SWITCH, RESET, HALT, ALERT_GIVEN_UP")
    p.add_argument("--since", help="only rows at or after: a duration ago (30m, 2h, 1d) or an ISO time")
    p.add_argument("--limit", type=int, default=100, help=f"at most this many rows (1..{MAX_LIMIT})")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.set_defaults(func=run_activity)


def format_rows(rows: list[dict[str, Any]]) -> str:
    """One line per row, oldest first: time, level, category, message, details."""
    lines = []
    for r in reversed(rows):
        details = " ".join(f"{k}={v}" for k, v in (r.get("details") or {}).items())
        lines.append(f"{r['at'][:19].replace('T', ' ')}  {r['level']:<8} {r['category']:<22} {r['message']}"
                     + (f"  [{details}]" if details else ""))
    return "\n".join(lines) if lines else "(no activity)"


def run_activity(args: argparse.Namespace) -> int:
    """``kalshi-guard activity``: 0 with the rows printed, 1 if the daemon is unreachable or refuses."""
    from kalshi_guard.control.cmd_ops import _client, _err, _no_token, _refusal, resolve_target

    params: dict[str, str] = {"limit": str(args.limit)}
    if args.category:
        params["category"] = args.category.upper()
    if args.since:
        try:
            params["since"] = repr(parse_since(args.since))
        except ValueError:
            print(f"kalshi-guard: --since {args.since!r}: give a duration (30m, 2h, 1d) or an ISO time",
                  file=sys.stderr)
            return EX_FAIL
    target = resolve_target(args)
    if target.token is None:
        _no_token(target)
        return EX_FAIL
    try:
        with _client(target) as client:
            response = client.get("/api/activity", params=params)
    except httpx.HTTPError as exc:
        _err(f"the daemon does not answer at {target.base_url} ({type(exc).__name__})")
        return EX_FAIL
    if response.status_code != 200:
        _err(f"activity refused: {_refusal(response)}")
        return EX_FAIL
    rows = response.json()["activity"]
    print(json.dumps(rows, indent=2) if args.json else format_rows(rows))
    return EX_OK
