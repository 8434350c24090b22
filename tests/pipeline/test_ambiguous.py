"""Each ambiguous (or duplicate) outcome of a create, injected by the simulator, ends with exactly one order
on the exchange for its client_order_id and the ledger equal to the exchange (docs/architecture.md §6:
a create whose outcome is unknown)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from kalshi_guard.config.endpoints import make_client
from kalshi_guard.exchange.wire import BookSide, CreateOrderRequest, TimeInForce
from kalshi_guard.simulator.markets import DEFAULT_TICKERS

T0 = DEFAULT_TICKERS[0]
FAST = {"confirm_timeout_s": 3, "poll_interval_s": 0.2}
SHORT_CLIENT = {"request_timeout_s": 0.5}

# fault spec -> whether the exchange had accepted the order when the fault hit
CREATE_FAULTS = {
    "timeout_after_accept": ({"timeout_after_accept": {"create_order": 1}, "timeout_hold_s": 1.5}, True),
    "5xx_before": ({"error_5xx_next": {"create_order": 1}}, False),
    "5xx_after_accept": ({"error_5xx_after_accept": {"create_order": 1}}, True),
    "2xx_without_order_id": ({"no_order_id": {"create_order": 1}}, True),
    "reset_before": ({"reset_before": {"create_order": 1}}, False),
    "reset_after_accept": ({"reset_after_accept": {"create_order": 1}}, True),
}


class TestAmbiguousCreate:
    @pytest.mark.parametrize("fault", list(CREATE_FAULTS))
    def test_ioc_ends_filled_once(self, pipeline_factory, fault) -> None:
        """An IOC whose create meets the fault is resolved from exchange evidence: one order, filled, booked once."""
        p = pipeline_factory(exchange=SHORT_CLIENT, **FAST)
        spec, _accepted = CREATE_FAULTS[fault]
        p.faults(**spec)
        coid = str(uuid.uuid4())
        conf = p.trading.place_and_confirm(T0, "yes", "buy", "3", "0.99", "ioc", client_order_id=coid, wait_s=20)
        assert conf.status.value == "FILLED", conf
        assert conf.filled_count == Decimal(3)
        assert "UNKNOWN" in p.history(coid), p.history(coid)
        assert len(p.exchange_orders_for(coid)) == 1
        p.assert_matches_exchange()

    @pytest.mark.parametrize("fault", ["timeout_after_accept", "5xx_after_accept", "reset_before"])
    def test_gtc_rests_once_then_times_out(self, pipeline_factory, fault) -> None:
        """A resting GTC whose create was ambiguous is found (or re-sent once), then cancelled at the timeout."""
        p = pipeline_factory(exchange=SHORT_CLIENT, **FAST)
        p.faults(**CREATE_FAULTS[fault][0])
        coid = str(uuid.uuid4())
        conf = p.trading.place_and_confirm(T0, "yes", "buy", "5", "0.10", "gtc", client_order_id=coid, wait_s=20)
        assert conf.status.value == "TIMEOUT", conf
        assert conf.filled_count == 0
        assert len(p.exchange_orders_for(coid)) == 1
        assert p.exchange_orders_for(coid)[0].status.value == "canceled"
        p.wait_status(coid, "CANCELED")
        p.assert_matches_exchange()


class TestDuplicate:
    def test_409_adopts_the_order_that_landed(self, pipeline_factory) -> None:
        """A 409 order_already_exists means the first attempt landed: it is found, its fills booked, no second order."""
        p = pipeline_factory(**FAST)
        coid = str(uuid.uuid4())
        with make_client(p.settings.exchange, p.sim.private_key) as c:
            c.create_order(CreateOrderRequest(T0, BookSide.BID, Decimal(2), Decimal("0.99"), client_order_id=coid,
                                              time_in_force=TimeInForce.IMMEDIATE_OR_CANCEL))
        conf = p.trading.place_and_confirm(T0, "yes", "buy", "2", "0.99", "ioc", client_order_id=coid, wait_s=20)
        assert conf.status.value == "FILLED", conf
        assert len(p.exchange_orders_for(coid)) == 1
        assert "UNKNOWN" in p.history(coid)
        p.assert_matches_exchange()

    def test_409_on_a_resting_order_is_tracked_and_cancelled(self, pipeline_factory) -> None:
        """A 409 for an order resting on the book leaves it tracked; the timeout cancels it; one order in all."""
        p = pipeline_factory(**FAST)
        coid = str(uuid.uuid4())
        with make_client(p.settings.exchange, p.sim.private_key) as c:
            c.create_order(CreateOrderRequest(T0, BookSide.BID, Decimal(4), Decimal("0.10"), client_order_id=coid,
                                              time_in_force=TimeInForce.GOOD_TILL_CANCELED))
        conf = p.trading.place_and_confirm(T0, "yes", "buy", "4", "0.10", "gtc", client_order_id=coid, wait_s=20)
        assert conf.status.value == "TIMEOUT", conf
        assert [o.status.value for o in p.exchange_orders_for(coid)] == ["canceled"]
        p.wait_status(coid, "CANCELED")
        p.assert_matches_exchange()
