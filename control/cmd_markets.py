"""The ``kalshi-guard markets`` subcommand: the exchange's markets with their prices, to pick an order.

``markets [--status open] [--search TEXT] [--json]`` lists tickers, titles, the YES and NO bid/ask and
the close time, read from the exchange's public ``GET /markets`` (no key needed). The exchange is the
running daemon's (its ``/api/status`` names it: the embedded simulator in paper mode), else the one the
configuration names (``exchange.base_url``, the environment's default, or the paper simulator's
``simulator.host``/``simulator.port``); ``--exchange-url`` overrides both.

An order fills at once when its limit meets the other side: buying YES needs a limit at or above the YES
ask, buying NO one at or above the NO ask; selling needs a limit at or below the bid.

Exit codes: 0 listed (possibly none matching); 1 the exchange could not be read; 78 configuration error.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from kalshi_guard.control.cmd_ops import _client, _err, resolve_target
from kalshi_guard.core.errors import ExchangeError

EX_OK = 0
EX_FAIL = 1
STATUSES = ("unopened", "open", "paused", "closed", "settled")
HELP = "list the exchange's markets with bid/ask and close time"
MAX_PAGES = 50


def add_parser(subparsers: Any, name: str, common: argparse.ArgumentParser) -> None:
    """Register ``markets``."""
    p = subparsers.add_parser(name, parents=[common], help=HELP, description=HELP)
    p.add_argument("--status", choices=(*STATUSES, "all"), default="open",
                   help="only markets in this state (default open; 'all' for every state)")
    p.add_argument("--search", metavar="TEXT", help="only markets whose ticker, event or title contains TEXT")
    p.add_argument("--json", action="store_true", help="print the markets as JSON")
    p.add_argument("--exchange-url", metavar="URL", help="the exchange's REST base URL (…/trade-api/v2)")
    p.set_defaults(func=run)


def exchange_url(args: argparse.Namespace) -> str:
    """The REST base URL to read: ``--exchange-url``, the running daemon's exchange, else the configuration's.

    Raises ConfigError when the configuration names no exchange.
    """
    if getattr(args, "exchange_url", None):
        return str(args.exchange_url).rstrip("/")
    target = resolve_target(args)
    if target.token is not None:
        try:
            with _client(target, timeout=2.0) as client:
                answer = client.get("/api/status")
            url = answer.json().get("exchange", {}).get("base_url") if answer.status_code == 200 else None
            if isinstance(url, str) and url:
                return url.rstrip("/")
        except (httpx.HTTPError, ValueError, AttributeError):
            pass  # no daemon: the configuration says where the exchange is
    from kalshi_guard.config.endpoints import REST_PATH, resolve
    from kalshi_guard.config.loader import load_settings
    from kalshi_guard.config.schema import Mode

    config = getattr(args, "config", None)
    settings = load_settings(None if config is None else Path(config))
    if settings.mode is Mode.PAPER and settings.exchange.base_url is None:
        return f"http://{settings.simulator.host}:{settings.simulator.port}{REST_PATH}"
    return resolve(settings.exchange).rest_url


def fetch(base_url: str, status: str | None, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Every market (all pages) of ``GET {base_url}/markets``, optionally in one query-vocabulary state.

    Raises httpx.HTTPError when the exchange does not answer or answers an error.
    """
    from kalshi_guard.exchange.wire_reads import Market

    out: list[dict[str, Any]] = []
    cursor = None
    with httpx.Client(timeout=timeout, trust_env=False) as client:
        for _ in range(MAX_PAGES):
            params = {"limit": "1000", "status": status, "cursor": cursor}
            answer = client.get(f"{base_url}/markets", params={k: v for k, v in params.items() if v})
            answer.raise_for_status()
            body = answer.json()
            out.extend(_row(Market.parse(m)) for m in body.get("markets", []))
            cursor = body.get("cursor")
            if not cursor:
                break
    return out


def _price(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.4f}"


def _row(m: Any) -> dict[str, Any]:
    return {"ticker": m.ticker, "event_ticker": m.event_ticker, "title": m.title, "status": m.status,
            "yes_bid": _price(m.yes_bid), "yes_ask": _price(m.yes_ask), "no_bid": _price(m.no_bid),
            "no_ask": _price(m.no_ask), "last_price": _price(m.last_price), "close_time": m.close_time}


def matching(rows: Sequence[dict[str, Any]], search: str | None) -> list[dict[str, Any]]:
    """The rows whose ticker, event ticker or title contains ``search`` (case-insensitive)."""
    if not search:
        return list(rows)
    needle = search.casefold()
    return [r for r in rows if any(needle in str(r.get(k) or "").casefold() for k in ("ticker", "event_ticker",
                                                                                    "title"))]


def _close(value: str | None) -> str:
    if not value:
        return "-"
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return value


def format_markets(rows: Sequence[dict[str, Any]]) -> str:
    """A table: ticker, title, YES bid/ask, NO bid/ask, close time (UTC)."""
    if not rows:
        return "no markets"
    table = [["TICKER", "TITLE", "YES BID", "YES ASK", "NO BID", "NO ASK", "CLOSES (UTC)"]]
    for r in rows:
        title = str(r.get("title") or "")
        table.append([str(r["ticker"]), title if len(title) <= 40 else title[:39] + "…",
                      *(str(r.get(k) or "-") for k in ("yes_bid", "yes_ask", "no_bid", "no_ask")),
                      _close(r.get("close_time"))])
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table]
    lines.append("buy fills now at a limit ≥ the outcome's ask; sell at a limit ≤ its bid")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """``markets``: 0 with the markets printed, 1 when the exchange cannot be read."""
    base = exchange_url(args)
    try:
        rows = fetch(base, None if args.status == "all" else args.status)
    except (httpx.HTTPError, ValueError, ExchangeError) as exc:
        _err(f"the markets could not be read from {base} ({type(exc).__name__}); is the daemon (or "
             "`kalshi-guard sim`) running?")
        return EX_FAIL
    rows = matching(rows, args.search)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(format_markets(rows))
    return EX_OK
