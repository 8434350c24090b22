"""Tests of the pure pre-trade checks (actors.pretrade)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from kalshi_guard.actors.orders_api import BookSide, parse_order_request
from kalshi_guard.actors.pretrade import (
    MarketInfo,
    OpenOrder,
    OpenState,
    PositionView,
    PriceRange,
    RejectCode,
    RiskView,
    Throttle,
    check,
    enforce,
    market_exposure,
    on_tick,
    order_loss,
    total_exposure,
)
from kalshi_guard.config.schema import LimitSettings
from kalshi_guard.core.errors import PreTradeRejected

D = Decimal
NOW = 1_800_000_000.0
LIMITS = LimitSettings()
LINEAR = (PriceRange(D("0"), D("1"), D("0.01")),)
TAPERED = (PriceRange(D("0"), D("0.10"), D("0.001")), PriceRange(D("0.10"), D("0.90"), D("0.01")),
           PriceRange(D("0.90"), D("1"), D("0.001")))


def market(ticker="KX-A", event="EV-1", **kw) -> MarketInfo:
    base = {"status": "active", "close_ts": NOW + 3600, "price_ranges": LINEAR,
            "yes_bid": D("0.48"), "yes_ask": D("0.52")}
    base.update(kw)
    return MarketInfo(ticker, event, **base)


def view(markets=None, positions=None, orders=(), tokens=20.0, trading_active=True) -> RiskView:
    ms = markets or [market(), market("KX-B", "EV-1"), market("KX-C", "EV-2")]
    return RiskView({m.ticker: m for m in ms}, positions or {}, tuple(orders), Throttle(tokens, NOW),
                    trading_active)


def req(**kw):
    body = {"ticker": "KX-A", "outcome": "yes", "action": "buy", "count": "10", "price": "0.50",
            "time_in_force": "gtc"}
    body.update(kw)
    return parse_order_request(body)


def order(ticker, count, yes="0.50", side=BookSide.BID, state=OpenState.RESTING, cid="o"):
    return OpenOrder(cid, ticker, side, D(yes), D(count), state)


def code(r, v, limits=LIMITS):
    result = check(r, v, limits, NOW)
    return None if result is None else result.code


class TestCodes:
    def test_passing_order(self):
        """A sensible order on an open market within every limit passes."""
        assert check(req(), view(), LIMITS, NOW) is None

    @pytest.mark.parametrize(("case", "r", "v", "expected"), [
        ("unknown market", req(ticker="KX-NOPE"), view(), RejectCode.MARKET_UNKNOWN),
        ("closed status", req(), view([market(status="closed")]), RejectCode.MARKET_CLOSED),
        ("not yet open", req(), view([market(status="initialized")]), RejectCode.MARKET_CLOSED),
        ("past close time", req(), view([market(close_ts=NOW - 1)]), RejectCode.MARKET_CLOSED),
        ("market paused", req(), view([market(status="inactive")]), RejectCode.TRADING_PAUSED),
        ("exchange paused", req(), view(trading_active=False), RejectCode.TRADING_PAUSED),
        ("near close", req(), view([market(close_ts=NOW + 120)]), RejectCode.NEAR_CLOSE),
        ("unknown order", req(), view(orders=[order("KX-A", "1", state=OpenState.UNKNOWN)]),
         RejectCode.UNKNOWN_ORDER_IN_MARKET),
        ("off tick", req(price="0.505"), view(), RejectCode.OFF_TICK),
        ("size", req(count="101"), view(), RejectCode.SIZE_LIMIT),
        ("order loss", req(count="100", price="0.52"), view(), RejectCode.ORDER_LOSS_LIMIT),
        ("market exposure", req(count="20"), view(positions={"KX-A": PositionView(D(90), D(90))}),
         RejectCode.MARKET_EXPOSURE),
        ("event exposure", req(count="20"), view(positions={"KX-B": PositionView(D(195), D(195))}),
         RejectCode.EVENT_EXPOSURE),
        ("total exposure", req(count="20"), view(positions={"KX-C": PositionView(D(400), D(495))}),
         RejectCode.TOTAL_EXPOSURE),
        ("open orders", req(), view(orders=[order("KX-C", "1", "0.01", cid=f"o{i}") for i in range(50)]),
         RejectCode.OPEN_ORDERS),
        ("throttled", req(), view(tokens=0.5), RejectCode.THROTTLED),
        ("collar bid", req(price="0.70"), view(), RejectCode.PRICE_COLLAR),
        ("collar ask", req(action="sell", price="0.30"), view(), RejectCode.PRICE_COLLAR),
        ("no quote", req(), view([market(yes_bid=None, yes_ask=None)]), RejectCode.PRICE_COLLAR),
    ])
    def test_each_code(self, case, r, v, expected):
        """Each pre-trade rule refuses with its own stable reason code."""
        assert code(r, v) is expected

    def test_enforce_raises_with_code(self):
        """enforce raises PreTradeRejected carrying the code and a detail."""
        with pytest.raises(PreTradeRejected) as info:
            enforce(req(ticker="KX-NOPE"), view(), LIMITS, NOW)
        assert info.value.code == "MARKET_UNKNOWN"
        enforce(req(), view(), LIMITS, NOW)


class TestExposure:
    def test_unknown_orders_count_at_full_size(self):
        """An UNKNOWN order elsewhere in the event counts at full size toward the event limit."""
        unknown = order("KX-B", "100", "0.99", state=OpenState.UNKNOWN)
        v = view(positions={"KX-B": PositionView(D(95), D(95))}, orders=[unknown])
        assert market_exposure(v, "KX-B") == D("194.0693")
        assert code(req(count="20"), v) is RejectCode.EVENT_EXPOSURE
        assert code(req(count="20"), replace(v, open_orders=())) is None

    def test_resting_orders_count_in_total(self):
        """Resting orders in markets absent from the view still count toward total exposure."""
        v = view(orders=[order("KX-ELSEWHERE", "100", "0.99", cid=f"r{i}") for i in range(5)])
        assert total_exposure(v) > D(495)
        assert code(req(), v) is RejectCode.TOTAL_EXPOSURE

    def test_reducing_order_passes_exposure_limits(self):
        """Selling YES (or buying NO) against a YES position at the limit passes the exposure limits."""
        v = view(positions={"KX-A": PositionView(D(190), D(99))})
        assert code(req(count="20"), v) is RejectCode.MARKET_EXPOSURE
        assert code(req(action="sell", count="50", price="0.48"), v) is None
        assert code(req(outcome="no", count="50", price="0.52"), v) is None

    def test_order_larger_than_position_is_not_reducing(self):
        """The part of a sell beyond the position opens NO contracts and meets the limits."""
        v = view(positions={"KX-A": PositionView(D(20), D(99))})
        assert code(req(action="sell", count="40", price="0.48"), v) is RejectCode.MARKET_EXPOSURE

    def test_pending_closing_orders_use_up_the_position(self):
        """A position already being closed by a resting order cannot be reduced twice."""
        closing = order("KX-A", "100", "0.60", side=BookSide.ASK)
        v = view(positions={"KX-A": PositionView(D(100), D(60))}, orders=[closing])
        loss, opening = order_loss(BookSide.ASK, D("0.50"), D(10), D(100), D(100))
        assert opening == D(10)
        assert loss > D(5)
        assert code(req(action="sell", count="10"), v) is RejectCode.MARKET_EXPOSURE
        assert code(req(action="sell", count="10"), replace(v, open_orders=())) is None


class TestFormulas:
    def test_buy_no_worst_case_loss(self):
        """Buying 10 NO at 0.40 (ask at 0.60) can lose 10 × 0.40 plus the maximum taker fee."""
        loss, opening = order_loss(BookSide.ASK, D("0.60"), D(10), D(0))
        assert (loss, opening) == (D("4.168"), D(10))

    def test_buy_yes_worst_case_loss(self):
        """Buying 100 YES at 0.52 can lose 52 plus the taker fee rounded up to $0.0001."""
        assert order_loss(BookSide.BID, D("0.52"), D(100), D(0))[0] == D("53.7472")

    def test_tapered_tick_grid(self):
        """Sub-cent prices are on the grid only in the deci-cent bands."""
        assert on_tick(D("0.051"), TAPERED)
        assert on_tick(D("0.955"), TAPERED)
        assert not on_tick(D("0.505"), TAPERED)
        assert on_tick(D("0.50"), TAPERED)
        assert on_tick(D("0.10"), TAPERED)

    def test_no_price_checked_on_yes_grid(self):
        """A NO price maps to its YES price before the tick check (0.951 NO = 0.049 YES on deci-cent)."""
        v = view([market(price_ranges=TAPERED, yes_bid=D("0.04"), yes_ask=D("0.05"))])
        assert code(req(outcome="no", price="0.951", count="1"), v) is None


class TestThrottle:
    def test_refill_and_take(self):
        """Tokens refill at the rate up to the burst; taking an empty bucket raises."""
        t = Throttle(0.0, NOW)
        later = NOW + 0.125  # exact in binary floating point: 2.5 tokens at 20/s
        assert t.available(later, 20.0, 20.0) == 2.5
        t2 = t.take(later, 20.0, 20.0).take(later, 20.0, 20.0)
        assert t2.available(later, 20.0, 20.0) == 0.5
        with pytest.raises(ValueError, match="empty"):
            t2.take(later, 20.0, 20.0)
        assert t.available(NOW + 100, 20.0, 20.0) == 20.0

    def test_throttle_clears_with_time(self):
        """A throttled view passes once the injected clock has moved on."""
        v = view(tokens=0.0)
        assert code(req(), v) is RejectCode.THROTTLED
        assert check(req(), v, LIMITS, NOW + 1.0) is None

    def test_limits_are_respected_from_settings(self):
        """Limits come from LimitSettings; a tighter collar refuses what the default allows."""
        tight = LimitSettings(price_collar=D("0.01"))
        assert code(req(price="0.55"), view()) is None
        assert code(req(price="0.55"), view(), tight) is RejectCode.PRICE_COLLAR
        assert replace(market(), yes_ask=None).yes_bid == D("0.48")


class TestOpenPositionCap:
    """limits.max_open_positions: a position in one more market than the cap is refused before anything is
    written; orders that add to or reduce a held position pass; resting and UNKNOWN orders count."""

    CAP2 = LimitSettings(max_open_positions=2)

    def test_a_third_market_is_refused_with_its_own_code(self):
        v = view(positions={"KX-A": PositionView(D(5), D("2.5")), "KX-B": PositionView(D(-3), D("1.5"))})
        rejection = check(req(ticker="KX-C"), v, self.CAP2, NOW)
        assert rejection is not None
        assert rejection.code is RejectCode.OPEN_POSITIONS
        assert "max 2" in rejection.detail

    def test_adding_to_a_held_position_passes_at_the_cap(self):
        v = view(positions={"KX-A": PositionView(D(5), D("2.5")), "KX-B": PositionView(D(-3), D("1.5"))})
        assert check(req(ticker="KX-A"), v, self.CAP2, NOW) is None

    def test_reducing_a_held_position_passes_at_the_cap(self):
        v = view(positions={"KX-A": PositionView(D(5), D("2.5")), "KX-B": PositionView(D(-3), D("1.5"))})
        assert check(req(ticker="KX-B", action="buy", outcome="yes", count="3"), v, self.CAP2, NOW) is None

    def test_a_resting_order_counts_as_the_position_it_could_open(self):
        v = view(positions={"KX-A": PositionView(D(5), D("2.5"))}, orders=[order("KX-B", "2")])
        rejection = check(req(ticker="KX-C"), v, self.CAP2, NOW)
        assert rejection is not None
        assert rejection.code is RejectCode.OPEN_POSITIONS

    def test_an_unknown_order_counts_too(self):
        v = view(orders=[order("KX-A", "2", state=OpenState.UNKNOWN), order("KX-B", "1", cid="o2")])
        rejection = check(req(ticker="KX-C"), v, self.CAP2, NOW)
        assert rejection is not None
        assert rejection.code is RejectCode.OPEN_POSITIONS

    def test_below_the_cap_a_new_market_passes(self):
        v = view(positions={"KX-A": PositionView(D(5), D("2.5"))})
        assert check(req(ticker="KX-C"), v, self.CAP2, NOW) is None

    def test_the_default_cap_is_three(self):
        assert LimitSettings().max_open_positions == 3


class TestShareLimits:
    """A money limit given as a share of the day-start value is checked in dollars of that value."""

    def test_the_order_loss_share_refuses_above_and_accepts_at_the_figure(self):
        from kalshi_guard.config.shares import parse_money_or_share

        limits = LimitSettings(max_order_loss=parse_money_or_share("5%")).resolved(D("100"))  # = 5.00
        assert limits.max_order_loss == D("5")
        # 10 YES at 0.48: 4.80 + fee 0.18 = 4.98 → passes; 11 at 0.48: 5.28 + fee → refused
        assert check(req(count="10", price="0.48"), view(), limits, NOW) is None
        rejection = check(req(count="11", price="0.48"), view(), limits, NOW)
        assert rejection is not None
        assert rejection.code is RejectCode.ORDER_LOSS_LIMIT

    def test_no_anchor_means_nothing_that_can_lose_passes(self):
        from kalshi_guard.config.shares import parse_money_or_share

        limits = LimitSettings(max_order_loss=parse_money_or_share("5%")).resolved(None)
        rejection = check(req(count="1", price="0.10"), view(), limits, NOW)
        assert rejection is not None
        assert rejection.code is RejectCode.ORDER_LOSS_LIMIT


class TestRolloutStage:
    """The current rollout stage's caps refuse with their own code; unset caps add nothing."""

    def stage(self, **caps):
        from kalshi_guard.config.schema import RolloutStage

        return RolloutStage(name="week 1", **caps)

    def test_an_order_above_the_stage_size_is_refused_as_stage_limit(self):
        from kalshi_guard.actors.pretrade import stage_check

        rejection = stage_check(req(count="2"), view(), self.stage(max_order_count=D(1)))
        assert rejection is not None
        assert rejection.code is RejectCode.STAGE_LIMIT
        assert "week 1" in rejection.detail
        assert stage_check(req(count="1"), view(), self.stage(max_order_count=D(1))) is None

    def test_the_stage_loss_and_exposure_caps(self):
        from kalshi_guard.actors.pretrade import stage_check

        small = self.stage(max_order_loss=D(1))
        assert stage_check(req(count="10", price="0.50"), view(), small).code is RejectCode.STAGE_LIMIT
        held = view(positions={"KX-B": PositionView(D(10), D(5))})
        capped = self.stage(max_total_exposure=D(6))
        assert stage_check(req(count="3", price="0.50"), held, capped).code is RejectCode.STAGE_LIMIT
        assert stage_check(req(count="1", price="0.50"), held, capped) is None  # 5 + 0.5 + fee

    def test_a_reducing_order_passes_the_exposure_cap(self):
        from kalshi_guard.actors.pretrade import stage_check

        held = view(positions={"KX-A": PositionView(D(10), D(5))})
        assert stage_check(req(action="sell", count="5"), held, self.stage(max_total_exposure=D(1))) is None

    def test_no_stage_no_caps(self):
        from kalshi_guard.actors.pretrade import stage_check

        assert stage_check(req(count="100"), view(), None) is None
