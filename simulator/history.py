"""The simulator's live/historical split, as Kalshi's: ``GET /historical/cutoff``, ``/historical/orders``
and ``/historical/fills``.

Nothing is archived until :meth:`HistoryMixin.archive` moves the cutoff: from then on finished orders
last updated before it, and fills created before it, leave ``/portfolio/orders`` and ``/portfolio/fills``
(``GET /portfolio/orders/{id}`` answers 404 for such an order) and are served here instead, newest first,
filtered by ``ticker`` and ``max_ts`` (Unix seconds), cursor-paginated. Resting orders always stay live.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kalshi_guard.simulator.accounts import Fill, Order, OrderStatus
from kalshi_guard.simulator.wire import ApiError, fill_json, order_json, rfc3339

if TYPE_CHECKING:
    from kalshi_guard.simulator.engine import Exchange


def _max_ts(q: dict[str, str]) -> float | None:
    raw = q.get("max_ts")
    if not raw:
        return None
    try:
        return float(int(raw))
    except ValueError:
        raise ApiError(400, "invalid_parameters", "max_ts must be an integer (Unix seconds)") from None


class HistoryMixin:
    """Mixed into :class:`simulator.engine.Exchange`; every method takes the exchange lock."""

    orders_cutoff: float = 0.0  # finished orders last updated before this are historical
    trades_cutoff: float = 0.0  # fills created before this are historical
    settled_cutoff: float = 0.0  # markets settled before this are historical

    def archive(self: Exchange, before: float | None = None) -> float:
        """Move the cutoff to ``before`` (default: now) and return it; it never moves back."""
        with self.lock:
            ts = self.clock() if before is None else before
            self.orders_cutoff = max(self.orders_cutoff, ts)
            self.trades_cutoff = max(self.trades_cutoff, ts)
            self.settled_cutoff = max(self.settled_cutoff, ts)
            return ts

    def order_archived(self: Exchange, o: Order) -> bool:
        """True when ``o`` is finished and was last updated before the orders cutoff."""
        return o.status is not OrderStatus.RESTING and (o.updated_ts or o.created_ts) < self.orders_cutoff

    def fill_archived(self: Exchange, f: Fill) -> bool:
        """True when ``f`` was created before the trades cutoff."""
        return f.ts < self.trades_cutoff

    def historical_cutoff(self: Exchange) -> dict[str, Any]:
        """``GET /historical/cutoff``: RFC 3339 timestamps."""
        with self.lock:
            return {"market_settled_ts": rfc3339(self.settled_cutoff),
                    "trades_created_ts": rfc3339(self.trades_cutoff),
                    "orders_updated_ts": rfc3339(self.orders_cutoff)}

    def list_historical_orders(self: Exchange, account: str, q: dict[str, str]) -> tuple[list[dict[str, Any]], str]:
        """``GET /historical/orders``: archived orders, newest first."""
        from kalshi_guard.simulator.queries import page

        max_ts = _max_ts(q)
        with self.lock:
            acct = self.account(account)
            out = [o for oid in reversed(acct.order_ids) for o in [self.orders[oid]]
                   if self.order_archived(o) and (not q.get("ticker") or o.ticker == q["ticker"])
                   and (max_ts is None or o.created_ts <= max_ts)]
            chunk, cur = page(out, q.get("cursor"), q.get("limit"))
            uid = self.user_id(account)
            return [order_json(o, uid) for o in chunk], cur

    def list_historical_fills(self: Exchange, account: str, q: dict[str, str]) -> tuple[list[dict[str, Any]], str]:
        """``GET /historical/fills``: archived fills, newest first."""
        from kalshi_guard.simulator.queries import page

        max_ts = _max_ts(q)
        with self.lock:
            out = [f for f in reversed(self.account(account).fills)
                   if self.fill_archived(f) and (not q.get("ticker") or f.ticker == q["ticker"])
                   and (max_ts is None or f.ts <= max_ts)]
            chunk, cur = page(out, q.get("cursor"), q.get("limit"))
            return [fill_json(f) for f in chunk], cur
