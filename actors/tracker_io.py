"""The exchange side of the confirmation state machine's actions: each action the fill watcher performs
becomes one or two REST calls, and their answer becomes the event fed back to the tracker (docs/architecture.md §6–7).

An UNKNOWN order's lookup by ``client_order_id`` that finds nothing also counts the market's fills since
the order was written that belong to no order we know (REST fills carry no ``client_order_id``): any of
them could be its.

Failures: a cancel never raises (its outcome says OK, NOT_FOUND or AMBIGUOUS); a read raises
``ExchangeError`` and the fill watcher retries it later. Nothing here books, decides or keeps state.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kalshi_guard.actors.confirmation_events import (
    CancelOutcome,
    CancelResult,
    ExchangeStatus,
    FillSeen,
    OrderSnapshot,
    ReadBack,
    ReadBackOrderAndFills,
    RequestCancel,
)
from kalshi_guard.core.errors import Ambiguous, ExchangeError, NotFoundError
from kalshi_guard.exchange.rest import CLOCK_SKEW_S


def fill_event(f: Any) -> FillSeen:
    """A stream or REST fill as a tracker event."""
    ts = (f.ts_ms / 1000) if getattr(f, "ts_ms", None) else float(getattr(f, "ts", None) or time.time())
    return FillSeen(f.trade_id, f.count, f.price, f.fee, ts, f.order_id, f.is_taker)


def snapshot(o: Any) -> OrderSnapshot:
    """A REST order as a tracker snapshot."""
    return OrderSnapshot(o.order_id, ExchangeStatus(o.status.value), o.fill_count, o.remaining_count,
                         o.client_order_id)


def perform(client: Any, action: Any, *, clock: Callable[[], float] = time.time,
            is_ours: Callable[[str | None], bool] = lambda _order_id: False) -> Any:
    """Perform one exchange action; returns the event that reports its outcome (stamped by ``clock``).
    Raises ExchangeError. ``is_ours`` says whether an exchange order id belongs to an order we know: a
    lookup of an UNKNOWN order that finds nothing counts the market's fills it does not own."""
    now = clock()
    if isinstance(action, RequestCancel):
        try:
            res = client.cancel_order(action.order_id, market_ticker=action.ticker)
        except NotFoundError:
            return CancelResult(CancelOutcome.NOT_FOUND, now)
        except Ambiguous:
            return CancelResult(CancelOutcome.AMBIGUOUS, now)
        except ExchangeError:  # e.g. MARKET_INACTIVE: the exchange ends it; read back to see
            return CancelResult(CancelOutcome.AMBIGUOUS, now)
        return CancelResult(CancelOutcome.OK, now, res.reduced_by)
    if isinstance(action, ReadBackOrderAndFills):
        try:
            order = snapshot(client.get_order(action.order_id))
        except NotFoundError:
            order = None
        fills = tuple(fill_event(f) for f in client.get_fills(order_id=action.order_id))
        return ReadBack(order, fills, clock())
    # ResolveUnknown: find the order by client_order_id among the market's orders
    match = client.find_order_by_client_id(action.ticker, action.client_order_id, action.since)
    if match is None:
        since = None if action.since is None else int(action.since) - CLOCK_SKEW_S
        strangers = sum(1 for f in client.get_fills(ticker=action.ticker, min_ts=since) if not is_ours(f.order_id))
        return ReadBack(None, (), clock(), unattributed=strangers)
    fills = tuple(fill_event(f) for f in client.get_fills(order_id=match.order_id))
    return ReadBack(snapshot(match), fills, clock())
