"""Tests for exact Decimal storage and UTC timestamps on both backends."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from kalshi_guard.ledger.types import to_money

VALUES = ["0.123456", "10.01", "0", "-0.000001", "999999999999.999999", "-42.5", "0.9999"]


class TestToMoney:
    def test_accepts_exact_values(self):
        """Decimals, ints and numeric strings with up to 6 decimals are accepted unchanged in value."""
        assert to_money("10.01") == Decimal("10.01")
        assert to_money(7) == Decimal(7)

    @pytest.mark.parametrize("bad", [0.1, True, "NaN", "Infinity", "1.0000001", Decimal("1e12"), "abc"])
    def test_refuses_inexact_values(self, bad):
        """Floats, bools, NaN/∞, over-precise or out-of-range values raise ValueError."""
        with pytest.raises(ValueError):  # noqa: PT011
            to_money(bad)


class TestRoundTrip:
    @pytest.mark.parametrize("text", VALUES)
    def test_decimal_round_trip_exact(self, ledger, text):
        """A Decimal stored in a money column reads back equal, quantized to 6 places."""
        day = date(2026, 1, 1)
        ledger.set_daily_anchor(day, Decimal(text))
        got = ledger.daily_anchor(day)
        assert got == Decimal(text)
        assert str(got) == str(Decimal(text).quantize(Decimal("0.000001")))

    def test_sums_are_exact(self, ledger):
        """Summing many cent-fractions in SQL stays exact (no float drift)."""
        from kalshi_guard.ledger import FillRecord

        for i in range(30):
            ledger.book_fill(FillRecord(f"t{i}", None, None, "M-1", "bid", Decimal("0.01"), Decimal("0.1"),
                                        Decimal("0.000001"), True, 1_780_000_000.0))
        assert ledger.daily_realized_pnl(date(2026, 5, 28)) == Decimal("-0.000030")
        pos = ledger.position("M-1")
        assert pos.net_count == Decimal("0.30")
        assert pos.cost_basis == Decimal("0.030")
