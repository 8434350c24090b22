"""The trade journal and the day report for people: ``kalshi-guard trades``, ``kalshi-guard report`` and
``GET /api/trades``, ``GET /api/report``.

Both commands read the ledger directly (they work with the daemon stopped; SQLite's WAL and PostgreSQL let
them read beside a running daemon). ``trades [--since DATE] [--until DATE] [--format table|csv|json]``
prints one row per fill and per settlement (columns: :data:`ledger.journal.COLUMNS`); dates are UTC days
(``2026-11-30``) or ISO 8601 times, ``--until`` a day means up to the end of that day. ``report [--day
DATE]`` prints the day's P&L (gross, fees, net), fills, settlements, wins and losses, largest loss and
kill-switch events. Exit 0; 2 for a bad date; 78 for a bad config; 1 when the ledger cannot be read.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from kalshi_guard.core.errors import LedgerError
from kalshi_guard.core.exits import EX_FAIL, EX_OK, EX_USAGE
from kalshi_guard.ledger.journal import COLUMNS, DayReport, JournalRow

_HELP = {
    "trades": "export the trade journal: every fill and settlement (table, CSV or JSON)",
    "report": "the day's P&L (gross, fees, net), trades, wins and losses, kill-switch events",
}


def parse_when(text: str, *, end: bool = False) -> datetime:
    """A UTC day (``2026-11-30``; with ``end`` its following midnight) or an ISO 8601 time (naive = UTC).
    Raises ValueError naming the accepted forms."""
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime.combine(day, time(0), tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD) or an ISO 8601 time") from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def to_csv(rows: list[JournalRow]) -> str:
    """The journal as CSV with a header row of :data:`COLUMNS`."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row.as_strings())
    return buf.getvalue()


def to_table(rows: list[JournalRow]) -> str:
    """Aligned columns for a terminal (the ids shortened; CSV and JSON carry them whole)."""
    shown = ("at", "kind", "ticker", "client_order_id", "outcome", "action", "price", "count", "fee", "slippage",
             "realized_pnl")
    data = [{k: r.as_strings()[k] for k in shown} for r in rows]
    for d in data:
        d["at"] = d["at"][:19].replace("T", " ")
        d["client_order_id"] = d["client_order_id"][:12]
    widths = {k: max([len(k), *(len(d[k]) for d in data)]) for k in shown}
    lines = ["  ".join(k.upper().ljust(widths[k]) for k in shown)]
    lines += ["  ".join(d[k].ljust(widths[k]) for k in shown) for d in data]
    return "\n".join(lines) + ("\n" if data else "\n(no trades)\n")


def report_json(r: DayReport) -> dict[str, Any]:
    """The report as JSON (Decimals as strings)."""
    return {"day": r.day.isoformat(), "gross_pnl": str(r.gross_pnl), "fees": str(r.fees), "net_pnl": str(r.net_pnl),
            "fills": r.fills, "settlements": r.settlements, "wins": r.wins, "losses": r.losses,
            "largest_loss": str(r.largest_loss), "kill_switch_events": list(r.kill_switch_events)}


def report_text(r: DayReport) -> str:
    """A few aligned lines."""
    lines = [f"day            {r.day.isoformat()} (UTC)",
             f"P&L            gross {r.gross_pnl}   fees {r.fees}   net {r.net_pnl}",
             f"trades         {r.fills} fills, {r.settlements} settlements",
             f"wins / losses  {r.wins} / {r.losses}   largest loss {r.largest_loss}",
             f"kill switch    {len(r.kill_switch_events)} event(s)"]
    lines += [f"               - {m}" for m in r.kill_switch_events]
    return "\n".join(lines) + "\n"


# -- CLI ----------------------------------------------------------------------------------------------


def add_parser(subparsers: Any, name: str, common: argparse.ArgumentParser) -> None:
    """Register ``trades`` or ``report``."""
    p = subparsers.add_parser(name, parents=[common], help=_HELP[name], description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    if name == "trades":
        p.add_argument("--since", help="from this UTC day or time (inclusive)")
        p.add_argument("--until", help="up to this UTC day (inclusive) or time (exclusive)")
        p.add_argument("--format", choices=("table", "csv", "json"), default="table")
        p.set_defaults(func=_run_trades)
    else:
        p.add_argument("--day", help="the UTC day (default: today)")
        p.add_argument("--json", action="store_true", help="print JSON")
        p.set_defaults(func=_run_report)


def _open_ledger(args: argparse.Namespace) -> Any:
    from pathlib import Path

    from kalshi_guard.config.loader import load_settings
    from kalshi_guard.config.paths import ledger_url
    from kalshi_guard.ledger.store import Ledger

    settings = load_settings(Path(args.config) if getattr(args, "config", None) else None)
    return Ledger.open(ledger_url(settings))


def _run_trades(args: argparse.Namespace) -> int:
    try:
        since = parse_when(args.since) if args.since else None
        until = parse_when(args.until, end=True) if args.until else None
    except ValueError as exc:
        print(f"kalshi-guard trades: {exc}", file=sys.stderr)
        return EX_USAGE
    try:
        ledger = _open_ledger(args)
        try:
            rows = ledger.trades(since, until)
        finally:
            ledger.close()
    except LedgerError as exc:
        print(f"kalshi-guard trades: the ledger cannot be read ({exc})", file=sys.stderr)
        return EX_FAIL
    if args.format == "csv":
        sys.stdout.write(to_csv(rows))
    elif args.format == "json":
        print(json.dumps([r.as_strings() for r in rows], indent=1))
    else:
        sys.stdout.write(to_table(rows))
    return EX_OK


def _run_report(args: argparse.Namespace) -> int:
    try:
        day = date.fromisoformat(args.day) if args.day else datetime.now(UTC).date()
    except ValueError:
        print(f"kalshi-guard report: --day {args.day!r} is not a date (YYYY-MM-DD)", file=sys.stderr)
        return EX_USAGE
    try:
        ledger = _open_ledger(args)
        try:
            report = ledger.day_report(day)
        finally:
            ledger.close()
    except LedgerError as exc:
        print(f"kalshi-guard report: the ledger cannot be read ({exc})", file=sys.stderr)
        return EX_FAIL
    if args.json:
        print(json.dumps(report_json(report), indent=1))
    else:
        sys.stdout.write(report_text(report))
    return EX_OK


# -- HTTP ---------------------------------------------------------------------------------------------


def journal_routes(ledger: Any) -> list[BaseRoute]:
    """``GET /api/trades?since=&until=&format=json|csv`` and ``GET /api/report?day=`` (token like every route)."""

    async def trades(request: Request) -> Response:
        q = request.query_params
        try:
            since = parse_when(q["since"]) if q.get("since") else None
            until = parse_when(q["until"], end=True) if q.get("until") else None
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        fmt = q.get("format", "json")
        if fmt not in ("json", "csv"):
            return JSONResponse({"error": "format must be json or csv", "field": "format"}, 400)
        try:
            rows = await run_in_threadpool(ledger.trades, since, until)
        except LedgerError:
            return JSONResponse({"error": "the ledger cannot be read"}, 503)
        if fmt == "csv":
            return Response(to_csv(rows), media_type="text/csv; charset=utf-8")
        return JSONResponse({"columns": list(COLUMNS), "trades": [r.as_strings() for r in rows]})

    async def report(request: Request) -> Response:
        raw = request.query_params.get("day")
        try:
            day = date.fromisoformat(raw) if raw else datetime.now(UTC).date()
        except ValueError:
            return JSONResponse({"error": "day must be YYYY-MM-DD", "field": "day"}, 400)
        try:
            result = await run_in_threadpool(ledger.day_report, day)
        except LedgerError:
            return JSONResponse({"error": "the ledger cannot be read"}, 503)
        return JSONResponse(report_json(result))

    return [Route("/api/trades", trades, methods=["GET"]), Route("/api/report", report, methods=["GET"])]
