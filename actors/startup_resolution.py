"""The fill watcher's start-up resolution: every non-final ledger order nobody tracks is settled against the
exchange before the gate opens (used by :class:`actors.fill_watcher.FillWatcher` for ``ResolveOpenOrders``).

The caller of a pre-restart order is gone: what still rests is cancelled, what filled is booked, what the
exchange never saw is REJECTED — unless unattributable fills in its market say it may have filled, in which
case it stays UNKNOWN and an orphan is reported (fail closed). Failures: an exchange read that fails raises
``ExchangeError`` and the caller keeps the gate closed; ledger failures raise ``LedgerError``.
"""

from __future__ import annotations

import contextlib
import time
from decimal import Decimal
from typing import Any

from kalshi_guard.actors.messages import Discrepancy, DiscrepancyKind
from kalshi_guard.core.errors import NotFoundError
from kalshi_guard.exchange.rest import CLOCK_SKEW_S
from kalshi_guard.ledger import FillRecord, OrderStatus


class StartupResolution:
    """Mixin of the fill watcher. Expects ``self.client``, ``self.ledger``, ``self.trackers``, ``self.ctx``
    and ``self.log``."""

    client: Any
    ledger: Any
    trackers: dict[str, Any]
    ctx: Any
    log: Any

    def resolve_open_orders(self, reason: str) -> str:
        """Settle every non-final ledger order nobody tracks. Raises ExchangeError when the exchange
        cannot be read (the caller keeps the gate closed)."""
        settled = []
        for record in self.ledger.non_final_orders():
            if record.client_order_id in self.trackers:
                continue
            settled.append(f"{record.client_order_id}: {self._resolve_one(record)}")
        summary = f"{len(settled)} open orders resolved ({reason})"
        self.ledger.log_activity("STARTUP_RESOLUTION", "WARNING" if settled else "INFO", summary,
                                 {"orders": settled})
        return summary

    def _resolve_missing(self, record: Any) -> str:
        """The listing does not show the order. REJECTED ("it never landed") only when the market has no
        fill we cannot attribute since the order was written; otherwise it may be ours (REST fills carry no
        client_order_id): it stays UNKNOWN — blocking its market — and the fills are reported as orphans,
        which halts trading until an operator has looked (fail closed; never assume it did not fill)."""
        since = int(record.created_at) - CLOCK_SKEW_S
        strangers = [f for f in self.client.get_fills(ticker=record.ticker, min_ts=since)
                     if self.ledger.get_order_by_exchange_id(f.order_id) is None]
        if not strangers:
            self.ledger.transition(record.client_order_id, OrderStatus.REJECTED, reason="not on the exchange at "
                                   "start-up resolution and no unattributed fill: it never landed")
            return "not on the exchange -> REJECTED"
        detail = (f"order {record.client_order_id} is not listed, but {len(strangers)} fill(s) in {record.ticker} "
                  f"belong to no known order (e.g. {strangers[0].trade_id}): it may have filled")
        self.ledger.transition(record.client_order_id, OrderStatus.UNKNOWN, reason=detail)
        self.log.critical("start-up resolution: {}", detail)
        self.ctx.peers["guardian"].tell(Discrepancy(DiscrepancyKind.ORPHAN, record.ticker, detail))
        return "not listed, unattributed fills -> UNKNOWN (orphan reported)"

    def _resolve_one(self, record: Any) -> str:
        order = None
        if record.order_id:
            with contextlib.suppress(NotFoundError):
                order = self.client.get_order(record.order_id)
        if order is None:
            order = self.client.find_order_by_client_id(record.ticker, record.client_order_id,
                                                        record.created_at)
        if order is None:
            return self._resolve_missing(record)
        if order.status.value == "resting":
            with contextlib.suppress(NotFoundError):
                self.client.cancel_order(order.order_id, market_ticker=record.ticker)
            order = self.client.get_order(order.order_id)
        fills = self.client.get_fills(order_id=order.order_id)
        booked = Decimal(0)
        for f in fills:
            self.ledger.book_fill(FillRecord(f.trade_id, record.client_order_id, order.order_id, record.ticker,
                                             f.book_side.value, f.count, f.price, f.fee, f.is_taker,
                                             time.time()))
            booked += f.count
        final = OrderStatus.FILLED if order.remaining_count == 0 and booked >= record.count else OrderStatus.CANCELED
        if order.status.value == "resting":
            final = OrderStatus.PARTIAL if booked > 0 else OrderStatus.RESTING  # cancel failed: keep watching
        self.ledger.transition(record.client_order_id, final, order_id=order.order_id,
                               reason=f"start-up resolution: exchange says {order.status.value}",
                               filled_count=order.fill_count, remaining_count=order.remaining_count)
        return f"{order.status.value}, {booked} filled -> {final.value}"
