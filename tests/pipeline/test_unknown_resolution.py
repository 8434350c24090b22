"""An UNKNOWN order is settled while the daemon runs, from the exchange's evidence, by one bounded poller.

The simulator answers the create — and its one same-id resend — 500 before processing it, so the order never
reaches the exchange and the pipeline cannot tell. Time is fake (the fill watcher's injected clock), moved
by the test half a second per heartbeat tick, with the supervisor paused so that every tick is the test's;
exchange reads are counted by the simulator per route.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kalshi_guard.ledger import OrderStatus
from kalshi_guard.simulator.markets import DEFAULT_TICKERS
from tests.pipeline.conftest import FakeClock

T0 = DEFAULT_TICKERS[0]
STEP_S = 0.5
BOTH_CREATES_5XX = {"error_5xx_next": {"create_order": 2}}


def place_unknown(p: Any, pool: ThreadPoolExecutor, coid: str) -> Any:
    """Place an IOC whose create and resend both meet a 5xx before processing; returns the caller's future
    once both attempts were made and the ledger says UNKNOWN."""
    fut = pool.submit(p.trading.place_and_confirm, T0, "yes", "buy", "2", "0.99", "ioc", client_order_id=coid,
                      wait_s=20)
    p.wait(lambda: p.requests("create_order") == 2 and p.status(coid) == "UNKNOWN", 20, "create and resend")
    p.tick("order_placer")  # the resend's answer is handed over ...
    p.tick()  # ... and taken by the fill watcher before the clock moves
    return fut


def drive(p: Any, clock: FakeClock, seconds: float, each: Any = None) -> None:
    """Move the fake clock ``seconds`` forward, one fill watcher tick per ``STEP_S``; ``each(t)`` after each."""
    for n in range(1, int(seconds / STEP_S) + 1):
        clock.advance(STEP_S)
        p.tick()
        if each is not None:
            each(n * STEP_S)


def trades_again(p: Any) -> None:
    """An IOC in the settled order's market fills. The placer re-reads open orders from the ledger at most
    every 50 ms (``actors.placer_risk``): a refusal for the settled order inside that window (nothing is sent)
    is retried until the timeout."""

    def attempt() -> Any:
        conf = p.trading.place_and_confirm(T0, "yes", "buy", "1", "0.99", "ioc", wait_s=20)
        return None if conf.reason == "UNKNOWN_ORDER_IN_MARKET" else conf

    conf = p.wait(attempt, 5, "the market to take orders again")
    assert conf.status.value == "FILLED", conf


class TestSettledWhileRunning:
    def test_never_landed_is_rejected_not_on_exchange_and_reads_stay_bounded(self, pipeline_factory) -> None:
        """Create and resend both 5xx before processing: the order is looked up on a backoff schedule and,
        absent for the settle window with no fill that could be its, REJECTED as NOT_ON_EXCHANGE while the
        daemon runs; the reads over two minutes stay bounded, stop once it is final, and its market trades
        again."""
        clock = FakeClock()
        p = pipeline_factory(clock=clock)
        p.faults(**BOTH_CREATES_5XX)
        coid = str(uuid.uuid4())
        settled: dict[str, Any] = {}
        with ThreadPoolExecutor(1) as pool, p.supervisor_paused():
            fut = place_unknown(p, pool, coid)
            start = p.reads()

            def check(t: float) -> None:
                spent = p.reads() - start
                assert spent <= 20, f"{spent} exchange reads after {t}s of an UNKNOWN order"
                if "t" not in settled and p.status(coid) == "REJECTED":
                    settled.update(t=t, reads=p.reads())

            drive(p, clock, 120, check)
            conf = fut.result(timeout=30)
        assert settled, f"still {p.status(coid)} after 120 s"
        assert settled["t"] <= 60, settled
        assert p.reads() == settled["reads"], "polling went on after the order was final"
        assert (conf.status.value, conf.reason) == ("REJECTED", "NOT_ON_EXCHANGE"), conf
        assert p.ledger.order_history(coid)[-1][2] == "NOT_ON_EXCHANGE"
        assert p.exchange_orders_for(coid) == []
        trades_again(p)
        p.assert_matches_exchange()

    def test_failing_reads_keep_it_unknown_with_one_poller_backing_off(self, pipeline_factory) -> None:
        """While the order listing fails the order stays UNKNOWN (a failed read is no evidence) and its market
        refuses orders; it has one poller: ticks at the same time read nothing, and the polls in the ten
        seconds ending at 120 s are fewer than in the first ten. Once reads work again it is settled."""
        clock = FakeClock()
        p = pipeline_factory(clock=clock)
        p.faults(**BOTH_CREATES_5XX)
        coid = str(uuid.uuid4())
        listings: dict[float, int] = {}
        with ThreadPoolExecutor(1) as pool, p.supervisor_paused():
            fut = place_unknown(p, pool, coid)
            p.faults(error_5xx_rate={"get_orders": 1.0})
            start = p.requests("get_orders")
            drive(p, clock, 120, lambda t: listings.__setitem__(t, p.requests("get_orders") - start))
            before = p.reads()
            for _ in range(30):
                p.tick()  # passes with no time passing: nothing is due
            assert p.reads() == before, "a tick without time passing read the exchange"
            first, last = listings[10.0], listings[120.0] - listings[110.0]
            assert 0 < first <= 16, listings
            assert last < first, f"{last} listing requests in the 10 s ending at 120 s, {first} in the first 10 s"
            assert p.status(coid) == "UNKNOWN"
            refused = p.trading.place_and_confirm(T0, "yes", "buy", "1", "0.99", "ioc", wait_s=20)
            assert refused.reason == "UNKNOWN_ORDER_IN_MARKET", refused
            p.sim.exchange.faults.clear()
            drive(p, clock, 90)
            assert p.status(coid) == "REJECTED"
            fut.result(timeout=30)
        trades_again(p)
        p.assert_matches_exchange()


class TestResendRefused:
    def test_polling_stops_once_final_and_stays_stopped_after_reset(self, pipeline_factory) -> None:
        """The kill switch closes the gate between the ambiguous create and its resend: the resend is refused
        (nothing sent), the order stays UNKNOWN until the exchange's evidence settles it, and once it is
        final no more reads are made for it — neither while halted nor after the reset."""
        clock = FakeClock()
        p = pipeline_factory(clock=clock)
        p.faults(error_5xx_next={"create_order": 1})
        coid = str(uuid.uuid4())
        final: dict[str, Any] = {}

        def watch(t: float) -> None:
            if "t" not in final and p.status(coid) in ("REJECTED", "CANCELED", "FILLED"):
                final.update(t=t, reads=p.reads())

        with ThreadPoolExecutor(1) as pool:
            with p.held("fill_watcher") as watcher:
                fut = pool.submit(p.trading.place_and_confirm, T0, "yes", "buy", "2", "0.99", "ioc",
                                  client_order_id=coid, wait_s=20)
                p.wait(lambda: p.status(coid) == "UNKNOWN", 20, "the ambiguous create")
                watcher.waiting(1, "its hand-over to the fill watcher", at_least=True)
                p.gate.close("kill switch (test)", "test")
            with p.supervisor_paused():
                drive(p, clock, 120, watch)
                assert final, f"still {p.status(coid)} after 120 s"
                assert p.reads() == final["reads"], "polling went on after the order was final while halted"
                p.gate.reset("reviewed (test)", "test")
                drive(p, clock, 60)
                assert p.reads() == final["reads"], "polling resumed after the reset"
            fut.result(timeout=30)
        assert p.requests("create_order") == 1, "the resend went out through a closed gate"
        assert p.status(coid) == "REJECTED"
        assert p.ledger.order_history(coid)[-1][2] == "NOT_ON_EXCHANGE"
        trades_again(p)
        p.assert_matches_exchange()

    def test_a_definitive_no_to_the_resend_leaves_it_unknown_until_settled(self, pipeline_factory) -> None:
        """The resend meets 429: that says nothing of the first attempt, so the ledger keeps the order UNKNOWN
        (not REJECTED RATE_LIMITED) until the exchange's evidence settles it."""
        clock = FakeClock()
        p = pipeline_factory(clock=clock)
        p.faults(error_5xx_next={"create_order": 1})
        coid = str(uuid.uuid4())
        with ThreadPoolExecutor(1) as pool:
            with p.held("fill_watcher") as watcher:
                fut = pool.submit(p.trading.place_and_confirm, T0, "yes", "buy", "2", "0.99", "ioc",
                                  client_order_id=coid, wait_s=20)
                p.wait(lambda: p.status(coid) == "UNKNOWN", 20, "the ambiguous create")
                watcher.waiting(1, "its hand-over to the fill watcher", at_least=True)
                p.faults(rate_429={"create_order": 1.0})
            with p.supervisor_paused():
                p.wait(lambda: p.requests("create_order") == 2, 20, "the resend")
                p.tick("order_placer")
                p.tick()
                assert p.status(coid) == "UNKNOWN", p.ledger.order_history(coid)
                p.sim.exchange.faults.clear()
                drive(p, clock, 60)
            fut.result(timeout=30)
        assert p.ledger.order_history(coid)[-1][1:] == (OrderStatus.REJECTED, "NOT_ON_EXCHANGE")
        trades_again(p)
        p.assert_matches_exchange()
