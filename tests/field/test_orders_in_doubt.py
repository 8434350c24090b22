"""Field failures of order tracking under doubt, reproduced through the simulator's faults on the in-process
pipeline of the real actors (a fault here must hit one exact request).

Each test names the user-reported failure it reproduces and how it was checked to fail with the fix removed.
"""

from __future__ import annotations

import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest

from kalshi_guard.simulator.markets import DEFAULT_TICKERS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

T0, T1 = DEFAULT_TICKERS[0], DEFAULT_TICKERS[1]
FAST = {"confirm_timeout_s": 3, "poll_interval_s": 0.2, "fill_threshold": Decimal(1)}
SHORT_CLIENT = {"request_timeout_s": 0.5}
STATUS_READS = ("get_order", "get_orders", "get_fills")


@pytest.fixture
def pool() -> Any:
    with ThreadPoolExecutor(2) as ex:
        yield ex


def place_gtc(p: Any, pool: ThreadPoolExecutor, count: str = "10", ticker: str = T0) -> tuple[str, str, Future]:
    """A resting GTC YES buy placed by a bot thread; (client_order_id, exchange order_id, future reply)."""
    coid = str(uuid.uuid4())
    fut = pool.submit(p.trading.place_and_confirm, ticker, "yes", "buy", count, "0.10", "gtc", client_order_id=coid,
                      wait_s=30)
    p.wait_status(coid, "RESTING")
    return coid, p.ledger.get_order(coid).order_id, fut


def warm(p: Any) -> None:
    """One IOC on another market, confirmed: the daemon is running with its stream subscribed."""
    conf = p.trading.place_and_confirm(T1, "yes", "buy", "1", "0.99", "ioc", wait_s=20)
    assert conf.status.value == "FILLED", conf


class TestFastFillNeverListed:
    def test_ioc_that_filled_and_never_rested_is_found_not_rejected(self, pipeline_factory) -> None:
        """nautechsystems/nautilus_trader#3870: a fast fill vanished from the open-orders endpoint and the order
        was resolved REJECTED.

        The create's answer is lost (held, then the connection reset) and the exchange's order listing leaves
        the order out; the IOC filled at once. Evidence comes from fills and a re-send with the same
        client_order_id, so the order ends FILLED and booked once, never REJECTED. Checked by making the
        placer treat the re-send's 409 ``order_already_exists`` as a definitive rejection
        (``OrderPlacer._classify_failure``): the test failed with the history ``['INTENT', 'UNKNOWN',
        'REJECTED']``. Since #8's settling of UNKNOWN orders, checked by letting
        ``CreateOutcome._still_absent`` give up on an unlisted order at once (no 409, settle time or fill
        check): the test fails, the order never reaching FILLED.
        """
        p = pipeline_factory(exchange=SHORT_CLIENT, **FAST)
        warm(p)
        coid = str(uuid.uuid4())
        p.faults(timeout_after_accept={"create_order": 1}, timeout_hold_s=1.0, unlisted=[coid])
        conf = p.trading.place_and_confirm(T0, "yes", "buy", "3", "0.99", "ioc", client_order_id=coid, wait_s=30)
        assert conf.status.value in {"FILLED", "UNKNOWN"}, conf
        p.wait_status(coid, "FILLED", "REJECTED", "CANCELED", timeout=30)
        assert p.history(coid)[-1] == "FILLED", p.history(coid)
        assert p.ledger.get_order(coid).filled_count == Decimal(3)
        p.sim.exchange.faults.clear()
        assert len(p.exchange_orders_for(coid)) == 1
        p.assert_matches_exchange()


class TestStatusNeverArrives:
    def test_unknown_order_stays_unknown_counts_and_blocks_its_market(self, pipeline_factory) -> None:
        """nautechsystems/nautilus_trader#3879: status reports never arrived, the retries ran out, live orders
        were resolved as cancelled and the strategy stacked new orders on top.

        The create's answer is lost and every status read fails (500) for many confirmation cycles: the order
        stays UNKNOWN, the bot is told UNKNOWN (not cancelled), a new order on that market is refused, and once
        reads work again the order is found, exactly once on the exchange. Checked by dropping UNKNOWN orders
        from the pre-trade market block (``pretrade`` without the UNKNOWN_ORDER_IN_MARKET check): the second
        order is sent and the test fails on its status (UNKNOWN, not REJECTED).
        """
        p = pipeline_factory(exchange=SHORT_CLIENT, **{**FAST, "confirm_timeout_s": 1.5})
        p.faults(timeout_after_accept={"create_order": 1}, timeout_hold_s=1.0,
                 error_5xx_rate={name: 1.0 for name in STATUS_READS})
        coid = str(uuid.uuid4())
        conf = p.trading.place_and_confirm(T0, "yes", "buy", "4", "0.10", "gtc", client_order_id=coid, wait_s=30)
        assert conf.status.value == "UNKNOWN", conf
        p.wait(lambda: p.sim.exchange.faults.seen.get("get_orders", 0) >= 5, 20, "five failed status cycles")
        assert p.status(coid) == "UNKNOWN", p.history(coid)
        second = p.trading.place_and_confirm(T0, "yes", "buy", "1", "0.10", "gtc", wait_s=20)
        assert second.status.value == "REJECTED", second
        assert second.reason == "UNKNOWN_ORDER_IN_MARKET", second
        assert p.status(coid) == "UNKNOWN"
        p.sim.exchange.faults.clear()
        p.wait_status(coid, "CANCELED", timeout=30)
        assert len(p.exchange_orders_for(coid)) == 1
        p.assert_matches_exchange()

    def test_unknown_order_counts_at_full_size_toward_exposure(self, pipeline_factory) -> None:
        """hummingbot/hummingbot#3374: network errors lost track of orders, new ones were placed each cycle
        without cancelling the old, and six "dead" buys filled.

        With a total exposure limit of $5, a 40-contract buy at $0.10 ($4) whose outcome is UNKNOWN still
        counts in full: a $2 buy in another market is refused for exposure, not placed. Checked by counting
        UNKNOWN orders at zero in the placer's risk view (``placer_risk``: ``o.count if UNKNOWN`` -> ``0``):
        the second order is sent and the test fails on its status (UNKNOWN, not REJECTED).
        """
        p = pipeline_factory(exchange=SHORT_CLIENT, limits={"max_total_exposure": Decimal(5)},
                             **{**FAST, "confirm_timeout_s": 1.5})
        p.faults(timeout_after_accept={"create_order": 1}, timeout_hold_s=1.0,
                 error_5xx_rate={name: 1.0 for name in STATUS_READS})
        first = p.trading.place_and_confirm(T0, "yes", "buy", "40", "0.10", "gtc", wait_s=30)
        assert first.status.value == "UNKNOWN", first
        created = p.sim.exchange.created_order_count()
        second = p.trading.place_and_confirm(T1, "yes", "buy", "20", "0.10", "gtc", wait_s=20)
        assert second.status.value == "REJECTED", second
        assert "EXPOSURE" in (second.reason or ""), second
        assert p.sim.exchange.created_order_count() == created, "nothing more reached the exchange"
        p.sim.exchange.faults.clear()
        p.wait_status(first.client_order_id, "CANCELED", timeout=30)
        p.assert_matches_exchange()


class TestCancelRacingAFill:
    def test_cancel_not_found_rereads_and_books_the_fill(self, pipeline_factory, pool) -> None:
        """hummingbot/hummingbot#4738: cancelling an order that had just filled answered "no open order"; the
        connector stopped tracking it and ignored the fill.

        The stream loses the fill (dropped), the order fills in full, then the bot cancels: the exchange
        answers 404 and the daemon re-reads order and fills: FILLED, the fill booked, the position held.
        Checked by making a cancel's NOT_FOUND end the tracker as cancelled without a read-back
        (``OrderTracker._on_cancel_result``: NOT_FOUND -> ``_finish``): the test fails with CANCELED.
        """
        p = pipeline_factory(**{**FAST, "confirm_timeout_s": 20})
        coid, oid, fut = place_gtc(p, pool)
        p.faults(stream_drop_rate=1.0)
        p.counterparty(oid, 10)
        assert p.trading.cancel(coid)
        conf = fut.result(timeout=30)
        assert conf.status.value == "FILLED", conf
        assert conf.filled_count == Decimal(10)
        p.wait_status(coid, "FILLED")
        assert p.ledger_positions() == {T0: Decimal(10)}
        p.sim.exchange.faults.clear()
        p.assert_matches_exchange()

    def test_timeout_cancel_racing_a_full_fill_is_a_position_not_a_reentry(self, pipeline_factory, pool) -> None:
        """freqtrade/freqtrade#3647: an entry timed out and was recorded cancelled although it had filled; the
        bot bought again.

        The whole order fills while the confirmation timeout's cancel is in flight: the reply is FILLED (so the
        bot does not re-enter), the position is booked, and the ledger records the race. Checked by making a
        404 on the timeout cancel finish the order as TIMEOUT/cancelled without re-reading fills: the test
        fails with ``status=TIMEOUT``.
        """
        p = pipeline_factory(**{**FAST, "confirm_timeout_s": 1.5})
        coid, oid, fut = place_gtc(p, pool)
        p.faults(latency={"cancel_order": 1.0})
        p.wait(lambda: p.sim.exchange.faults.seen.get("cancel_order", 0) >= 1, 15, "the timeout's cancel in flight")
        p.counterparty(oid, 10)
        conf = fut.result(timeout=20)
        assert conf.status.value == "FILLED", conf
        p.wait_status(coid, "FILLED")
        assert p.ledger_positions() == {T0: Decimal(10)}
        assert len(p.exchange_orders_for(coid)) == 1, "no re-entry"
        p.sim.exchange.faults.clear()
        p.assert_matches_exchange()


class TestRetryKeepsTheClientOrderId:
    def test_create_timeout_retry_makes_exactly_one_order(self, pipeline_factory) -> None:
        """Kalshi/kalshi-starter-code-python#135: a fresh uuid client_order_id per attempt, so a retry after a
        network timeout opened a second position.

        The create reaches the exchange but its answer is lost (connection reset after accept), the order
        listing does not show it and the stream is slow (1.5 s), so the daemon re-sends: with the same
        client_order_id, which the exchange refuses as a duplicate (409), and the order is settled from its
        fill. The exchange ends with exactly one order and a position of 3, not 6. Checked by giving the
        re-send a fresh client_order_id (``OrderPlacer.resend`` -> ``_wire`` with a new uuid): a second order
        reached the exchange and the test failed with "the warm-up and this order, nothing more" (3 == 2),
        in each of three runs.
        """
        p = pipeline_factory(exchange=SHORT_CLIENT, **FAST)
        warm(p)
        coid = str(uuid.uuid4())
        p.faults(reset_after_accept={"create_order": 1}, unlisted=[coid], stream_delay_s=1.5)
        conf = p.trading.place_and_confirm(T0, "yes", "buy", "3", "0.99", "ioc", client_order_id=coid, wait_s=20)
        assert conf.status.value in {"FILLED", "UNKNOWN"}, conf
        p.wait_status(coid, "FILLED", timeout=30)
        assert p.sim.ctx.requests["create_order"] >= 3, "the create was re-sent"
        p.sim.exchange.faults.clear()
        assert p.sim.exchange.created_order_count() == 2, "the warm-up and this order, nothing more"
        assert len(p.exchange_orders_for(coid)) == 1
        assert p.exchange_positions() == {T1: Decimal(1), T0: Decimal(3)}
        p.assert_matches_exchange()


class TestTwoHundredWithoutAnOrder:
    def test_2xx_without_order_id_is_not_success_alerts_and_trips_the_error_rate(self, pipeline_factory) -> None:
        """DarriEy/Auramaur#186: Kalshi answered order requests 2xx with a deprecation error and no order; the
        bot treated it as success and every order, exits included, silently failed.

        Every create answers 2xx without an ``order_id``: the order is never reported placed on that answer
        alone (UNKNOWN until the exchange's listing proves it), each such answer is logged loudly, and when
        they repeat the API error-rate kill switch halts trading. Checked by letting the create response's
        parser accept a missing ``order_id`` (``CreateOrderResult.parse`` with a placeholder id): the order
        is taken as placed and the test fails with the history ``['INTENT', 'RESTING']``.
        """
        p = pipeline_factory(exchange=SHORT_CLIENT, limits={"api_error_min_calls": 5}, **FAST)
        p.faults(no_order_id={"create_order": 1000})
        seen: list[Any] = []
        for _ in range(8):
            if p.gate.state.value == "HALTED":
                break
            coid = str(uuid.uuid4())
            conf = p.trading.place_and_confirm(T0, "yes", "buy", "1", "0.10", "gtc", client_order_id=coid, wait_s=20)
            seen.append(conf)
            assert "UNKNOWN" in p.history(coid) or conf.status.value == "REJECTED", (conf, p.history(coid))
        p.wait(lambda: p.gate.state.value == "HALTED", 20, "the API error-rate switch")
        assert "api_error" in p.gate.snapshot().reason.lower(), p.gate.snapshot()
        p.wait(lambda: p.ledger.activity("KILL_SWITCH", limit=5), 20, "the kill switch's activity row")
        p.sim.exchange.faults.clear()
        for conf in seen:
            p.wait_status(conf.client_order_id, "CANCELED", "REJECTED", timeout=30)
        p.assert_matches_exchange()
