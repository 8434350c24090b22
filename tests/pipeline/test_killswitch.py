"""The kill switch on the real tree and the simulator: a stop leaves nothing resting and nothing open, the
order group stops resting orders when cancel-all fails, a flatten without liquidity says what stays open,
and ``Halt`` drops the orders queued at the placer."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from kalshi_guard.core.gate import GateState
from kalshi_guard.simulator.markets import DEFAULT_TICKERS

T0, T1 = DEFAULT_TICKERS[0], DEFAULT_TICKERS[1]
STEPS = ["gate_closed", "work_dropped", "order_group", "cancel_all", "flatten"]


def open_positions_and_resting_orders(p, pool: ThreadPoolExecutor, resting: int = 3) -> list:
    """Two positions (long YES in T0, long NO in T1) and ``resting`` GTC bids resting far from the market."""
    assert p.trading.place_and_confirm(T0, "yes", "buy", "5", "0.99", "ioc", wait_s=20).filled_count == 5
    assert p.trading.place_and_confirm(T1, "no", "buy", "4", "0.99", "ioc", wait_s=20).filled_count == 4
    futures = [pool.submit(p.trading.place_and_confirm, T0, "yes", "buy", "2", "0.02", "gtc", wait_s=60)
               for _ in range(resting)]
    p.wait(lambda: len([o for o in p.exchange_orders() if o.status.value == "resting"]) == resting, 20,
           "resting orders on the exchange")
    return futures


def resting_on_exchange(p) -> list:
    return [o for o in p.exchange_orders() if o.status.value == "resting"]


class TestStop:
    def test_a_stop_leaves_no_resting_order_and_no_position(self, pipeline_factory) -> None:
        """Every step runs in order; the exchange then holds no resting order and no position, the gate is
        HALTED, one KILL_SWITCH row records the steps, and the ledger agrees with the exchange."""
        p = pipeline_factory(confirm_timeout_s=120)
        group = p.sup.killswitch.ensure_group()
        assert group is not None
        with ThreadPoolExecutor(4) as pool:
            open_positions_and_resting_orders(p, pool)
            assert {o.order_group_id for o in resting_on_exchange(p)} == {group}, "every order is in the group"
            ticket = p.sup.killswitch.stop("test stop", "test", wait=30)
            assert ticket.done.is_set()
        assert [s.name for s in ticket.steps] == STEPS
        assert all(s.ok for s in ticket.steps), ticket.summary()
        assert resting_on_exchange(p) == []
        assert p.exchange_positions() == {}
        assert p.gate.state is GateState.HALTED
        rows = p.ledger.activity("KILL_SWITCH", limit=10)
        assert len(rows) == 1
        assert [s["step"] for s in rows[0].details["steps"]] == STEPS
        p.wait(lambda: p.ledger_positions() == {}, 20, "the ledger flat too")

    def test_with_cancel_all_failing_the_order_group_still_cancels(self, pipeline_factory) -> None:
        """Cancel-all and every single cancel answer 500: the triggered order group still takes the resting
        orders off the book."""
        p = pipeline_factory(confirm_timeout_s=120, kill={"flatten": False})
        assert p.sup.killswitch.ensure_group() is not None
        with ThreadPoolExecutor(4) as pool:
            open_positions_and_resting_orders(p, pool)
            p.faults(error_5xx_next={"cancel_all": 10, "cancel_order": 100, "batch_cancel": 100})
            ticket = p.sup.killswitch.stop("test stop", "test", wait=30)
        steps = {s.name: s for s in ticket.steps}
        assert steps["order_group"].ok
        assert "cancel-all failed" in steps["cancel_all"].detail
        assert p.requests("cancel_all") >= 1
        assert resting_on_exchange(p) == []

    def test_without_liquidity_the_flatten_says_what_stays_open(self, pipeline_factory) -> None:
        """No bid to sell to: the flatten reports the position still open and the gate stays HALTED."""
        p = pipeline_factory(kill={"flatten_attempts": 2})
        assert p.trading.place_and_confirm(T0, "yes", "buy", "5", "0.99", "ioc", wait_s=20).filled_count == 5
        p.sim.exchange.cancel_maker_orders(T0)
        ticket = p.sup.killswitch.stop("test stop", "test", wait=30)
        flatten = {s.name: s for s in ticket.steps}["flatten"]
        assert not flatten.ok
        assert ticket.flatten is not None
        assert dict(ticket.flatten.remaining or ()) == {T0: Decimal(5)}
        assert "no liquidity" in flatten.detail
        assert p.gate.state is GateState.HALTED
        row = p.ledger.activity("KILL_SWITCH", limit=1)[0]
        assert row.details["remaining"] == {T0: "5.00"} or Decimal(row.details["remaining"][T0]) == 5


class TestHaltDropsQueuedWork:
    def test_orders_waiting_at_the_placer_are_rejected_without_being_sent(self, pipeline_factory) -> None:
        """Orders queued in the placer's mailbox when the stop comes are answered REJECTED GATE_HALTED and
        never reach the exchange, nor the ledger."""
        p = pipeline_factory()
        before = p.sim.exchange.created_order_count()
        ids = [str(uuid.uuid4()) for _ in range(3)]
        with p.held("order_placer") as placer:
            futures = [placer.order({"ticker": T0, "outcome": "yes", "action": "buy", "count": "1", "price": "0.99",
                                     "time_in_force": "ioc", "client_order_id": coid}) for coid in ids]
            ticket = p.sup.killswitch.stop("test stop", "test")
        answers = [f.result(timeout=20) for f in futures]
        assert ticket.wait(30)
        assert [a.status.value for a in answers] == ["REJECTED"] * 3
        assert {a.reason for a in answers} == {"GATE_HALTED"}
        assert p.sim.exchange.created_order_count() == before
        assert [p.status(coid) for coid in ids] == [None] * 3, "nothing was written ahead for them"
