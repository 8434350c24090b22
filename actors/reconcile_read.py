"""Reconciliation's reads: one complete picture of the account from the exchange, or an exception.

Every list is followed to its last page in strict mode (a page without its list or its ``cursor`` is a
partial answer). Fills are read from ``since`` (the last watermark minus the overlap) on the live
endpoint, and, when ``since`` lies before Kalshi's ``trades_created_ts`` cutoff (or on a first pass), from
``/historical/fills`` too (which has no ``min_ts``: older ones are dropped here). Any failure — an error
status, a timeout, a partial page — raises, and the caller treats the whole pass as "no information". Fills
are filtered page by page to those the ledger lacks (:class:`FillFilter`), so the memory a pass takes is a
page, not the overlap window (15 minutes of a busy bot's fills by default).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from kalshi_guard.actors.reconcile_model import ExchangeView
from kalshi_guard.core.errors import NotFoundError
from kalshi_guard.exchange.history import fill_time
from kalshi_guard.exchange.wire import Fill, Order


class FillFilter:
    """Keeps, page by page, the fills ``unbooked`` says the ledger lacks (a booked fill stays booked), and
    counts every fill it saw: a pass holds one page of the overlap window at a time, not the whole window."""

    def __init__(self, unbooked: Callable[[list[Fill]], list[Fill]] | None) -> None:
        self.unbooked = unbooked
        self.seen = 0

    def __call__(self, page: list[Fill]) -> list[Fill]:
        self.seen += len(page)
        return page if self.unbooked is None or not page else self.unbooked(page)


def read_exchange(client: Any, since: float | None, limit: int,
                  unbooked: Callable[[list[Fill]], list[Fill]] | None = None) -> ExchangeView:
    """Read cutoff, balance, positions, resting orders, fills and settlements. Raises on any failure.
    With ``unbooked`` (the ledger's filter), ``fills`` holds only the fills the ledger lacked as each page
    was read, and ``fills_read`` counts them all."""
    first = client.pages_read
    cutoff = client.get_historical_cutoff()
    balance = client.get_balance()
    positions = client.get_positions(limit=limit, strict=True)
    resting = client.list_orders(status="resting", limit=limit, strict=True)
    min_ts = int(since) if since is not None else None
    keep = FillFilter(unbooked)
    fills: dict[str, Fill] = {f.trade_id: f for f in client.get_fills(min_ts=min_ts, limit=limit, strict=True,
                                                                      keep=keep)}
    if since is None or since < cutoff.trades_created_ts:
        for f in client.get_historical_fills(limit=limit, strict=True, keep=keep):
            ts = fill_time(f)
            if since is None or ts is None or ts >= since:
                fills.setdefault(f.trade_id, f)
    settlements = client.get_settlements(min_ts=min_ts, limit=limit, strict=True)
    nets = {p.ticker: p.position for p in positions.market_positions if p.position != Decimal(0)}
    return ExchangeView(nets, tuple(resting), tuple(fills.values()), tuple(settlements), balance, cutoff,
                        client.pages_read - first, keep.seen)


def find_order(client: Any, order_id: str, ticker: str, limit: int) -> Order | None:
    """One order by id: the live endpoint first, ``/historical/orders`` for the ticker when it answers 404
    (archived). None when neither knows it; raises on any other failure."""
    try:
        return client.get_order(order_id)
    except NotFoundError:
        pass
    for o in client.get_historical_orders(ticker=ticker, limit=limit, strict=True):
        if o.order_id == order_id:
            return o
    return None
