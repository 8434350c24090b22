"""The order placer refuses, and lives on, when what its checks read cannot be read (fail closed)."""

from __future__ import annotations

import sqlite3

from actors.messages import Ping
from simulator.markets import DEFAULT_TICKERS


class TestLedgerUnreadable:
    def test_a_ledger_that_cannot_be_read_refuses_the_order_and_the_placer_lives(self, pipeline_factory) -> None:
        """Positions that cannot be read for the risk view: the order is REJECTED LEDGER_UNAVAILABLE, nothing
        reaches the exchange, and the placer is not restarted."""
        p = pipeline_factory()
        epoch = p.sup.peers["order_placer"].epoch
        path = p.ledger_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as db:  # the positions table is gone: every read of it fails
            db.execute("DROP TABLE positions")
        conf = p.trading.place_and_confirm(DEFAULT_TICKERS[0], "yes", "buy", "1", "0.99", "ioc", wait_s=20)
        assert conf.status.value == "REJECTED", conf
        assert conf.reason == "LEDGER_UNAVAILABLE"
        assert p.exchange_orders() == []
        assert p.sup.peers["order_placer"].epoch == epoch
        p.sup.peers["order_placer"].ask(Ping(0), timeout=10)  # the same instance still answers
        assert p.sup.peers["order_placer"].epoch == epoch
