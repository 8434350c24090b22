"""Stream misbehaviour: duplicated, reordered and dropped fills, and a disconnect in the middle of fills,
recovered over REST — every fill booked exactly once (docs/architecture.md §6; nautilus_trader#3869)."""

from __future__ import annotations

import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest

from kalshi_guard.simulator.markets import DEFAULT_TICKERS

T0 = DEFAULT_TICKERS[0]
WHOLE = {"confirm_timeout_s": 3, "poll_interval_s": 0.2, "fill_threshold": Decimal(1)}


def _place_gtc(p: Any, count: str, pool: ThreadPoolExecutor) -> tuple[str, str, Future]:
    coid = str(uuid.uuid4())
    fut = pool.submit(p.trading.place_and_confirm, T0, "yes", "buy", count, "0.10", "gtc", client_order_id=coid,
                      wait_s=40)
    p.wait_status(coid, "RESTING")
    return coid, p.ledger.get_order(coid).order_id, fut


def _booked(p: Any, coid: str) -> Decimal:
    return p.ledger.get_order(coid).filled_count


@pytest.fixture
def pool():
    with ThreadPoolExecutor(2) as ex:
        yield ex


class TestStreamFaults:
    def test_duplicated_and_reordered_fills_are_booked_once(self, pipeline_factory, pool) -> None:
        """Every private message doubled and half of them held back: three fills are booked once each."""
        p = pipeline_factory(**WHOLE)
        coid, oid, fut = _place_gtc(p, "10", pool)
        p.faults(stream_duplicate_rate=1.0, stream_reorder_rate=0.5, seed=3)
        for n in (2, 3, 5):
            p.counterparty(oid, n)
        conf = fut.result(timeout=30)
        assert conf.status.value == "FILLED", conf
        assert conf.filled_count == 10
        assert len(conf.fills) == 3
        p.wait_status(coid, "FILLED")
        assert _booked(p, coid) == 10
        p.assert_matches_exchange()

    def test_dropped_fills_are_found_by_the_timeout_read_back(self, pipeline_factory, pool) -> None:
        """With every private message dropped, the timeout's cancel 404s and the read-back books all fills."""
        p = pipeline_factory(**WHOLE)
        coid, oid, fut = _place_gtc(p, "6", pool)
        p.faults(stream_drop_rate=1.0)
        p.counterparty(oid, 2)
        p.counterparty(oid, 4)
        conf = fut.result(timeout=30)
        assert conf.status.value == "FILLED", conf
        assert conf.filled_count == 6
        p.wait_status(coid, "FILLED")
        p.assert_matches_exchange()


class TestDisconnect:
    @pytest.mark.timeout(90)
    def test_fill_missed_during_a_disconnect_is_recovered_over_rest(self, pipeline_factory, pool) -> None:
        """A fill lost with the connection is booked from REST after the reconnect, before any timeout."""
        p = pipeline_factory(**{**WHOLE, "confirm_timeout_s": 30})
        coid, oid, fut = _place_gtc(p, "10", pool)
        p.counterparty(oid, 3)
        p.wait(lambda: _booked(p, coid) == 3, 10, "first fill booked from the stream")
        p.faults(stream_drop_rate=1.0)  # the next fill never reaches the socket
        p.counterparty(oid, 4)
        p.sim.exchange.faults.clear()
        p.sim.ctx.hub.disconnect_all()
        p.wait(lambda: _booked(p, coid) == 7, 15, "the missed fill booked over REST")
        p.counterparty(oid, 3)
        conf = fut.result(timeout=30)
        assert conf.status.value == "FILLED", conf
        assert conf.filled_count == 10
        assert len(conf.fills) == 3
        p.wait_status(coid, "FILLED")
        p.assert_matches_exchange()

    def test_disconnect_between_fills_doubles_nothing(self, pipeline_factory, pool) -> None:
        """Fills before and after a forced disconnect (re-read over REST on reconnect) are booked once each."""
        p = pipeline_factory(**WHOLE)
        coid, oid, fut = _place_gtc(p, "5", pool)
        p.counterparty(oid, 2)
        p.wait(lambda: _booked(p, coid) == 2, 10, "first fill booked")
        p.sim.ctx.hub.disconnect_all()
        p.counterparty(oid, 3)
        conf = fut.result(timeout=30)
        assert conf.status.value == "FILLED", conf
        assert len(conf.fills) == 2
        p.wait_status(coid, "FILLED")
        p.assert_matches_exchange()


class TestFillsTheStreamNeverBrings:
    def test_an_ioc_whose_fills_never_arrive_on_the_stream_is_confirmed_over_rest(self, pipeline_factory) -> None:
        """The create response says it filled; with every stream message lost the fills are read back over
        REST within a poll interval, long before the confirmation timeout."""
        from kalshi_guard.simulator.markets import DEFAULT_TICKERS

        p = pipeline_factory(confirm_timeout_s=60, poll_interval_s=0.2)
        p.faults(stream_drop_rate=1.0)
        conf = p.trading.place_and_confirm(DEFAULT_TICKERS[0], "yes", "buy", "2", "0.99", "ioc", wait_s=20)
        assert conf.status.value == "FILLED"
        p.sim.exchange.faults.clear()
        p.assert_matches_exchange()
