"""Exchange events for the WebSocket channels: user orders, fills, positions, book deltas, trades, tickers."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kalshi_guard.simulator.accounts import ONE, ZERO, Account, Fill, Order
from kalshi_guard.simulator.markets import Market
from kalshi_guard.simulator.wire import fill_msg, fp, position_msg, rfc3339, usd, user_order_msg

if TYPE_CHECKING:
    from kalshi_guard.simulator.engine import Exchange

MAKER_ACCOUNT = "sim-maker"


class EventsMixin:
    """Mixed into :class:`simulator.engine.Exchange`; called under the exchange lock."""

    def _emit_user_order(self: Exchange, o: Order) -> None:
        if o.account != MAKER_ACCOUNT:
            self._emit("user_order", user_order_msg(o, self.user_id(o.account)), o.account, o.ticker)

    def _emit_fill(self: Exchange, acct: Account, f: Fill, pos: Any) -> None:
        self._emit("fill", fill_msg(f), acct.name, f.ticker)
        self._emit("market_position", position_msg(pos, self.user_id(acct.name)), acct.name, f.ticker)

    def _emit_book_delta(self: Exchange, o: Order, delta: Decimal) -> None:
        if delta == 0:
            return
        m = self.markets[o.ticker]
        yes = o.book_side == "bid"
        payload = {"market_ticker": o.ticker, "market_id": m.market_id,
                   "price_dollars": usd(o.price if yes else ONE - o.price),
                   "delta_fp": fp(delta), "side": "yes" if yes else "no", "ts_ms": int(self.clock() * 1000)}
        if o.account != MAKER_ACCOUNT and o.client_order_id:
            payload["_owner"] = o.account  # the hub shows client_order_id to the owner only
            payload["_coid"] = o.client_order_id
        self._emit("orderbook_delta", payload, None, o.ticker)

    def _emit_trade(self: Exchange, m: Market, taker: Order, q: Decimal, price: Decimal, now: float) -> None:
        trade_id = str(uuid.uuid4())
        self.record_trade({
            "trade_id": trade_id, "ticker": m.ticker, "count_fp": fp(q), "yes_price_dollars": usd(price),
            "no_price_dollars": usd(ONE - price), "taker_side": taker.outcome_side,
            "taker_outcome_side": taker.outcome_side, "taker_book_side": taker.book_side,
            "created_time": rfc3339(now), "is_block_trade": False, "_ts": int(now)})
        self._emit("trade", {
            "trade_id": trade_id, "market_ticker": m.ticker, "yes_price_dollars": usd(price),
            "no_price_dollars": usd(ONE - price), "count_fp": fp(q), "taker_outcome_side": taker.outcome_side,
            "taker_book_side": taker.book_side, "taker_side": taker.outcome_side, "is_block_trade": False,
            "ts_ms": int(now * 1000),
            "ts": int(now)}, None, m.ticker)
        self._emit("ticker", self.ticker_msg(m.ticker), None, m.ticker)

    def ticker_msg(self: Exchange, ticker: str) -> dict[str, Any]:
        """WS ``ticker`` payload for one market (top of book, last price, volume)."""
        m, book = self.markets[ticker], self.books[ticker]
        bid, ask = book.best_bid(), book.best_ask()
        now = self.clock()
        return {
            "market_ticker": ticker, "market_id": m.market_id, "price_dollars": usd(m.last_price),
            "yes_bid_dollars": usd(bid if bid is not None else ZERO),
            "yes_ask_dollars": usd(ask if ask is not None else ONE),
            "yes_bid_size_fp": fp(book.size_at("bid", bid) if bid is not None else ZERO),
            "yes_ask_size_fp": fp(book.size_at("ask", ask) if ask is not None else ZERO),
            "last_trade_size_fp": fp(m.last_trade_size), "volume_fp": fp(m.volume),
            "open_interest_fp": fp(m.open_interest), "time": rfc3339(now),
            "dollar_volume": int(m.volume), "dollar_open_interest": int(m.open_interest),
            "ts_ms": int(now * 1000), "ts": int(now)}
