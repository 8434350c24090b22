"""Market lifecycle, exchange pauses, expiry and actions on an account from outside the daemon."""

from __future__ import annotations

import uuid
from decimal import ROUND_DOWN, Decimal
from typing import Any

from kalshi_guard.exchange.fees import trade_fee
from kalshi_guard.simulator.accounts import MAKER_ACCOUNT, ONE, ZERO, Fill, Order, OrderStatus, Settlement
from kalshi_guard.simulator.base import ExchangeBase
from kalshi_guard.simulator.markets import MarketStatus
from kalshi_guard.simulator.wire import ApiError, usd

DEFAULT = "sim-user"


class LifecycleMixin(ExchangeBase):
    """Mixed into :class:`simulator.engine.Exchange`; every method takes the exchange lock."""

    def _lifecycle(self, ticker: str, event_type: str, **extra: Any) -> None:
        self._emit("market_lifecycle_v2", {"market_ticker": ticker, "event_type": event_type,
                                           "exchange_index": 0, **extra}, None, ticker)

    def _cancel_market_orders(self, ticker: str, reason: str) -> None:
        for o in list(self.orders.values()):
            if o.ticker == ticker and o.status is OrderStatus.RESTING:
                self._cancel(o, reason)

    def close_market(self, ticker: str) -> None:
        """Close a market now: status ``closed``, every resting order cancelled (no lifecycle event, as Kalshi)."""
        with self.lock:
            m = self._market(ticker)
            if m.closed:
                return
            m.status = MarketStatus.CLOSED
            m.close_ts = min(m.close_ts, self.clock())
            m.updated_ts = self.clock()
            self._cancel_market_orders(ticker, "CloseCancel")
            self._mark("market", ticker, m)
            self._after_op()

    def pause_market(self, ticker: str) -> None:
        """Pause one market (``inactive``): new orders get 409 ``trading_is_paused``."""
        with self.lock:
            m = self._market(ticker)
            if m.status is MarketStatus.ACTIVE:
                m.status = MarketStatus.INACTIVE
                self._lifecycle(ticker, "deactivated", is_deactivated=True)
                self._mark("market", ticker, m)
                self._after_op()

    def resume_market(self, ticker: str) -> None:
        """Unpause a market; as on Kalshi every resting order in it is cancelled on reactivation."""
        with self.lock:
            m = self._market(ticker)
            if m.status is MarketStatus.INACTIVE:
                m.status = MarketStatus.ACTIVE
                self._cancel_market_orders(ticker, "HaltCancel")
                self._lifecycle(ticker, "activated", is_deactivated=False)
                self._mark("market", ticker, m)
                self._after_op()

    def determine(self, ticker: str, result: str) -> None:
        """Set the result (``yes``|``no``) of a market, closing it first if needed. Raises ValueError."""
        if result not in ("yes", "no"):
            raise ValueError(f"result must be 'yes' or 'no', not {result!r}")
        with self.lock:
            m = self._market(ticker)
            if m.status is MarketStatus.FINALIZED:
                raise ValueError(f"{ticker} is already settled")
            self.close_market(ticker)
            m.status = MarketStatus.DETERMINED
            m.result = result
            m.determined_ts = self.clock()
            self._lifecycle(ticker, "determined", result=result, determination_ts=int(m.determined_ts),
                            settlement_value=usd(ONE if result == "yes" else ZERO))
            self._mark("market", ticker, m)
            self._after_op()

    def settle(self, ticker: str, result: str | None = None) -> None:
        """Settle: pay $1 per winning contract on net positions; positions move to settlements.

        ``result`` determines the market first when given. Raises ValueError if undetermined.
        """
        with self.lock:
            if result is not None:
                self.determine(ticker, result)
            m = self._market(ticker)
            if m.status is MarketStatus.FINALIZED:
                return
            if m.status is not MarketStatus.DETERMINED:
                raise ValueError(f"{ticker} has no result yet (determine it first)")
            now = self.clock()
            for acct in self.accounts.values():
                pos = acct.positions.pop(ticker, None)
                if pos is None or (pos.position == 0 and pos.volume == 0):
                    continue
                yes = max(ZERO, pos.position)
                no = max(ZERO, -pos.position)
                won = yes if m.result == "yes" else no
                revenue = (won * 100).to_integral_value(rounding=ROUND_DOWN)
                acct.cash += revenue / 100
                s = Settlement(ticker, m.event_ticker, m.result, yes, pos.cost if yes else ZERO, no,
                               pos.cost if no else ZERO, int(revenue), now)
                if not acct.unlimited:
                    acct.settlements.append(s)
                    self._mark("settle", f"{acct.name}/{ticker}", (acct.name, s))
                    self._mark("pos", f"{acct.name}/{ticker}", (acct.name, None, ticker))
                    self._mark("acct", acct.name, acct)
                    pos.position = ZERO
                    pos.cost = ZERO
                    pos.updated_ts = now
                    from kalshi_guard.simulator.wire import position_msg

                    self._emit("market_position", position_msg(pos, self.user_id(acct.name)), acct.name, ticker)
            m.status = MarketStatus.FINALIZED
            m.settled_ts = now
            self._lifecycle(ticker, "settled", settled_ts=int(now), result=m.result)
            self._mark("market", ticker, m)
            self._after_op()

    def set_trading_active(self, active: bool) -> None:
        """Trading pause (False): no place/amend, cancels allowed; ``cancel_order_on_pause`` orders go."""
        with self.lock:
            self.trading_active = active
            if not active:
                self._cancel_on_pause()
            self._after_op()

    def set_exchange_active(self, active: bool) -> None:
        """Exchange pause (False): place, amend and cancel all refused with 503 ``exchange_paused``."""
        with self.lock:
            self.exchange_active = active
            if not active:
                self._cancel_on_pause()
            self._after_op()

    def _cancel_on_pause(self) -> None:
        for o in list(self.orders.values()):
            if o.status is OrderStatus.RESTING and o.cancel_on_pause:
                self._cancel(o, "PauseCancel")

    def tick(self) -> None:
        """Housekeeping: expire good-till-time orders, close markets whose close time has passed."""
        with self.lock:
            now = self.clock()
            for o in list(self.orders.values()):
                if o.status is OrderStatus.RESTING and o.expiration_ts is not None and o.expiration_ts <= now:
                    self._cancel(o, "ExpiryCancel")
            for m in self.markets.values():
                if not m.closed and m.close_ts <= now:
                    self.close_market(m.ticker)
            self._after_op()

    # ---- actions from outside the daemon --------------------------------------------------------

    def external_trade(self, ticker: str, side: str, count: Decimal | str | int,
                       price: Decimal | str, account: str = DEFAULT) -> str:
        """An orphan: ``account`` buys ``count`` of ``side`` (yes|no|bid|ask) at YES-scale ``price``.

        The fill, position and balance change appear as if another client of the same account traded.
        Returns the new (executed) order id. Raises ApiError for a closed or unknown market.
        """
        book_side = {"yes": "bid", "bid": "bid", "no": "ask", "ask": "ask"}[side]
        q, p = Decimal(str(count)), Decimal(str(price))
        with self.lock:
            m = self._market(ticker)
            if m.closed:
                raise ApiError(400, "MARKET_INACTIVE", f"market {ticker} is closed")
            return self._direct_fill(account, ticker, book_side, q, p, f"external-{uuid.uuid4()}")

    def external_close(self, ticker: str, account: str = DEFAULT) -> str | None:
        """A ghost: flatten ``account``'s position in ``ticker`` outside the daemon at the current mid.

        Returns the closing order id, or None when the position is already flat.
        """
        with self.lock:
            m = self._market(ticker)
            pos = self.account(account).positions.get(ticker)
            if pos is None or pos.position == 0:
                return None
            if m.closed:
                raise ApiError(400, "MARKET_INACTIVE", f"market {ticker} is closed")
            book = self.books[ticker]
            bid, ask = book.best_bid(), book.best_ask()
            mid = m.last_price if bid is None or ask is None else ((bid + ask) / 2).quantize(Decimal("0.01"))
            mid = min(max(mid, Decimal("0.01")), Decimal("0.99"))
            side = "ask" if pos.position > 0 else "bid"
            return self._direct_fill(account, ticker, side, abs(pos.position), mid, f"external-close-{uuid.uuid4()}")

    def _direct_fill(self, account: str, ticker: str, book_side: str, q: Decimal, price: Decimal,
                     coid: str) -> str:
        now = self.clock()
        acct = self.account(account)
        o = Order(str(uuid.uuid4()), account, coid, ticker, book_side, price, q, ZERO, "immediate_or_cancel",
                  "taker_at_cross", now, filled=q, status=OrderStatus.EXECUTED, updated_ts=now,
                  last_update_reason="Trade")
        side_price = price if book_side == "bid" else ONE - price
        fee = trade_fee(q, side_price)
        o.taker_fill_cost, o.taker_fees = q * side_price, fee
        pos = acct.position(ticker)
        acct.cash += pos.apply(o.outcome_side, q, side_price, fee, now)
        acct.client_ids.add(coid)
        self.orders[o.order_id] = o
        acct.order_ids.append(o.order_id)
        f = Fill(str(uuid.uuid4()), o.order_id, coid, ticker, book_side, q, price, True, fee, now, pos.position)
        acct.fills.append(f)
        m = self.markets[ticker]
        m.last_price, m.volume = price, m.volume + q
        for kind, key, obj in (("order", o.order_id, o), ("fill", f.fill_id, f), ("acct", account, acct),
                               ("pos", f"{account}/{ticker}", (account, pos))):
            self._mark(kind, key, obj)
        self._emit_user_order(o)
        self._emit_fill(acct, f, pos)
        self._after_op()
        return o.order_id

    # ---- a counterparty ---------------------------------------------------------------------------

    def counterparty_fill(self, order_id: str, count: Decimal | str | int) -> dict[str, Any]:
        """Another account (the synthetic maker) takes ``count`` of resting order ``order_id`` at its price.

        The resting order is the maker (no fee), so the owner sees an ordinary fill and user_orders update
        on its private channels, exactly as when a stranger trades against it. Returns the trade figures.
        Raises ApiError 404 for an unknown order, 400 when it is not resting, the count exceeds what
        remains, or the market is not tradable.
        """

        q = Decimal(str(count))
        with self.lock:
            o = self.orders.get(order_id)
            if o is None or o.account == MAKER_ACCOUNT:
                raise ApiError(404, "not_found", "order not found")
            if o.status is not OrderStatus.RESTING:
                raise ApiError(400, "invalid_order", "order is not resting")
            if not self.markets[o.ticker].tradable:
                raise ApiError(400, "MARKET_INACTIVE", f"market {o.ticker} is not tradable")
            if q <= 0 or q > o.remaining:
                raise ApiError(400, "invalid_parameters", f"count must be in (0, {o.remaining}]")
            now = self.clock()
            taker = Order(str(uuid.uuid4()), MAKER_ACCOUNT, "", o.ticker, "ask" if o.book_side == "bid" else "bid",
                          o.price, q, q, "immediate_or_cancel", "taker_at_cross", now, updated_ts=now)
            self.orders[taker.order_id] = taker
            self._trade(taker, o, q, now)
            self._finish_taker(taker)
            self._after_op()
            return {"order_id": o.order_id, "count": str(q), "price": str(o.price),
                    "remaining": str(o.remaining), "status": o.status.value}
