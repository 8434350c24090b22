"""Every order status reached for real, through the actors, the simulator and the SQLite ledger
(docs/architecture.md §6):
INTENT → SENT → RESTING → PARTIAL → FILLED, CANCELED with fills kept, REJECTED three ways, UNKNOWN → resolved
(including a fill on an UNKNOWN order)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from kalshi_guard.core.gate import GateState
from kalshi_guard.simulator.markets import DEFAULT_TICKERS

T0, T1 = DEFAULT_TICKERS[0], DEFAULT_TICKERS[1]
WHOLE = {"confirm_timeout_s": 3, "poll_interval_s": 0.2, "fill_threshold": Decimal(1)}


@pytest.fixture
def pool():
    with ThreadPoolExecutor(2) as ex:
        yield ex


def _warm(p, ticker: str) -> None:
    """Let the placer cache ``ticker``'s facts (a pre-trade refusal: nothing written, nothing sent)."""
    conf = p.trading.place_and_confirm(ticker, "yes", "buy", "1000", "0.10", "gtc", wait_s=10)
    assert conf.status.value == "REJECTED"


class TestHappyPath:
    def test_intent_sent_resting_partial_filled(self, pipeline_factory, pool) -> None:
        """A resting order filled in two trades goes INTENT → SENT → RESTING → PARTIAL → FILLED."""
        p = pipeline_factory(**WHOLE)
        coid = str(uuid.uuid4())
        fut = pool.submit(p.trading.place_and_confirm, T0, "yes", "buy", "10", "0.10", "gtc",
                          client_order_id=coid, wait_s=20)
        p.wait_status(coid, "RESTING")
        oid = p.ledger.get_order(coid).order_id
        p.counterparty(oid, 4)
        p.wait_status(coid, "PARTIAL")
        p.counterparty(oid, 6)
        conf = fut.result(timeout=20)
        assert conf.status.value == "FILLED", conf
        assert conf.average_price == Decimal("0.10")
        p.wait_status(coid, "FILLED")
        assert p.history(coid) == ["INTENT", "RESTING", "PARTIAL", "FILLED"]  # SENT lives in the tracker only
        p.assert_matches_exchange()

    def test_ioc_filled_at_once(self, pipeline_factory) -> None:
        """An IOC that fills on arrival goes INTENT → SENT → FILLED."""
        p = pipeline_factory(**WHOLE)
        conf = p.trading.place_and_confirm(T0, "yes", "buy", "2", "0.99", "ioc", wait_s=20)
        assert conf.status.value == "FILLED", conf
        p.wait_status(conf.client_order_id, "FILLED")
        assert p.history(conf.client_order_id) == ["INTENT", "FILLED"]  # the booked fill settles it
        p.assert_matches_exchange()

    def test_bot_cancel_of_a_resting_order(self, pipeline_factory, pool) -> None:
        """A bot cancel of an untouched resting order ends CANCELED with nothing filled."""
        p = pipeline_factory(**WHOLE)
        coid = str(uuid.uuid4())
        fut = pool.submit(p.trading.place_and_confirm, T0, "no", "buy", "3", "0.20", "gtc",
                          client_order_id=coid, wait_s=20)
        p.wait_status(coid, "RESTING")
        assert p.trading.cancel(coid)
        conf = fut.result(timeout=20)
        assert conf.status.value == "CANCELED", conf
        p.wait_status(coid, "CANCELED")
        assert p.history(coid) == ["INTENT", "RESTING", "CANCELED"]
        p.assert_matches_exchange()


class TestRejected:
    def test_exchange_rejection(self, pipeline_factory) -> None:
        """The exchange refuses (market paused after the placer cached it): REJECTED with Kalshi's code."""
        p = pipeline_factory(**WHOLE)
        _warm(p, T1)
        p.sim.exchange.pause_market(T1)
        conf = p.trading.place_and_confirm(T1, "yes", "buy", "2", "0.50", "gtc", wait_s=20)
        assert conf.status.value == "REJECTED", conf
        assert conf.reason == "trading_is_paused"
        assert p.history(conf.client_order_id) == ["INTENT", "REJECTED"]
        assert p.exchange_orders_for(conf.client_order_id) == []
        p.assert_matches_exchange()

    def test_gate_closed_at_the_send_point(self, pipeline_factory) -> None:
        """With the gate REDUCING an opening order passes the early check but is refused at the send point."""
        p = pipeline_factory(**WHOLE)
        p.gate.reduce("test: reduce only", "test")
        assert p.gate.state is GateState.REDUCING
        before = p.sim.exchange.created_order_count()
        conf = p.trading.place_and_confirm(T0, "yes", "buy", "2", "0.99", "ioc", wait_s=20)
        assert conf.status.value == "REJECTED", conf
        assert conf.reason == "GATE_REDUCING"
        assert p.history(conf.client_order_id) == ["INTENT", "REJECTED"]
        assert p.sim.exchange.created_order_count() == before
        p.assert_matches_exchange()

    def test_gate_halted_refuses_before_writing(self, pipeline_factory) -> None:
        """With the gate HALTED nothing is written or sent."""
        p = pipeline_factory(**WHOLE)
        p.gate.close("test: halt", "test")
        conf = p.trading.place_and_confirm(T0, "yes", "buy", "2", "0.99", "ioc", wait_s=20)
        assert conf.status.value == "REJECTED", conf
        assert conf.reason == "GATE_HALTED"
        assert p.status(conf.client_order_id) is None
        assert p.sim.exchange.created_order_count() == 0

    @pytest.mark.parametrize(("ticker", "count"), [(T0, "101"), ("KXNOPE-1", "1")])
    def test_pre_trade_refusal(self, pipeline_factory, ticker, count) -> None:
        """A pre-trade refusal (too large, unknown market) writes nothing and sends nothing."""
        p = pipeline_factory(**WHOLE)
        conf = p.trading.place_and_confirm(ticker, "yes", "buy", count, "0.50", "gtc", wait_s=20)
        assert conf.status.value == "REJECTED", conf
        assert conf.reason
        assert p.status(conf.client_order_id) is None
        assert p.sim.exchange.created_order_count() == 0


class TestUnknown:
    @pytest.mark.timeout(60)
    def test_fill_on_an_unknown_order_resolves_it(self, pipeline_factory, pool) -> None:
        """A timed-out create whose lookups fail stays UNKNOWN until a stranger's fill proves it: PARTIAL, booked,
        then the timeout cancels the rest."""
        p = pipeline_factory(exchange={"request_timeout_s": 0.5}, **{**WHOLE, "confirm_timeout_s": 6})
        p.faults(timeout_after_accept={"create_order": 1}, timeout_hold_s=1.0, error_5xx_rate={"get_orders": 1.0})
        coid = str(uuid.uuid4())
        fut = pool.submit(p.trading.place_and_confirm, T0, "yes", "buy", "10", "0.10", "gtc",
                          client_order_id=coid, wait_s=30)
        p.wait_status(coid, "UNKNOWN")
        [order] = [o for o in p.sim.exchange.orders.values() if o.client_order_id == coid]
        p.counterparty(order.order_id, 4)
        p.wait_status(coid, "PARTIAL")
        p.sim.exchange.faults.clear()
        conf = fut.result(timeout=30)
        assert conf.status.value == "TIMEOUT", conf
        assert conf.filled_count == 4
        p.wait_status(coid, "CANCELED")
        assert p.history(coid) == ["INTENT", "UNKNOWN", "PARTIAL", "CANCELED"]
        p.assert_matches_exchange()

    def test_unknown_never_found_is_reported_unknown(self, pipeline_factory) -> None:
        """While no evidence can be read the order stays UNKNOWN and the bot is told UNKNOWN, not rejected."""
        p = pipeline_factory(exchange={"request_timeout_s": 0.5}, **{**WHOLE, "confirm_timeout_s": 2})
        p.faults(reset_before={"create_order": 1}, error_5xx_rate={"get_orders": 1.0})
        conf = p.trading.place_and_confirm(T0, "yes", "buy", "2", "0.99", "ioc", wait_s=20)
        assert conf.status.value == "UNKNOWN", conf
        assert p.status(conf.client_order_id) == "UNKNOWN"
        p.sim.exchange.faults.clear()
        p.wait_status(conf.client_order_id, "FILLED", timeout=20)  # not found, re-sent once with the same id
        assert len(p.exchange_orders_for(conf.client_order_id)) == 1
        p.assert_matches_exchange()


class TestCancelAll:
    def test_cancel_all_ends_every_resting_order_canceled(self, pipeline_factory) -> None:
        """CancelAll sends one cancel-all; each tracked resting order confirms CANCELED and none rests."""
        import threading

        from kalshi_guard.simulator.markets import DEFAULT_TICKERS

        p = pipeline_factory(confirm_timeout_s=30)
        results: dict[int, object] = {}

        def place(i: int) -> None:
            results[i] = p.trading.place_and_confirm(DEFAULT_TICKERS[i], "yes", "buy", "1", "0.02", "gtc", wait_s=30)

        threads = [threading.Thread(target=place, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        p.wait(lambda: len([o for o in p.ledger.non_final_orders() if o.status.value == "RESTING"]) == 2,
               what="two resting orders")
        assert p.trading.cancel_all("test")
        for t in threads:
            t.join(30)
        assert [results[i].status.value for i in range(2)] == ["CANCELED", "CANCELED"]
        assert not [o for o in p.exchange_orders() if o.status.value == "resting"]
        p.assert_matches_exchange()


class TestRiskView:
    def test_an_order_written_ahead_counts_at_once_against_exposure(self, pipeline_factory) -> None:
        """The placer's cached risk view includes its own fresh write-aheads: a second order right after
        the first is refused when both together would break the market exposure limit."""
        from decimal import Decimal

        from kalshi_guard.simulator.markets import DEFAULT_TICKERS

        p = pipeline_factory(confirm_timeout_s=30, limits={"max_market_exposure": Decimal("1.00")})
        results: list = []

        def place() -> None:  # both reach the placer within milliseconds: inside one risk-view refresh
            results.append(p.trading.place_and_confirm(DEFAULT_TICKERS[0], "yes", "buy", "10", "0.06", "gtc",
                                                       wait_s=1))

        import threading

        threads = [threading.Thread(target=place) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        statuses = sorted(c.status.value for c in results)
        assert statuses == ["REJECTED", "UNKNOWN"], "one rests (the wait gave up on it), one is refused"
        refused = next(c for c in results if c.status.value == "REJECTED")
        assert refused.reason == "MARKET_EXPOSURE"
        assert p.ledger.get_order(refused.client_order_id) is None, "nothing written for a refused order"
