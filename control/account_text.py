"""``kalshi-guard status``'s account lines: balance, P&L today and the nearest kill-switch trigger.

Reads ``GET /api/account`` and ``GET /api/limits`` (the kill-switch's own view; when the daemon has no
such route, the account's limits stand in). A daemon without the account route gets one line saying so;
nothing here raises on a missing or odd field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx


def _dec(value: Any) -> Decimal | None:
    try:
        return None if value is None or isinstance(value, bool) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def money(value: Any) -> str:
    """``$1,234.56`` / ``−$3.10`` / ``?`` for a missing figure."""
    d = _dec(value)
    if d is None:
        return "?"
    text = f"${abs(d):,.2f}"
    return f"-{text}" if d < 0 else text


def _used(row: Mapping[str, Any]) -> Decimal | None:
    used = _dec(row.get("used"))
    if used is not None:
        return used
    value, limit = _dec(row.get("value")), _dec(row.get("limit"))
    if value is not None and limit:
        return value / limit
    distance = _dec(row.get("distance"))
    return None if distance is None or not limit else 1 - distance / limit


def nearest_trigger(rows: Sequence[Any]) -> Mapping[str, Any] | None:
    """The trigger closest to its limit (the highest used fraction), or ``None``."""
    scored = [(u, r) for r in rows if isinstance(r, Mapping) and (u := _used(r)) is not None]
    return max(scored, key=lambda pair: pair[0])[1] if scored else None


def limit_rows(limits: Any, account: Mapping[str, Any]) -> list[Any]:
    """The trigger rows: ``/api/limits``'s when it gave a list, else the account's."""
    if isinstance(limits, list):
        return limits
    if isinstance(limits, Mapping):
        for key in ("triggers", "limits"):
            if isinstance(limits.get(key), list):
                return limits[key]
    rows = account.get("limits")
    return rows if isinstance(rows, list) else []


def format_account(account: Mapping[str, Any], limits: Any = None) -> list[str]:
    """The aligned lines for ``status``."""
    pnl = account.get("pnl_today") if isinstance(account.get("pnl_today"), Mapping) else {}
    lines = [f"  {'balance:':<10} {money(account.get('balance'))}"
             f" (portfolio {money(account.get('portfolio_value'))})"]
    lines.append(f"  {'P&L today:':<10} {money(pnl.get('total'))} = realised {money(pnl.get('realized'))}"
                 f" − fees {money(pnl.get('fees'))} + unrealised {money(pnl.get('unrealized'))}")
    positions = account.get("positions")
    if isinstance(positions, list):
        lines.append(f"  {'positions:':<10} {len(positions)} open")
    nearest = nearest_trigger(limit_rows(limits, account))
    if nearest is not None:
        used = _used(nearest)
        name = str(nearest.get("name") or nearest.get("code") or nearest.get("trigger") or "?")
        where = f" ({nearest['where']})" if nearest.get("where") else ""
        lines.append(f"  {'nearest:':<10} {name}{where} {nearest.get('value')} of {nearest.get('limit')}"
                     f" ({used * 100:.0f}% used)")
    if account.get("exchange_error"):
        lines.append(f"  {'exchange:':<10} {account['exchange_error']}")
    return lines


def fetch_account_lines(client: httpx.Client) -> list[str]:
    """GET the account (and limits) and format them; one explanatory line when unavailable."""
    try:
        response = client.get("/api/account")
    except httpx.HTTPError as exc:
        return [f"  {'account:':<10} unavailable ({type(exc).__name__})"]
    if response.status_code != 200:
        return [f"  {'account:':<10} unavailable (HTTP {response.status_code})"]
    limits = None
    try:
        answer = client.get("/api/limits")
        if answer.status_code == 200:
            limits = answer.json()
    except (httpx.HTTPError, ValueError):
        limits = None
    return format_account(response.json(), limits)
