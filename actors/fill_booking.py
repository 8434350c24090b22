"""The fill watcher's bookings: a fill of a tracked order, in one ledger transaction with its order and
position (used by :class:`~kalshi_guard.actors.fill_watcher.FillWatcher` and its message groups), a fill of
an order the ledger knows but nobody tracks, and the orphan report of a fill nobody knows.

Failures: a ledger failure while booking a tracked fill is logged CRITICAL and the fill stays unbooked
until the next read-back re-offers it (booking is idempotent by ``trade_id``); an untracked fill that
cannot be booked is left to reconciliation.
"""

from __future__ import annotations

import contextlib
from typing import Any

from kalshi_guard.actors.audit import fill_record, order_record
from kalshi_guard.actors.confirmation import BookFill, OrderTracker
from kalshi_guard.actors.messages import Discrepancy, DiscrepancyKind, FillBooked
from kalshi_guard.actors.orders_api import Action, OrderRequest, Outcome
from kalshi_guard.core.errors import LedgerError
from kalshi_guard.ledger import FillRecord, OrderStatus


class FillBooking:
    """Mixin of the fill watcher. Expects ``self.ledger``, ``self.synced``, ``self.ctx`` and ``self.log``."""

    ledger: Any
    synced: dict[str, str]
    ctx: Any
    log: Any

    def _book(self, coid: str, tracker: OrderTracker | None, action: BookFill) -> None:
        if tracker is None:
            return
        result = self._book_one(coid, action, self._fill_record(coid, tracker, action))
        if result is not None:
            self._booked(coid, tracker, action, result)

    def _book_one(self, coid: str, action: BookFill, record: FillRecord) -> Any:
        """Book one fill; None (logged CRITICAL, left for the next read-back) when the ledger fails."""
        try:
            return self.ledger.book_fill(record)
        except LedgerError as exc:
            self.log.critical("could not book fill {} of {}: {}", action.trade_id, coid, exc)
            return None

    @staticmethod
    def _fill_record(coid: str, tracker: OrderTracker, action: BookFill) -> FillRecord:
        side = "bid" if _buys_yes(tracker.request) else "ask"
        return FillRecord(action.trade_id, coid, action.order_id or tracker.order_id, tracker.request.ticker,
                          side, action.count, action.yes_price, action.fee, True, action.ts)

    def _booked(self, coid: str, tracker: OrderTracker, action: BookFill, result: Any) -> None:
        """After a booking: the ledger status it reached, and the guardian's FillBooked."""
        if coid in self.synced and result.order_status is not None:
            self.synced[coid] = OrderStatus(result.order_status).value
        if result.booked:
            req = tracker.request
            fill_record(self.ctx.name, trade_id=action.trade_id, client_order_id=coid, ticker=req.ticker,
                        side=f"{req.action.value} {req.outcome.value}", count=action.count, price=action.yes_price,
                        fee=action.fee)
            booked = FillBooked(action.trade_id, coid, req.ticker, action.count, action.yes_price, action.fee,
                                result.realized_pnl, side=req.outcome.value, action=req.action.value)
            self.ctx.peers["guardian"].tell(booked)
            if "alerter" in self.ctx.peers:
                self.ctx.peers["alerter"].tell(booked)  # the per-trade notice

    def _audit(self, coid: str, tracker: OrderTracker | None, conf: Any) -> None:
        """The order's confirmation in the audit trail (under the order placer's name)."""
        req = tracker.request if tracker is not None else None
        order_record(conf.status.value, by=self.ctx.name, client_order_id=coid, ticker=req.ticker if req else "?",
                     outcome=req.outcome if req else None, action=req.action if req else None,
                     count=conf.filled_count, price=conf.average_price, reason=conf.reason or conf.detail,
                     latency_ms=conf.latency_ms)

    def _book_untracked(self, msg: Any) -> bool:
        """Book a fill whose order the ledger knows but nobody tracks. False when the order is unknown."""
        record = self.ledger.get_order(msg.client_order_id) if msg.client_order_id else None
        if record is None and msg.order_id:
            record = self.ledger.get_order_by_exchange_id(msg.order_id)
        if record is None:
            return False
        ts = msg.ts_ms / 1000 if msg.ts_ms else self.ctx.clock()  # the exchange's time: the day it counts to
        fill = FillRecord(msg.trade_id, record.client_order_id, msg.order_id, msg.ticker, msg.book_side.value,
                          msg.count, msg.price, msg.fee, bool(msg.is_taker), ts)
        with contextlib.suppress(LedgerError):
            self.ledger.book_fill(fill)
        return True

    def _orphan(self, msg: Any) -> None:
        detail = f"fill {msg.trade_id} of unknown order {msg.order_id}: {msg.count} @ {msg.price}"
        self.log.critical("ORPHAN: {}", detail)
        self.ctx.peers["guardian"].tell(Discrepancy(DiscrepancyKind.ORPHAN, msg.ticker, detail))


def _buys_yes(req: OrderRequest) -> bool:
    return (req.outcome is Outcome.YES) == (req.action is Action.BUY)
