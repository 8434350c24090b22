"""Partial fills against the acceptance threshold, and fills racing a cancel (docs/architecture.md §6: fills
that arrive late or race a cancel)."""

from __future__ import annotations

import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest

from kalshi_guard.simulator.markets import DEFAULT_TICKERS

T0 = DEFAULT_TICKERS[0]
FAST = {"confirm_timeout_s": 3, "poll_interval_s": 0.2, "fill_threshold": Decimal("0.80")}


def _place_gtc(p: Any, count: str, pool: ThreadPoolExecutor, price: str = "0.10") -> tuple[str, str, Future]:
    """Place a resting GTC buy in a bot thread; returns (client_order_id, exchange order_id, future reply)."""
    coid = str(uuid.uuid4())
    fut = pool.submit(p.trading.place_and_confirm, T0, "yes", "buy", count, price, "gtc", client_order_id=coid,
                      wait_s=20)
    p.wait_status(coid, "RESTING")
    return coid, p.ledger.get_order(coid).order_id, fut


@pytest.fixture
def pool():
    with ThreadPoolExecutor(2) as ex:
        yield ex


class TestThreshold:
    @pytest.mark.parametrize("filled", [80, 81])
    def test_at_or_above_threshold_accepts_and_cancels_the_rest(self, pipeline_factory, pool, filled) -> None:
        """A stranger filling 80 or 81 of 100 makes the order PARTIAL-confirmed at once, the rest cancelled."""
        p = pipeline_factory(**FAST)
        coid, oid, fut = _place_gtc(p, "100", pool)
        p.counterparty(oid, filled)
        conf = fut.result(timeout=20)
        assert conf.status.value == "PARTIAL", conf
        assert conf.filled_count == filled
        assert (conf.unfilled_count, conf.remaining_count) == (100 - filled, 0)  # the rest was cancelled
        [ex] = p.exchange_orders_for(coid)
        assert (ex.status.value, ex.fill_count) == ("canceled", filled)
        assert p.history(coid)[:3] == ["INTENT", "RESTING", "PARTIAL"]
        p.wait_status(coid, "CANCELED")
        p.assert_matches_exchange()

    def test_below_threshold_waits_for_the_timeout(self, pipeline_factory, pool) -> None:
        """79 of 100 is not enough: the order keeps resting until the timeout cancels the rest (TIMEOUT, 79 kept)."""
        p = pipeline_factory(**FAST)
        coid, oid, fut = _place_gtc(p, "100", pool)
        p.counterparty(oid, 79)
        p.wait_status(coid, "PARTIAL")
        assert p.exchange_orders_for(coid)[0].status.value == "resting"
        conf = fut.result(timeout=20)
        assert conf.status.value == "TIMEOUT", conf
        assert conf.filled_count == 79
        assert p.exchange_orders_for(coid)[0].status.value == "canceled"
        p.wait_status(coid, "CANCELED")
        p.assert_matches_exchange()

    def test_threshold_crossed_in_two_fills(self, pipeline_factory, pool) -> None:
        """40 then 41 more crosses 80% on the second fill; both fills are booked once."""
        p = pipeline_factory(**FAST)
        coid, oid, fut = _place_gtc(p, "100", pool)
        p.counterparty(oid, 40)
        p.wait_status(coid, "PARTIAL")
        p.counterparty(oid, 41)
        conf = fut.result(timeout=20)
        assert conf.status.value == "PARTIAL", conf
        assert conf.filled_count == 81
        assert len(conf.fills) == 2
        p.wait_status(coid, "CANCELED")
        p.assert_matches_exchange()


class TestCancelRaces:
    def _in_flight(self, p: Any) -> None:
        p.wait(lambda: p.sim.exchange.faults.seen.get("cancel_order", 0) >= 1, 15, "the cancel request in flight")

    def test_fill_between_timeout_cancel_and_read_back_is_booked(self, pipeline_factory, pool) -> None:
        """A fill landing while the timeout's cancel is in flight is booked: TIMEOUT with those contracts."""
        p = pipeline_factory(**{**FAST, "confirm_timeout_s": 1.5})
        coid, oid, fut = _place_gtc(p, "10", pool)
        p.faults(latency={"cancel_order": 1.0})
        self._in_flight(p)
        p.counterparty(oid, 4)
        conf = fut.result(timeout=20)
        assert conf.status.value == "TIMEOUT", conf
        assert conf.filled_count == 4
        p.wait_status(coid, "CANCELED")
        p.assert_matches_exchange()

    def test_full_fill_racing_timeout_cancel_is_filled_not_cancelled(self, pipeline_factory, pool) -> None:
        """The whole order fills while the timeout's cancel is in flight: the cancel 404s, the read-back shows
        the fills, and the order is FILLED — never recorded as cancelled (freqtrade#3647, hummingbot#4738)."""
        p = pipeline_factory(**{**FAST, "confirm_timeout_s": 1.5})
        coid, oid, fut = _place_gtc(p, "10", pool)
        p.faults(latency={"cancel_order": 1.0})
        self._in_flight(p)
        p.counterparty(oid, 10)
        conf = fut.result(timeout=20)
        assert conf.status.value == "FILLED", conf
        assert conf.filled_count == 10
        p.wait_status(coid, "FILLED")
        assert p.ledger_positions() == {T0: Decimal(10)}
        p.assert_matches_exchange()

    def test_fill_after_a_bot_cancel_request_is_kept(self, pipeline_factory, pool) -> None:
        """The bot asks to cancel; a fill lands before the exchange processes it: CANCELED with the fill kept."""
        p = pipeline_factory(**FAST)
        coid, oid, fut = _place_gtc(p, "10", pool)
        p.faults(latency={"cancel_order": 1.0})
        assert p.trading.cancel(coid)
        self._in_flight(p)
        p.counterparty(oid, 3)
        conf = fut.result(timeout=20)
        assert conf.status.value == "CANCELED", conf
        assert conf.filled_count == 3
        p.wait_status(coid, "CANCELED")
        assert p.history(coid) == ["INTENT", "RESTING", "PARTIAL", "CANCELED"]
        p.assert_matches_exchange()
