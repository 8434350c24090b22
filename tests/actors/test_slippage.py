"""Tests of slippage per fill and per order (actors.slippage)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kalshi_guard.actors.orders_api import Action, Outcome
from kalshi_guard.actors.slippage import fill_slippage, order_slippage

D = Decimal


class TestSigns:
    # (outcome, action, limit, fill YES-book price, reference, expected cents vs reference)
    CASES = [
        (Outcome.YES, Action.BUY, "0.50", "0.52", "0.50", "2.00"),  # paid 2c more than reference
        (Outcome.YES, Action.SELL, "0.50", "0.47", "0.50", "3.00"),  # received 3c less
        (Outcome.NO, Action.BUY, "0.40", "0.58", "0.40", "2.00"),  # NO at 0.42: paid 2c more
        (Outcome.NO, Action.SELL, "0.40", "0.65", "0.40", "5.00"),  # NO at 0.35: received 5c less
    ]

    @pytest.mark.parametrize(("outcome", "action", "limit", "yes", "ref", "cents"), CASES)
    def test_worse_is_positive(self, outcome, action, limit, yes, ref, cents):
        """For all four (outcome, action) pairs, a fill worse than the reference is positive slippage."""
        s = fill_slippage(outcome, action, D(10), D(yes), D(limit), D(ref))
        assert s.vs_reference.cents_per_contract == D(cents)
        assert s.vs_reference.dollars == D(cents) / 100 * 10

    @pytest.mark.parametrize(("outcome", "action", "yes"), [
        (Outcome.YES, Action.BUY, "0.48"), (Outcome.YES, Action.SELL, "0.53"),
        (Outcome.NO, Action.BUY, "0.62"), (Outcome.NO, Action.SELL, "0.57"),
    ])
    def test_price_improvement_is_negative(self, outcome, action, yes):
        """A fill better than the limit price gives negative slippage against the limit."""
        limit = D("0.50") if outcome is Outcome.YES else D("0.40")
        s = fill_slippage(outcome, action, D(1), D(yes), limit, None)
        assert s.vs_limit.cents_per_contract < 0
        assert s.vs_reference is None


class TestOrder:
    def test_order_totals_are_exact(self):
        """Order slippage sums fill dollars exactly and averages cents per contract over the count."""
        s = order_slippage(Outcome.YES, Action.BUY, [(D("1.50"), D("0.5100")), (D("2.25"), D("0.5300"))],
                           D("0.55"), D("0.50"))
        assert s.vs_reference.dollars == D("0.0825")
        assert s.vs_reference.cents_per_contract == D("2.2000")
        assert s.vs_limit.dollars == D("-0.105")
        assert s.vs_limit.cents_per_contract == D("-2.8000")
        assert len(s.fills) == 2

    def test_no_fills_no_slippage(self):
        """An order without fills has no slippage."""
        assert order_slippage(Outcome.NO, Action.SELL, [], D("0.4"), D("0.4")) is None

    def test_non_positive_fill_rejected(self):
        """A fill of zero contracts is refused with ValueError."""
        with pytest.raises(ValueError, match="positive"):
            fill_slippage(Outcome.YES, Action.BUY, D(0), D("0.5"), D("0.5"), None)

    def test_json_strings(self):
        """The JSON form carries decimal strings for dollars and cents."""
        s = order_slippage(Outcome.YES, Action.BUY, [(D(3), D("0.5100"))], D("0.51"), None)
        assert s.to_json() == {"vs_limit": {"dollars": "0.000000", "cents_per_contract": "0.0000"},
                               "vs_reference": None}
