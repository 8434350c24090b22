"""A price-time-priority limit order book on the YES price scale (bid = buy YES, ask = sell YES ≡ buy NO)."""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterator
from decimal import Decimal
from typing import Protocol

ONE = Decimal(1)


class Resting(Protocol):
    """What the book needs from a resting order."""

    order_id: str
    account: str
    book_side: str  # "bid" | "ask"
    price: Decimal  # YES-scale limit price
    remaining: Decimal


class _Side:
    """One side: price -> FIFO queue, with a sorted price list."""

    __slots__ = ("levels", "prices")

    def __init__(self) -> None:
        self.levels: dict[Decimal, deque[Resting]] = {}
        self.prices: list[Decimal] = []  # ascending

    def add(self, order: Resting) -> None:
        q = self.levels.get(order.price)
        if q is None:
            q = self.levels[order.price] = deque()
            bisect.insort(self.prices, order.price)
        q.append(order)

    def remove(self, order: Resting) -> bool:
        q = self.levels.get(order.price)
        if q is None:
            return False
        try:
            q.remove(order)
        except ValueError:
            return False
        if not q:
            self._drop(order.price)
        return True

    def _drop(self, price: Decimal) -> None:
        del self.levels[price]
        i = bisect.bisect_left(self.prices, price)
        del self.prices[i]

    def ahead_of(self, order: Resting) -> Decimal | None:
        """Contracts queued before ``order`` at its price (0-indexed); None when it is not on this side."""
        ahead = Decimal(0)
        for o in self.levels.get(order.price, ()):
            if o is order:
                return ahead
            ahead += o.remaining
        return None

    def size_at(self, price: Decimal) -> Decimal:
        q = self.levels.get(price)
        return sum((o.remaining for o in q), Decimal(0)) if q else Decimal(0)


class Book:
    """The book of one market. Not thread-safe: the exchange lock guards it."""

    __slots__ = ("asks", "bids", "ticker")

    def __init__(self, ticker: str) -> None:
        self.ticker = ticker
        self.bids = _Side()
        self.asks = _Side()

    def side(self, book_side: str) -> _Side:
        """The side an order of ``book_side`` rests on."""
        return self.bids if book_side == "bid" else self.asks

    def add(self, order: Resting) -> None:
        """Rest ``order`` at the back of its price level."""
        self.side(order.book_side).add(order)

    def remove(self, order: Resting) -> bool:
        """Take ``order`` off the book; False if it was not there."""
        return self.side(order.book_side).remove(order)

    def best_bid(self) -> Decimal | None:
        """Highest YES bid, or None."""
        return self.bids.prices[-1] if self.bids.prices else None

    def best_ask(self) -> Decimal | None:
        """Lowest YES ask, or None."""
        return self.asks.prices[0] if self.asks.prices else None

    def best_crossing(self, book_side: str, price: Decimal) -> Resting | None:
        """The first resting order an incoming ``book_side`` order at ``price`` would match, or None."""
        opposite = self.asks if book_side == "bid" else self.bids
        if not opposite.prices:
            return None
        best = opposite.prices[0] if book_side == "bid" else opposite.prices[-1]
        if (book_side == "bid" and best > price) or (book_side == "ask" and best < price):
            return None
        return opposite.levels[best][0]

    def crossing(self, book_side: str, price: Decimal) -> Iterator[Resting]:
        """Every resting order an incoming order would match, in priority order (do not mutate meanwhile)."""
        opposite = self.asks if book_side == "bid" else self.bids
        prices = opposite.prices if book_side == "bid" else opposite.prices[::-1]
        for p in prices:
            if (book_side == "bid" and p > price) or (book_side == "ask" and p < price):
                return
            yield from opposite.levels[p]

    def size_at(self, book_side: str, price: Decimal) -> Decimal:
        """Total resting count at one level of one side."""
        return self.side(book_side).size_at(price)

    def levels(self, book_side: str, depth: int = 0) -> list[tuple[Decimal, Decimal]]:
        """``[(yes_price, size)]`` of a side, ascending by price (best bid last; for asks best first)."""
        s = self.side(book_side)
        out = [(p, s.size_at(p)) for p in s.prices]
        if depth > 0:
            out = out[-depth:] if book_side == "bid" else out[:depth]
        return out

    def orderbook_fp(self, depth: int = 0) -> tuple[list[list[str]], list[list[str]]]:
        """Kalshi's two bid ladders (YES bids, NO bids), ascending, best last, as ``[price, count]`` strings."""
        yes = [[f"{p:.4f}", f"{q:.2f}"] for p, q in self.levels("bid", depth)]
        no = [[f"{ONE - p:.4f}", f"{q:.2f}"] for p, q in reversed(self.levels("ask", depth))]
        return yes, no
