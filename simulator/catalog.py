"""Public reads beyond single markets: events, series, the public trade tape, several order books at once,
and the queue positions of resting orders (REST shapes of Kalshi's current spec)."""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kalshi_guard.simulator.accounts import OrderStatus
from kalshi_guard.simulator.markets import Market, MarketStatus
from kalshi_guard.simulator.queries import page
from kalshi_guard.simulator.wire import ApiError, fp, rfc3339

if TYPE_CHECKING:
    from kalshi_guard.simulator.engine import Exchange

TAPE_SIZE = 10_000  # public trades kept for GET /markets/trades (oldest dropped first)
# event ticker -> (title, sub_title); series ticker -> (title, category, frequency). Unknown ones get defaults.
EVENTS: dict[str, tuple[str, str]] = {
    "KXSIMCPI-26DEC": ("CPI inflation in December 2026", "Year-over-year CPI"),
    "KXSIMRAIN-26DEC01": ("Rain on December 1, 2026", "Measurable rain by city"),
    "KXSIMBTC-26DEC31": ("Bitcoin price on December 31, 2026", "BTC/USD close"),
}
SERIES: dict[str, tuple[str, str, str]] = {
    "KXSIMCPI": ("Simulated CPI", "Economics", "monthly"),
    "KXSIMRAIN": ("Simulated rain", "Climate and Weather", "daily"),
    "KXSIMBTC": ("Simulated Bitcoin", "Crypto", "one-off"),
}
# GET /events?status= vocabulary -> market statuses an event's markets must include
EVENT_STATUS: dict[str, tuple[MarketStatus, ...]] = {
    "open": (MarketStatus.ACTIVE, MarketStatus.INACTIVE, MarketStatus.INITIALIZED),
    "closed": (MarketStatus.CLOSED, MarketStatus.DETERMINED),
    "settled": (MarketStatus.FINALIZED,),
}


def series_of(event_ticker: str) -> str:
    """The series ticker of an event: the part before the first ``-``."""
    return event_ticker.split("-", 1)[0]


class CatalogMixin:
    """Mixed into :class:`simulator.engine.Exchange`; every method takes the exchange lock."""

    tape: deque[dict[str, Any]]

    def record_trade(self: Exchange, trade: dict[str, Any]) -> None:
        """Keep a public trade (REST ``Trade``) on the tape; called under the lock when a trade prints."""
        self.tape.append(trade)

    def list_trades(self: Exchange, q: dict[str, str]) -> tuple[list[dict[str, Any]], str]:
        """``GET /markets/trades`` newest first, filtered by ticker / min_ts / max_ts (Unix seconds)."""
        try:
            min_ts = int(q["min_ts"]) if q.get("min_ts") else None
            max_ts = int(q["max_ts"]) if q.get("max_ts") else None
        except ValueError:
            raise ApiError(400, "invalid_parameters", "min_ts and max_ts are Unix seconds") from None
        with self.lock:
            out = [{k: v for k, v in t.items() if k != "_ts"} for t in reversed(self.tape)
                   if (not q.get("ticker") or t["ticker"] == q["ticker"])
                   and (min_ts is None or t["_ts"] >= min_ts) and (max_ts is None or t["_ts"] <= max_ts)]
        return page(out, q.get("cursor"), q.get("limit"))

    def orderbooks(self: Exchange, tickers: list[str]) -> dict[str, Any]:
        """``GET /markets/orderbooks``: ``{orderbooks: [{ticker, orderbook_fp}]}``. Raises ApiError 400 when
        no ticker or more than 100 are given, 404 for an unknown one."""
        if not tickers or len(tickers) > 100:
            raise ApiError(400, "invalid_parameters", "tickers: between 1 and 100 market tickers")
        with self.lock:
            return {"orderbooks": [{"ticker": t, **self.orderbook(t)} for t in tickers]}

    def _event_json(self: Exchange, event_ticker: str, markets: list[Market], nested: bool) -> dict[str, Any]:
        title, sub = EVENTS.get(event_ticker, (event_ticker, ""))
        out: dict[str, Any] = {
            "event_ticker": event_ticker, "series_ticker": series_of(event_ticker), "title": title,
            "sub_title": sub, "collateral_return_type": "", "mutually_exclusive": False,
            "available_on_brokers": False, "product_metadata": None, "strike_date": None, "strike_period": None,
            "last_updated_ts": rfc3339(max(m.updated_ts or m.created_ts for m in markets)),
        }
        if nested:
            out["markets"] = [self.market(m.ticker) for m in markets]
        return out

    def _events(self: Exchange) -> dict[str, list[Market]]:
        events: dict[str, list[Market]] = {}
        for m in self.markets.values():
            events.setdefault(m.event_ticker, []).append(m)
        return events

    def list_events(self: Exchange, q: dict[str, str]) -> tuple[list[dict[str, Any]], str]:
        """``GET /events`` filtered by status (open|closed|settled) / series_ticker; ``with_nested_markets``."""
        status = q.get("status")
        if status and status not in EVENT_STATUS:
            raise ApiError(400, "invalid_parameters", f"status must be one of {', '.join(EVENT_STATUS)}")
        nested = q.get("with_nested_markets") == "true"
        with self.lock:
            rows = [(ev, ms) for ev, ms in sorted(self._events().items())
                    if (not q.get("series_ticker") or series_of(ev) == q["series_ticker"])
                    and (not status or any(m.status in EVENT_STATUS[status] for m in ms))]
            chunk, cur = page(rows, q.get("cursor"), q.get("limit"), default=200)
            return [self._event_json(ev, ms, nested) for ev, ms in chunk], cur

    def event(self: Exchange, event_ticker: str, nested: bool = False) -> dict[str, Any]:
        """``GET /events/{event_ticker}``: ``{event, markets}``. Raises ApiError 404."""
        with self.lock:
            ms = self._events().get(event_ticker)
            if not ms:
                raise ApiError(404, "not_found", f"event {event_ticker!r} not found")
            return {"event": self._event_json(event_ticker, ms, nested),
                    "markets": [self.market(m.ticker) for m in ms]}

    def _series_json(self: Exchange, ticker: str) -> dict[str, Any]:
        title, category, frequency = SERIES.get(ticker, (ticker, "Simulated", "custom"))
        return {"ticker": ticker, "title": title, "category": category, "categories": [category],
                "frequency": frequency,
                "tags": [], "settlement_sources": [{"name": "kalshi-guard simulator", "url": ""}],
                "contract_url": "", "contract_terms_url": "", "fee_type": "quadratic", "fee_multiplier": 1.0,
                "additional_prohibitions": [], "product_metadata": None}

    def list_series(self: Exchange, q: dict[str, str]) -> list[dict[str, Any]]:
        """``GET /series`` (optionally one ``category``)."""
        with self.lock:
            tickers = sorted({series_of(ev) for ev in self._events()})
        out = [self._series_json(t) for t in tickers]
        return [s for s in out if not q.get("category") or q["category"] in s["categories"]]

    def series(self: Exchange, ticker: str) -> dict[str, Any]:
        """``GET /series/{series_ticker}``. Raises ApiError 404."""
        with self.lock:
            if ticker not in {series_of(ev) for ev in self._events()}:
                raise ApiError(404, "not_found", f"series {ticker!r} not found")
        return {"series": self._series_json(ticker)}

    def queue_position(self: Exchange, account: str, order_id: str) -> dict[str, Any]:
        """``GET /portfolio/orders/{id}/queue_position``: contracts ahead of a resting order at its price
        (0-indexed). Raises ApiError 404 for an unknown order or one that no longer rests."""
        with self.lock:
            o = self._own_order(account, order_id)
            ahead = self.books[o.ticker].side(o.book_side).ahead_of(o) \
                if o.status is OrderStatus.RESTING else None
            if ahead is None:
                raise ApiError(404, "not_found", "order is not resting")
            return {"queue_position_fp": fp(ahead)}

    def queue_positions(self: Exchange, account: str, q: dict[str, str]) -> dict[str, Any]:
        """``GET /portfolio/orders/queue_positions`` for the resting orders in ``market_tickers`` (comma list)
        or ``event_ticker``. Raises ApiError 400 when neither is given (Kalshi requires one)."""
        tickers = set((q.get("market_tickers") or "").split(",")) - {""}
        event = q.get("event_ticker")
        if not tickers and not event:
            raise ApiError(400, "invalid_parameters", "market_tickers or event_ticker is required")
        with self.lock:
            out = []
            for oid in self.account(account).order_ids:
                o = self.orders[oid]
                if o.status is not OrderStatus.RESTING:
                    continue
                if tickers and o.ticker not in tickers:
                    continue
                if event and self.markets[o.ticker].event_ticker != event:
                    continue
                ahead = self.books[o.ticker].side(o.book_side).ahead_of(o)
                out.append({"order_id": o.order_id, "market_ticker": o.ticker,
                            "queue_position_fp": fp(ahead if ahead is not None else Decimal(0))})
            return {"queue_positions": out}


def new_tape() -> deque[dict[str, Any]]:
    """An empty bounded trade tape."""
    return deque(maxlen=TAPE_SIZE)
