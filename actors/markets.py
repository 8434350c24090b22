"""A small read-through cache of market facts for pre-trade checks (status, close time, tick grid, book).

Metadata is kept for ``meta_ttl_s`` (30 s), the top of book for ``book_ttl_s`` (1 s). A market the
exchange does not know is cached as unknown for the metadata TTL. A failed read raises (the caller fails
closed: no fresh facts, no order).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from kalshi_guard.actors.pretrade import MarketInfo, PriceRange
from kalshi_guard.core.errors import NotFoundError

# Tick grids by structure name (docs/kalshi.md §2.1), used when a market omits ``price_ranges``.
_STRUCTURES = {
    "linear_cent": ((Decimal("0"), Decimal("1"), Decimal("0.01")),),
    "deci_cent": ((Decimal("0"), Decimal("1"), Decimal("0.001")),),
    "tapered_deci_cent": (
        (Decimal("0"), Decimal("0.10"), Decimal("0.001")),
        (Decimal("0.10"), Decimal("0.90"), Decimal("0.01")),
        (Decimal("0.90"), Decimal("1"), Decimal("0.001")),
    ),
}


def _close_ts(close_time: str | None) -> float:
    if not close_time:
        return 0.0  # unknown close: treated as closed (fail closed)
    try:
        return datetime.fromisoformat(close_time.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


class MarketCache:
    """Market facts by ticker, read through ``client`` (a ``KalshiClient``)."""

    def __init__(
        self, client: Any, *, clock: Callable[[], float] = time.monotonic, meta_ttl_s: float = 30.0,
        book_ttl_s: float = 1.0,
    ) -> None:
        self._client = client
        self._clock = clock
        self._meta_ttl = meta_ttl_s
        self._book_ttl = book_ttl_s
        self._meta: dict[str, tuple[float, Any]] = {}
        self._book: dict[str, tuple[float, Decimal | None, Decimal | None]] = {}
        self._info: dict[tuple[str, bool], tuple[float, float, MarketInfo]] = {}  # built once per refresh

    def info(self, ticker: str, *, with_book: bool = True) -> MarketInfo | None:
        """Facts about ``ticker`` (None when the exchange does not know it). Raises on a failed read."""
        now = self._clock()
        cached = self._meta.get(ticker)
        if cached is None or now - cached[0] > self._meta_ttl:
            try:
                market = self._client.get_market(ticker)
            except NotFoundError:
                market = None
            cached = (now, market)
            self._meta[ticker] = cached
        market = cached[1]
        if market is None:
            return None
        bid, ask = market.yes_bid, market.yes_ask
        book_at = 0.0
        if with_book:
            book = self._book.get(ticker)
            if book is None or now - book[0] > self._book_ttl:
                ob = self._client.get_orderbook(ticker, depth=1)
                book = (now, ob.best_yes_bid, ob.best_yes_ask)
                self._book[ticker] = book
            bid, ask, book_at = book[1], book[2], book[0]
        key = (ticker, with_book)
        stamp = (cached[0], book_at)  # refresh times: a new read means a new MarketInfo
        built = self._info.get(key)
        if built is not None and built[:2] == stamp:
            return built[2]
        ranges = market.price_ranges or _STRUCTURES.get(market.price_level_structure or "", ())
        info = MarketInfo(
            ticker=market.ticker,
            event_ticker=market.event_ticker,
            status=market.status,
            close_ts=_close_ts(market.close_time),
            price_ranges=tuple(PriceRange(a, b, c) for a, b, c in ranges),
            yes_bid=bid,
            yes_ask=ask,
        )
        self._info[key] = (*stamp, info)
        return info

    def forget(self, ticker: str) -> None:
        """Drop what is cached about ``ticker`` (after a MARKET_INACTIVE or a pause)."""
        self._meta.pop(ticker, None)
        self._book.pop(ticker, None)
        self._info.pop((ticker, True), None)
        self._info.pop((ticker, False), None)
