"""The order placer refuses, and lives on, when what its checks read cannot be read (fail closed)."""

from __future__ import annotations

import sqlite3
from decimal import Decimal

from kalshi_guard.actors.messages import Ping
from kalshi_guard.actors.orders_api import Action, OrderRequest, Outcome, TimeInForce
from kalshi_guard.simulator.markets import DEFAULT_TICKERS


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


class TestResendMemory:
    def test_requests_kept_for_resends_are_bounded(self, pipeline_factory, monkeypatch) -> None:
        """The placer keeps each written order's request for a resend, but not forever: beyond the bound the
        oldest go first (a resend of one of those is answered RESEND_UNAVAILABLE)."""
        monkeypatch.setattr("kalshi_guard.actors.order_placer.REQUESTS_KEPT_MAX", 2)
        p = pipeline_factory()
        ids = []
        for _ in range(3):
            conf = p.trading.place_and_confirm(DEFAULT_TICKERS[0], "yes", "buy", "1", "0.99", "ioc", wait_s=20)
            assert conf.status.value == "FILLED", conf
            ids.append(conf.client_order_id)
        ref = p.sup.peers["order_placer"].ref
        assert ref is not None
        kept = ref.proxy().requests.get(timeout=10)
        assert list(kept) == ids[1:]
        creates = p.sim.ctx.requests["create_order"]
        ref.proxy().resend(ids[0]).get(timeout=10)  # dropped: RESEND_UNAVAILABLE, nothing reaches the exchange
        assert p.sim.ctx.requests["create_order"] == creates
        assert ref.is_alive()


class TestUnexpectedFailure:
    def test_an_order_whose_checks_raise_is_refused_and_the_placer_lives(self, pipeline_factory) -> None:
        """A request the HTTP layer would refuse but an in-process bot can still hand over (a ticker ending in
        a newline): its market lookup raises an exception no one foresaw (httpx.InvalidURL). That order is
        REJECTED INTERNAL_ERROR at once, nothing is written or sent, the same placer instance lives on, and
        the next good order fills."""
        p = pipeline_factory()
        epoch = p.sup.peers["order_placer"].epoch
        bad = OrderRequest(ticker=DEFAULT_TICKERS[0] + "\n", outcome=Outcome.YES, action=Action.BUY,
                           count=Decimal(1), price=Decimal("0.99"), time_in_force=TimeInForce.IOC,
                           client_order_id="bad-ticker-1")
        conf = p.trading.place(bad, wait_s=20)
        assert conf.status.value == "REJECTED", conf
        assert conf.reason == "INTERNAL_ERROR"
        assert p.ledger.get_order("bad-ticker-1") is None
        assert p.exchange_orders() == []
        p.sup.peers["order_placer"].ask(Ping(0), timeout=10)
        assert p.sup.peers["order_placer"].epoch == epoch
        good = p.trading.place_and_confirm(DEFAULT_TICKERS[0], "yes", "buy", "1", "0.99", "ioc", wait_s=20)
        assert good.status.value == "FILLED", good
        assert p.sup.peers["order_placer"].epoch == epoch
