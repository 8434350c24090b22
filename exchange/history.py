"""Kalshi's live/historical split: the cutoff and the archived orders and fills (``/historical/*``).

Finished orders last updated before ``orders_updated_ts`` and fills created before ``trades_created_ts``
leave ``/portfolio/orders`` and ``/portfolio/fills`` (``GET /portfolio/orders/{id}`` answers 404 for them)
and are read from ``/historical/orders`` and ``/historical/fills``, which take ``ticker``, ``max_ts``,
``limit`` and ``cursor`` only. Every method raises an ``ExchangeError`` subclass on failure, like the
rest of :class:`exchange.rest.KalshiClient`, which mixes this in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kalshi_guard.core.errors import Ambiguous
from kalshi_guard.exchange.wire import Fill, Order
from kalshi_guard.exchange.wire_base import Fields
from kalshi_guard.exchange.wire_reads import Settlement

_CUTOFF_KEYS = frozenset({"market_settled_ts", "trades_created_ts", "orders_updated_ts"})


def parse_time(value: str) -> float:
    """An RFC 3339 timestamp (``Z`` or an offset) as Unix seconds. Raises Ambiguous when malformed."""
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except (AttributeError, ValueError):
        raise Ambiguous(f"kalshi: malformed timestamp {value!r}") from None


def fill_time(fill: Fill) -> float | None:
    """When a fill happened (Unix seconds): ``created_time`` when sent, else the legacy ``ts``."""
    if fill.created_time:
        return parse_time(fill.created_time)
    return float(fill.ts) if fill.ts is not None else None


@dataclass(frozen=True, slots=True)
class HistoricalCutoff:
    """``GET /historical/cutoff`` as Unix seconds: what is older lives under ``/historical/*``."""

    market_settled_ts: float
    trades_created_ts: float
    orders_updated_ts: float

    @classmethod
    def parse(cls, data: Any) -> HistoricalCutoff:
        """Parse the cutoff. Raises Ambiguous when a field is missing or not a timestamp."""
        f = Fields("GetHistoricalCutoffResponse", data, _CUTOFF_KEYS)
        return cls(parse_time(f.s("market_settled_ts")), parse_time(f.s("trades_created_ts")),
                   parse_time(f.s("orders_updated_ts")))


class HistoryReads:
    """Mixed into ``KalshiClient`` (which provides ``_read`` and ``_pages``): the historical reads and the
    settlements (what reconciliation reads beyond the orders, fills and positions)."""

    _read: Any
    _pages: Any

    def get_historical_cutoff(self) -> HistoricalCutoff:
        """The live/historical boundary."""
        return self._read("/historical/cutoff", HistoricalCutoff.parse)  # type: ignore[no-any-return]  # the parser decides the type

    def get_historical_orders(self, *, ticker: str | None = None, max_ts: int | None = None,
                              limit: int = 200, strict: bool = False) -> list[Order]:
        """Archived (cancelled or executed) orders, every page, newest first."""
        params = {"ticker": ticker, "max_ts": max_ts, "limit": limit}
        return self._pages("/historical/orders", "orders", Order.parse, params,  # type: ignore[no-any-return]  # the parser decides the type
                           strict=strict)

    def get_historical_fills(self, *, ticker: str | None = None, max_ts: int | None = None,
                             limit: int = 200, strict: bool = False,
                             keep: Callable[[list[Fill]], list[Fill]] | None = None) -> list[Fill]:
        """Archived fills, every page, newest first; ``keep`` filters page by page."""
        params = {"ticker": ticker, "max_ts": max_ts, "limit": limit}
        return self._pages("/historical/fills", "fills", Fill.parse, params,  # type: ignore[no-any-return]  # the parser decides the type
                           strict=strict, keep=keep)

    def get_settlements(self, *, ticker: str | None = None, event_ticker: str | None = None,
                        min_ts: int | None = None, max_ts: int | None = None,
                        subaccount: int | None = None, limit: int = 200,
                        strict: bool = False) -> list[Settlement]:
        """All settlements matching the filters, every page."""
        params = {"ticker": ticker, "event_ticker": event_ticker, "min_ts": min_ts, "max_ts": max_ts,
                  "subaccount": subaccount, "limit": limit}
        return self._pages("/portfolio/settlements", "settlements",  # type: ignore[no-any-return]  # the parser decides the type
                           Settlement.parse, params, strict=strict)
