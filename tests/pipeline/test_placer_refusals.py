"""The order placer refuses, and lives on, when what its checks read cannot be read (fail closed)."""

from __future__ import annotations

import sqlite3
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from kalshi_guard.actors.messages import Crash, Ping
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


class TestResendAfterRestart:
    def test_a_resend_carries_its_request_so_a_new_placer_sends_it(self, pipeline_factory) -> None:
        """The placer keeps nothing per order once it has sent one: the fill watcher's Resend carries the
        order's request. So when the placer is replaced between an ambiguous create (a 500 before the
        exchange processed it) and the resend, the new placer still sends it once, with the same id, and the
        order fills. (The placer used to keep every request for 15 minutes for this: memory that grew with
        every order, and was lost with a restart, which answered the resend RESEND_UNAVAILABLE.)"""
        p = pipeline_factory()
        p.faults(error_5xx_next={"create_order": 1})
        coid = str(uuid.uuid4())
        placer = p.sup.peers["order_placer"]
        with ThreadPoolExecutor(1) as pool:
            with p.held("fill_watcher") as watcher:  # the resend is asked for once it goes on
                fut = pool.submit(p.trading.place_and_confirm, DEFAULT_TICKERS[0], "yes", "buy", "2", "0.99",
                                  "ioc", client_order_id=coid, wait_s=20)
                p.wait(lambda: p.status(coid) == "UNKNOWN", 20, "the ambiguous create")
                watcher.waiting(1, "its hand-over to the fill watcher", at_least=True)
                epoch = placer.epoch
                placer.tell(Crash("replaced between the create and its resend (test)"))

                def replaced() -> bool:
                    p.sup.tick()  # the test's own supervisor pass (the loop is paused)
                    return placer.epoch > epoch and placer.ref is not None and placer.ref.is_alive()

                p.wait(replaced, 20, "a new order placer")
            conf = fut.result(timeout=30)
        assert conf.status.value == "FILLED", conf
        assert p.requests("create_order") == 2, "the create, then one resend"
        assert len(p.exchange_orders_for(coid)) == 1
        p.assert_matches_exchange()


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
