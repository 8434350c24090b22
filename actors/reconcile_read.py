"""Reconciliation's reads: one complete picture of the account from the exchange, or an exception.

Every list is followed to its last page in strict mode (a page without its list or its ``cursor`` is a
partial answer). Fills are read from ``since`` (the last watermark minus the overlap) on the live
endpoint, and, when ``since`` lies before Kalshi's ``trades_created_ts`` cutoff (or on a first pass), from
``/historical/fills`` too (which has no ``min_ts``: older ones are dropped here). Any failure — an error
status, a timeout, a partial page — raises, and the caller treats the whole pass as "no information".
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kalshi_guard.actors.reconcile_model import ExchangeView
from kalshi_guard.core.errors import NotFoundError
from kalshi_guard.exchange.history import fill_time
from kalshi_guard.exchange.wire import Fill, Order


def read_exchange(client: Any, since: float | None, limit: int) -> ExchangeView:
    """Read cutoff, balance, positions, resting orders, fills and settlements. Raises on any failure."""
    first = client.pages_read
    cutoff = client.get_historical_cutoff()
    balance = client.get_balance()
    positions = client.get_positions(limit=limit, strict=True)
    resting = client.list_orders(status="resting", limit=limit, strict=True)
    min_ts = int(since) if since is not None else None
    fills: dict[str, Fill] = {f.trade_id: f for f in client.get_fills(min_ts=min_ts, limit=limit, strict=True)}
    if since is None or since < cutoff.trades_created_ts:
        for f in client.get_historical_fills(limit=limit, strict=True):
            ts = fill_time(f)
            if since is None or ts is None or ts >= since:
                fills.setdefault(f.trade_id, f)
    settlements = client.get_settlements(min_ts=min_ts, limit=limit, strict=True)
    nets = {p.ticker: p.position for p in positions.market_positions if p.position != Decimal(0)}
    return ExchangeView(nets, tuple(resting), tuple(fills.values()), tuple(settlements), balance, cutoff,
                        client.pages_read - first)


def find_order(client: Any, order_id: str, ticker: str, limit: int) -> Order | None:
    """One order by id: the live endpoint first, ``/historical/orders`` for the ticker when it answers 404
    (archived). None when neither knows it; raises on any other failure."""
    try:
        return client.get_order(order_id)  # type: ignore[no-any-return]
    except NotFoundError:
        pass
    for o in client.get_historical_orders(ticker=ticker, limit=limit, strict=True):
        if o.order_id == order_id:
            return o  # type: ignore[no-any-return]
    return None
