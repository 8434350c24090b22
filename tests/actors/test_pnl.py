"""Specification of the kill switch's P&L vocabulary: marks at the bid side, the trading day, round trips."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from kalshi_guard.actors.pnl import Book, PnL, StreakReplay, day_of, mark
from kalshi_guard.ledger.risk import TapeEntry

D = Decimal


def fill(n: int, ticker: str, delta: str, realized: str = "0", fee: str = "0") -> TapeEntry:
    return TapeEntry(float(n), "fill", n, ticker, D(delta), D(realized), D(fee))


def settlement(n: int, ticker: str, realized: str) -> TapeEntry:
    return TapeEntry(float(n), "settlement", n, ticker, D(0), D(realized), D(0))


class TestMark:
    def test_long_yes_is_worth_the_yes_bid(self) -> None:
        """10 YES bought for 5.00 with the bid at 0.42: worth 4.20, unrealised -0.80."""
        m = mark("T", D(10), D("5.00"), Book(D("0.42"), D("0.45")))
        assert (m.value, m.unrealized) == (D("4.20"), D("-0.80"))

    def test_long_no_is_worth_one_minus_the_yes_ask(self) -> None:
        """4 NO (YES-basis 2.00, so NO cost 2.00) with the YES ask at 0.55: worth 4 × 0.45 = 1.80."""
        m = mark("T", D(-4), D("2.00"), Book(D("0.50"), D("0.55")))
        assert (m.value, m.cost, m.unrealized) == (D("1.80"), D("2.00"), D("-0.20"))

    def test_an_empty_side_is_worth_nothing(self) -> None:
        """No bid to sell to: the position marks at zero (never better than the book)."""
        assert mark("T", D(3), D("1.50"), Book(None, D("0.60"))).value == 0
        assert mark("T", D(3), D("1.50"), None).value == 0


class TestPnL:
    def test_total_is_realised_net_plus_the_days_unrealised_change(self) -> None:
        p = PnL(D("1.00"), D("0.30"), D("-0.50"), D("0.20"))
        assert p.realized_net == D("0.70")
        assert p.total == D("0.70") - D("0.70")


class TestDay:
    def test_the_day_starts_at_the_boundary_in_its_time_zone(self) -> None:
        """17:00 New York: 21:59 UTC on 30 Nov (16:59 EST) belongs to the day that began on 29 Nov."""
        before = datetime(2026, 11, 30, 21, 59, tzinfo=UTC).timestamp()
        after = datetime(2026, 11, 30, 22, 0, tzinfo=UTC).timestamp()
        d1, d2 = day_of(before, "17:00", "America/New_York"), day_of(after, "17:00", "America/New_York")
        assert d1.start == datetime(2026, 11, 29, 22, 0, tzinfo=UTC)
        assert d2.start == datetime(2026, 11, 30, 22, 0, tzinfo=UTC)
        assert d1.name != d2.name


class TestStreak:
    def test_round_trips_count_net_of_fees_and_a_win_restarts(self) -> None:
        r = StreakReplay()
        r.feed([fill(1, "A", "2"), fill(2, "A", "-1", "-0.10"), fill(3, "A", "-1", "0.05", "0.01")])
        assert r.streak == 1, "one round trip (flat to flat): -0.10 + 0.05 - 0.01"
        r.feed([fill(4, "A", "1"), fill(5, "A", "-1", "0.20")])
        assert r.streak == 0
        r.feed([fill(6, "A", "1", fee="0.02"), fill(7, "A", "-1", "0")])
        assert r.streak == 1, "a flat price loses its fees"

    def test_a_losing_settlement_closes_a_round_trip(self) -> None:
        r = StreakReplay()
        r.feed([fill(1, "A", "5"), settlement(1, "A", "-2.50")])
        assert (r.streak, r.last_trip) == (1, D("-2.50"))
        assert (r.after_fill, r.after_settlement) == (1, 1)

    def test_crossing_zero_closes_one_trip_and_opens_the_next(self) -> None:
        r = StreakReplay()
        r.feed([fill(1, "A", "1"), fill(2, "A", "-3", "-0.10"), fill(3, "A", "2", "-0.05")])
        assert r.streak == 2
