"""V2 order modifications: decrease and amend (queue priority kept only when shrinking in place)."""

from __future__ import annotations

from typing import Any

from kalshi_guard.simulator.accounts import ZERO, OrderStatus
from kalshi_guard.simulator.base import ExchangeBase
from kalshi_guard.simulator.wire import ApiError, fp, parse_count, parse_price


class AmendMixin(ExchangeBase):
    """Mixed into :class:`simulator.engine.Exchange`; every method takes the exchange lock."""

    def decrease_order(self, account: str, order_id: str, req: dict[str, Any]) -> dict[str, Any]:
        """V2 decrease by ``reduce_by`` or to ``reduce_to`` (exactly one). Raises ApiError 400/404."""
        by, to = req.get("reduce_by"), req.get("reduce_to")
        if (by is None) == (to is None):
            raise ApiError(400, "invalid_parameters", "exactly one of reduce_by / reduce_to is required")
        with self.lock:
            self._check_exchange(placing=False)
            o = self._own_order(account, order_id)
            self._check_market(self.markets[o.ticker], placing=False)
            if o.status is not OrderStatus.RESTING:
                raise ApiError(404, "not_found", "order not found")
            if by is not None:
                new = max(ZERO, o.remaining - parse_count(by, "reduce_by"))
            else:
                new = ZERO if to in ("0", "0.00", "0.0") else parse_count(to, "reduce_to")
                if new > o.remaining:
                    raise ApiError(400, "invalid_parameters", "reduce_to exceeds the remaining count")
            if new == 0:
                self._cancel(o, "Decrease")
            else:
                delta = o.remaining - new
                o.remaining = new
                self.accounts[account].reserved -= delta * o.side_price
                o.updated_ts = self.clock()
                o.last_update_reason = "Decrease"
                self._emit_book_delta(o, -delta)
                self._mark("order", o.order_id, o)
                self._emit_user_order(o)
            self._after_op()
            return {"order_id": o.order_id, "client_order_id": o.client_order_id,
                    "remaining_count": fp(o.remaining), "ts_ms": int(self.clock() * 1000)}

    def amend_order(self, account: str, order_id: str, req: dict[str, Any]) -> dict[str, Any]:
        """V2 amend (``count`` = new total incl. filled). A price change or size increase loses queue place.

        Raises ApiError 400 on mismatched ticker/side or bad numbers, 404 if not resting, 409 paused.
        """
        price = parse_price(req.get("price"))
        count = parse_count(req.get("count"))
        with self.lock:
            self._check_exchange(placing=True)
            o = self._own_order(account, order_id)
            m = self.markets[o.ticker]
            self._check_market(m, placing=True)
            if o.status is not OrderStatus.RESTING:
                raise ApiError(404, "not_found", "order not found")
            if req.get("ticker") != o.ticker:
                raise ApiError(400, "order_ticker_mismatch", "ticker does not match the order")
            if req.get("side") != o.book_side:
                raise ApiError(400, "order_side_mismatch", "side does not match the order")
            if count <= o.filled:
                raise ApiError(400, "invalid_order_size", "count must exceed the filled count")
            acct = self.accounts[account]
            new_coid = req.get("updated_client_order_id")
            if new_coid:
                if new_coid in acct.client_ids:
                    raise ApiError(409, "order_already_exists", "order already exists")
                acct.client_ids.add(new_coid)
                if o.client_order_id:
                    self._mark("coid", o.client_order_id, account)
                o.client_order_id = new_coid
            new_remaining = count - o.filled
            filled_before = o.filled
            book = self.books[o.ticker]
            if price != o.price or new_remaining > o.remaining:
                book.remove(o)
                acct.reserved -= o.remaining * o.side_price
                self._emit_book_delta(o, -o.remaining)
                o.price, o.remaining = price, new_remaining
                o.updated_ts = self.clock()
                o.last_update_reason = "Amend"
                self._match(o)
                o.time_in_force = "good_till_canceled"
                self._finish_taker(o)
            else:
                delta = o.remaining - new_remaining
                o.remaining = new_remaining
                acct.reserved -= delta * o.side_price
                o.last_update_reason = "Amend"
                self._emit_book_delta(o, -delta)
                self._mark("order", o.order_id, o)
                self._emit_user_order(o)
            self._after_op()
            out = self._write_result(o)
            if o.filled == filled_before:
                out.pop("average_fill_price", None)
                out.pop("average_fee_paid", None)
            return out
