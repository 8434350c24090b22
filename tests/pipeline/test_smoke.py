"""The pipeline places, confirms and books a simple order."""

from __future__ import annotations

from decimal import Decimal

from kalshi_guard.simulator.markets import DEFAULT_TICKERS


class TestSmoke:
    def test_ioc_buy_fills_and_is_booked(self, pipeline_factory) -> None:
        """An IOC buy at the ask fills, is confirmed FILLED, and ledger and exchange agree."""
        p = pipeline_factory()
        ticker = DEFAULT_TICKERS[0]
        conf = p.trading.place_and_confirm(ticker, "yes", "buy", "2", "0.99", "ioc", wait_s=20)
        assert conf.status.value == "FILLED", conf
        assert conf.filled_count == Decimal(2)
        assert p.ledger_positions() == p.exchange_positions()
        (order,) = [o for o in p.exchange_orders() if o.client_order_id == conf.client_order_id]
        assert order.status.value == "executed"
