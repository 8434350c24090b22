"""Specification of the flatten's pricing: from the book, never beyond the configured slippage."""

from __future__ import annotations

from decimal import Decimal

from kalshi_guard.actors.flatten import exit_price
from kalshi_guard.exchange.wire import BookSide

D = Decimal


class TestExitPrice:
    def test_long_yes_sells_at_the_bid_minus_the_offset(self) -> None:
        assert exit_price(D(5), D("0.40"), D("0.45"), D("0.03")) == (BookSide.ASK, D("0.37"))

    def test_long_no_buys_yes_at_the_ask_plus_the_offset(self) -> None:
        assert exit_price(D(-5), D("0.40"), D("0.45"), D("0.03")) == (BookSide.BID, D("0.48"))

    def test_prices_stay_inside_the_exchange_range_and_an_empty_side_sends_nothing(self) -> None:
        assert exit_price(D(5), D("0.02"), None, D("0.05")) == (BookSide.ASK, D("0.01"))
        assert exit_price(D(-5), None, D("0.97"), D("0.05")) == (BookSide.BID, D("0.99"))
        assert exit_price(D(5), None, D("0.45"), D("0.05")) is None
        assert exit_price(D(-5), D("0.40"), None, D("0.05")) is None
