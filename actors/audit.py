"""The order audit trail: one structured log record per order decision, confirmation and booked fill.

Each record is an INFO line ``ORDER <status> <client_order_id> …`` whose ``extra`` carries the fields
(``audit``, ``client_order_id``, ``ticker``, ``outcome``, ``action``, ``count``, ``price``, ``status``,
``reason``, ``latency_ms``), so that the JSON log can be filtered by any of them and
``kalshi-guard tail --actor order_placer --grep FILLED`` finds a filled order. Order records carry the
actor name ``order_placer`` (the orders are the placer's, whichever thread reports their outcome; ``by``
names the writer); fills carry ``fill_watcher``. Logging never raises into the caller.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import Any

from loguru import logger

ORDER_ACTOR = "order_placer"


def _s(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    return str(getattr(value, "value", value))


def order_record(
    status: str,
    *,
    by: str,
    client_order_id: str | None,
    ticker: str,
    outcome: Any,
    action: Any,
    count: Any,
    price: Any,
    reason: str | None = None,
    latency_ms: int | None = None,
) -> None:
    """Log one order decision or confirmation (``status``: REJECTED, SENT, FILLED, PARTIAL, …)."""
    fields = {
        "audit": "order", "by": by, "client_order_id": client_order_id or "-", "ticker": ticker,
        "outcome": _s(outcome), "action": _s(action), "count": _s(count), "price": _s(price),
        "status": status, "reason": reason or "", "latency_ms": latency_ms,
    }
    with contextlib.suppress(Exception):  # an audit line must never fail an order
        logger.bind(actor=ORDER_ACTOR, **fields).info(
            "ORDER {} {} {} {} {} {} @ {}{}{}", status, fields["client_order_id"], ticker, fields["action"],
            fields["count"], fields["outcome"], fields["price"], f" reason={reason}" if reason else "",
            f" latency={latency_ms}ms" if latency_ms is not None else "",
        )


def fill_record(actor: str, *, trade_id: str, client_order_id: str, ticker: str, side: str, count: Any,
                price: Any, fee: Any) -> None:
    """Log one booked fill (``FILL`` record)."""
    with contextlib.suppress(Exception):  # an audit line must never fail a booking
        logger.bind(actor=actor, audit="fill", trade_id=trade_id, client_order_id=client_order_id, ticker=ticker,
                    side=side, count=_s(count), price=_s(price), fee=_s(fee), status="FILL").info(
            "FILL {} {} {} {} @ {} fee {}", client_order_id, ticker, side, _s(count), _s(price), _s(fee))
