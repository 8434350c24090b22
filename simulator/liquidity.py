"""Seeded synthetic market makers: a random-walk mid per market, quoted on both sides of the book."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import TYPE_CHECKING

from kalshi_guard.simulator.markets import DEFAULT_MARKETS, MarketSpec

if TYPE_CHECKING:
    from kalshi_guard.simulator.engine import Exchange

CENT = Decimal("0.01")
LO, HI = Decimal("0.05"), Decimal("0.95")


class Liquidity:
    """Quotes ``levels`` price levels each side of a random-walk mid; deterministic under ``seed``.

    ``step()`` moves every mid by −1, 0 or +1 cent and re-quotes; call it from a timer or a test.
    """

    def __init__(self, exchange: Exchange, seed: int = 0, *, levels: int = 5,
                 markets: tuple[MarketSpec, ...] = DEFAULT_MARKETS) -> None:
        self.exchange = exchange
        self.rng = random.Random(seed)
        self.levels = levels
        self.mids: dict[str, Decimal] = {m.ticker: m.start_mid for m in markets}
        self.steps = 0

    def seed_books(self) -> None:
        """Place the initial quotes on every market."""
        for ticker in sorted(self.mids):
            self._quote(ticker)

    def step(self) -> None:
        """Move each mid one random tick and re-quote (markets that are not active are skipped)."""
        self.steps += 1
        for ticker in sorted(self.mids):
            mid = self.mids[ticker] + CENT * self.rng.choice((-1, 0, 1))
            self.mids[ticker] = min(max(mid, LO), HI)
            self._quote(ticker)

    def _quote(self, ticker: str) -> None:
        ex = self.exchange
        with ex.lock:
            m = ex.markets.get(ticker)
            if m is None or not m.tradable:
                return
            ex.cancel_maker_orders(ticker)
            mid = self.mids[ticker]
            for i in range(1, self.levels + 1):
                size = Decimal(self.rng.randrange(20, 300))
                bid = mid - CENT * i
                ask = mid + CENT * i
                if bid >= CENT:
                    ex.place_maker(ticker, "bid", bid, size)
                if ask <= 1 - CENT:
                    ex.place_maker(ticker, "ask", ask, Decimal(self.rng.randrange(20, 300)))
