"""What the caller of an order is told: the :class:`~kalshi_guard.actors.orders_api.Confirmation` built from
a tracker's booked fills (counts, average outcome price, fees, slippage, latency). Pure; never raises on
the figures it is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kalshi_guard.actors.orders_api import ZERO, Confirmation, ConfirmationStatus, FillDetail, outcome_price
from kalshi_guard.actors.slippage import order_slippage


@dataclass(slots=True)
class Booked:
    """One fill the tracker booked (YES-book price, as Kalshi reports it)."""

    count: Decimal
    yes_price: Decimal
    fee: Decimal
    is_taker: bool | None


def report(tracker: Any, ts: float, status: ConfirmationStatus) -> Confirmation:
    """The confirmation of ``tracker`` (an ``OrderTracker``) as of ``ts`` with ``status``."""
    req = tracker.request
    booked = tracker.booked
    fills = tuple(
        FillDetail(tid, f.count, outcome_price(req.outcome, f.yes_price), f.fee, f.is_taker)
        for tid, f in tracker.fills.items()
    )
    average = None
    if booked > 0:
        average = sum((f.count * f.price for f in fills), ZERO) / booked
    slip = order_slippage(
        req.outcome, req.action, ((f.count, f.yes_price) for f in tracker.fills.values()),
        req.price, req.reference_price,
    )
    reason, detail = tracker.why(status)
    return Confirmation(
        status=status,
        order_id=tracker.order_id,
        client_order_id=tracker.client_order_id,
        filled_count=booked,
        # what may still fill, as the ledger says: nothing once the order has ended
        remaining_count=tracker.count - booked if status is ConfirmationStatus.UNKNOWN else ZERO,
        unfilled_count=tracker.count - booked,
        average_price=average,
        fees=sum((f.fee for f in fills), ZERO),
        slippage=slip,
        latency_ms=max(0, round((ts - tracker.created_ts) * 1000)),
        reason=reason,
        detail=detail,
        fills=fills,
    )
