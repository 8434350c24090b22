"""What the :class:`simulator.engine.Exchange` mixins share: the exchange's state and its engine primitives.

Every mixin derives from :class:`ExchangeBase`, so a mixin's ``self`` is typed without naming the engine.
The primitives below are defined for real on :class:`simulator.engine.Exchange` (first in the MRO); the
bodies here only raise, so a mixin used outside an ``Exchange`` fails loudly instead of doing half a job.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from kalshi_guard.simulator.accounts import Account, Fill, Order
from kalshi_guard.simulator.book import Book
from kalshi_guard.simulator.markets import Market


class ExchangeBase:
    """The exchange's state (set in ``Exchange.__init__``) and the engine methods the mixins call."""

    lock: threading.RLock
    clock: Callable[[], float]
    markets: dict[str, Market]
    books: dict[str, Book]
    accounts: dict[str, Account]
    orders: dict[str, Order]
    user_ids: dict[str, str]
    trading_active: bool
    exchange_active: bool
    tape: deque[dict[str, Any]]

    def account(self, name: str) -> Account:
        raise NotImplementedError

    def user_id(self, name: str) -> str:
        raise NotImplementedError

    def _emit(self, kind: str, payload: dict[str, Any], account: str | None = None,
              ticker: str | None = None) -> None:
        raise NotImplementedError

    def _mark(self, kind: str, key: str, obj: Any) -> None:
        raise NotImplementedError

    def _commit(self) -> None:
        raise NotImplementedError

    def _market(self, ticker: Any) -> Market:
        raise NotImplementedError

    def _check_exchange(self, *, placing: bool) -> None:
        raise NotImplementedError

    def _check_market(self, m: Market, *, placing: bool) -> None:
        raise NotImplementedError

    def _own_order(self, account: str, order_id: str) -> Order:
        raise NotImplementedError

    def _write_result(self, o: Order) -> dict[str, Any]:
        raise NotImplementedError

    def _match(self, o: Order) -> None:
        raise NotImplementedError

    def _trade(self, taker: Order, maker: Order, q: Decimal, now: float | None = None) -> None:
        raise NotImplementedError

    def _finish_taker(self, o: Order) -> None:
        raise NotImplementedError

    def _cancel(self, o: Order, reason: str) -> Decimal:
        raise NotImplementedError

    def _after_op(self) -> None:
        raise NotImplementedError

    # ---- defined by one mixin, called from another ------------------------------------------------

    def _emit_user_order(self, o: Order) -> None:
        raise NotImplementedError

    def _emit_fill(self, acct: Account, f: Fill, pos: Any) -> None:
        raise NotImplementedError

    def _emit_book_delta(self, o: Order, delta: Decimal) -> None:
        raise NotImplementedError

    def record_trade(self, trade: dict[str, Any]) -> None:
        raise NotImplementedError

    def order_archived(self, o: Order) -> bool:
        raise NotImplementedError

    def fill_archived(self, f: Fill) -> bool:
        raise NotImplementedError

    def market(self, ticker: str) -> dict[str, Any]:
        raise NotImplementedError

    def orderbook(self, ticker: str, depth: int = 0) -> dict[str, Any]:
        raise NotImplementedError
