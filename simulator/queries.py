"""Read-side of the simulator exchange: orders, fills, positions, balance, settlements, markets, books."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, Any

from kalshi_guard.simulator.accounts import ZERO, OrderStatus
from kalshi_guard.simulator.markets import STATUS_FILTER
from kalshi_guard.simulator.wire import (
    ApiError,
    fill_json,
    market_json,
    order_json,
    position_json,
    settlement_json,
    usd,
)

if TYPE_CHECKING:
    from kalshi_guard.simulator.engine import Exchange

MAX_LIMIT = 1000


def page(items: list[Any], cursor: str | None, limit: Any, default: int = 100) -> tuple[list[Any], str]:
    """Cursor pagination: an offset cursor, ``""`` on the last page; a garbage cursor starts over.

    Raises ApiError 400 for a limit outside 1..1000 (Kalshi does not clamp).
    """
    try:
        n = default if limit in (None, "") else int(limit)
    except (TypeError, ValueError):
        raise ApiError(400, "invalid_parameters", "limit must be an integer") from None
    if not 1 <= n <= MAX_LIMIT:
        raise ApiError(400, "invalid_parameters", f"limit must be between 1 and {MAX_LIMIT}")
    try:
        start = max(0, int(cursor)) if cursor else 0
    except ValueError:
        start = 0
    chunk = items[start:start + n]
    nxt = str(start + n) if start + n < len(items) else ""
    return chunk, nxt


class QueriesMixin:
    """Mixed into :class:`simulator.engine.Exchange`; every method takes the exchange lock."""

    def get_order(self: Exchange, account: str, order_id: str) -> dict[str, Any]:
        """REST ``Order``. Raises ApiError 404."""
        with self.lock:
            o = self._own_order(account, order_id)
            if self.order_archived(o):  # Kalshi: archived orders are only under /historical/orders
                raise ApiError(404, "not_found", "order not found")
            return order_json(o, self.user_id(account))

    def list_orders(self: Exchange, account: str, q: dict[str, str]) -> tuple[list[dict[str, Any]], str]:
        """``GET /portfolio/orders`` newest first, filtered by ticker / event_ticker / status / min_ts / max_ts."""
        status = q.get("status")
        if status and status not in {s.value for s in OrderStatus}:
            raise ApiError(400, "invalid_parameters", "status must be resting|canceled|executed")
        events = set(q["event_ticker"].split(",")) if q.get("event_ticker") else None
        min_ts = float(q["min_ts"]) if q.get("min_ts") else None
        max_ts = float(q["max_ts"]) if q.get("max_ts") else None
        with self.lock:
            acct = self.account(account)
            out = []
            for oid in reversed(acct.order_ids):
                o = self.orders[oid]
                if (q.get("ticker") and o.ticker != q["ticker"]) or (status and o.status.value != status):
                    continue
                if self.order_archived(o):
                    continue
                if events is not None and self.markets[o.ticker].event_ticker not in events:
                    continue
                if (min_ts is not None and o.created_ts < min_ts) or (max_ts is not None and o.created_ts > max_ts):
                    continue
                out.append(o)
            chunk, cur = page(out, q.get("cursor"), q.get("limit"))
            uid = self.user_id(account)
            return [order_json(o, uid) for o in chunk], cur

    def list_fills(self: Exchange, account: str, q: dict[str, str]) -> tuple[list[dict[str, Any]], str]:
        """``GET /portfolio/fills`` newest first, filtered by ticker / order_id / min_ts / max_ts."""
        min_ts = float(q["min_ts"]) if q.get("min_ts") else None
        max_ts = float(q["max_ts"]) if q.get("max_ts") else None
        with self.lock:
            out = [f for f in reversed(self.account(account).fills)
                   if not self.fill_archived(f) and (not q.get("ticker") or f.ticker == q["ticker"])
                   and (not q.get("order_id") or f.order_id == q["order_id"])
                   and (min_ts is None or f.ts >= min_ts) and (max_ts is None or f.ts <= max_ts)]
            chunk, cur = page(out, q.get("cursor"), q.get("limit"))
            return [fill_json(f) for f in chunk], cur

    def list_positions(self: Exchange, account: str, q: dict[str, str]) -> dict[str, Any]:
        """``GET /portfolio/positions``: unsettled market positions plus per-event aggregates."""
        with self.lock:
            acct = self.account(account)
            rows = [p for t, p in sorted(acct.positions.items())
                    if (not q.get("ticker") or t == q["ticker"])
                    and (not q.get("event_ticker") or self.markets[t].event_ticker == q["event_ticker"])]
            filt = set((q.get("count_filter") or "").split(",")) - {""}
            if filt:
                rows = [p for p in rows if ("position" in filt and p.position != 0)
                        or ("total_traded" in filt and p.total_traded != 0)]
            chunk, cur = page(rows, q.get("cursor"), q.get("limit"))
            events: dict[str, dict[str, Decimal]] = {}
            for p in chunk:
                e = events.setdefault(self.markets[p.ticker].event_ticker,
                                      {"cost": ZERO, "shares": ZERO, "pnl": ZERO, "fees": ZERO})
                e["cost"] += p.cost
                e["shares"] += abs(p.position)
                e["pnl"] += p.realized_pnl
                e["fees"] += p.fees_paid
            from kalshi_guard.simulator.wire import fp

            return {
                "market_positions": [position_json(p) for p in chunk],
                "event_positions": [
                    {"event_ticker": ev, "total_cost_dollars": usd(v["cost"]), "total_cost_shares_fp": fp(v["shares"]),
                     "event_exposure_dollars": usd(v["cost"]), "realized_pnl_dollars": usd(v["pnl"]),
                     "fees_paid_dollars": usd(v["fees"])} for ev, v in sorted(events.items())],
                "cursor": cur,
            }

    def balance(self: Exchange, account: str) -> dict[str, Any]:
        """``GET /portfolio/balance``: available cash in cents (truncated) and dollars, portfolio value."""
        with self.lock:
            acct = self.account(account)
            avail = acct.available
            value = sum((p.cost for p in acct.positions.values()), ZERO)
            return {"balance": int((avail * 100).to_integral_value(rounding=ROUND_DOWN)),
                    "balance_dollars": usd(avail),
                    "portfolio_value": int((value * 100).to_integral_value(rounding=ROUND_DOWN)),
                    "updated_ts": int(acct.updated_ts or self.clock())}

    def list_settlements(self: Exchange, account: str, q: dict[str, str]) -> tuple[list[dict[str, Any]], str]:
        """``GET /portfolio/settlements`` newest first, filtered by ticker / event_ticker / min_ts / max_ts."""
        min_ts = float(q["min_ts"]) if q.get("min_ts") else None
        max_ts = float(q["max_ts"]) if q.get("max_ts") else None
        with self.lock:
            out = [s for s in reversed(self.account(account).settlements)
                   if (not q.get("ticker") or s.ticker == q["ticker"])
                   and (not q.get("event_ticker") or s.event_ticker == q["event_ticker"])
                   and (min_ts is None or s.ts >= min_ts) and (max_ts is None or s.ts <= max_ts)]
            chunk, cur = page(out, q.get("cursor"), q.get("limit"))
            return [settlement_json(s) for s in chunk], cur

    def market(self: Exchange, ticker: str) -> dict[str, Any]:
        """REST ``Market``. Raises ApiError 404."""
        with self.lock:
            m = self._market(ticker)
            b = self.books[ticker]
            bid, ask = b.best_bid(), b.best_ask()
            return market_json(m, bid, ask, b.size_at("bid", bid) if bid is not None else ZERO,
                               b.size_at("ask", ask) if ask is not None else ZERO)

    def list_markets(self: Exchange, q: dict[str, str]) -> tuple[list[dict[str, Any]], str]:
        """``GET /markets`` filtered by event_ticker / tickers / status (query vocabulary)."""
        status = q.get("status")
        if status and status not in STATUS_FILTER:
            raise ApiError(400, "invalid_parameters", f"status must be one of {', '.join(STATUS_FILTER)}")
        tickers = set(q["tickers"].split(",")) if q.get("tickers") else None
        with self.lock:
            ms = [m for m in self.markets.values()
                  if (not q.get("event_ticker") or m.event_ticker == q["event_ticker"])
                  and (tickers is None or m.ticker in tickers)
                  and (not status or m.status in STATUS_FILTER[status])]
            chunk, cur = page(ms, q.get("cursor"), q.get("limit"))
            return [self.market(m.ticker) for m in chunk], cur

    def orderbook(self: Exchange, ticker: str, depth: int = 0) -> dict[str, Any]:
        """``{"orderbook_fp": {"yes_dollars": [...], "no_dollars": [...]}}``. Raises ApiError 404."""
        with self.lock:
            self._market(ticker)
            yes, no = self.books[ticker].orderbook_fp(depth)
            return {"orderbook_fp": {"yes_dollars": yes, "no_dollars": no}}

    def exchange_status(self: Exchange) -> dict[str, Any]:
        """``GET /exchange/status``."""
        return {"exchange_active": self.exchange_active, "trading_active": self.trading_active,
                "exchange_estimated_resume_time": None}
