"""Coalescing: orders that queue up at a busy order placer leave together in one batch create, each with its own
checks, write-ahead row and confirmation; nothing overtakes a message queued before it (docs/architecture.md §5–6).

The placer is made busy with the ``Hang`` test hook while the supervisor is paused (``Pipeline.held``: no
heartbeat lands in its mailbox); orders are then told one at a time, each waited for in the mailbox, so the
mailbox holds exactly what the test says in the order it says.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest

from kalshi_guard.actors.messages import EmergencyStop, Ping
from kalshi_guard.simulator.markets import DEFAULT_TICKERS

T0, T1, T2 = DEFAULT_TICKERS[0], DEFAULT_TICKERS[1], DEFAULT_TICKERS[2]
FAST = {"confirm_timeout_s": 3, "poll_interval_s": 0.2}
SHORT_CLIENT = {"request_timeout_s": 0.5}


def ioc(ticker: str = T0, count: str = "2") -> dict[str, str]:
    """An IOC YES buy at 0.99: it fills at once on the simulator's seeded book."""
    return {"ticker": ticker, "outcome": "yes", "action": "buy", "count": count, "price": "0.99",
            "time_in_force": "ioc", "client_order_id": str(uuid.uuid4())}


def batch_ids(p: Any, confirmations: list[Any]) -> list[str | None]:
    return [p.ledger.get_order(c.client_order_id).batch_id for c in confirmations]


class TestCoalescing:
    def test_orders_queued_while_the_placer_is_busy_leave_in_one_batch_request(self, pipeline_factory) -> None:
        """Three orders queued behind a busy placer: one batch create, no single create; each caller gets its
        own FILLED confirmation; the three share a batch id; ledger = exchange."""
        p = pipeline_factory(**FAST)
        bodies = [ioc(T0, "1"), ioc(T1, "2"), ioc(T2, "3")]
        with p.held("order_placer") as held:
            futures = [held.order(b) for b in bodies]
        confs = [f.result(timeout=30) for f in futures]
        for body, conf in zip(bodies, confs, strict=True):
            assert conf.status.value == "FILLED", conf
            assert conf.client_order_id == body["client_order_id"]
            assert conf.filled_count == Decimal(body["count"])
            assert [o.ticker for o in p.exchange_orders_for(conf.client_order_id)] == [body["ticker"]]
            p.wait_status(conf.client_order_id, "FILLED")
        assert (p.requests("batch_create"), p.requests("create_order")) == (1, 0)
        ids = batch_ids(p, confs)
        assert ids[0] is not None
        assert ids == [ids[0]] * 3
        p.assert_matches_exchange()

    def test_a_lone_order_is_a_single_create(self, pipeline_factory) -> None:
        """With nothing queued behind it an order goes out as a single create, with no batch id."""
        p = pipeline_factory(**FAST)
        conf = p.trading.place(ioc(), wait_s=20)
        assert conf.status.value == "FILLED", conf
        assert (p.requests("batch_create"), p.requests("create_order")) == (0, 1)
        assert batch_ids(p, [conf]) == [None]

    def test_coalesce_max_1_never_batches(self, pipeline_factory) -> None:
        """orders.coalesce_max = 1: three queued orders leave as three single creates."""
        p = pipeline_factory(coalesce_max=1, **FAST)
        with p.held("order_placer") as held:
            futures = [held.order(ioc(t)) for t in (T0, T1, T2)]
        confs = [f.result(timeout=30) for f in futures]
        assert [c.status.value for c in confs] == ["FILLED"] * 3, confs
        assert (p.requests("batch_create"), p.requests("create_order")) == (0, 3)
        assert batch_ids(p, confs) == [None] * 3

    def test_a_batch_holds_at_most_coalesce_max_orders(self, pipeline_factory) -> None:
        """orders.coalesce_max = 2: three queued orders leave as a batch of two, then the third alone."""
        p = pipeline_factory(coalesce_max=2, **FAST)
        with p.held("order_placer") as held:
            futures = [held.order(ioc(t)) for t in (T0, T1, T2)]
        confs = [f.result(timeout=30) for f in futures]
        assert [c.status.value for c in confs] == ["FILLED"] * 3, confs
        assert (p.requests("batch_create"), p.requests("create_order")) == (1, 1)
        first, second, third = batch_ids(p, confs)
        assert first is not None
        assert (second, third) == (first, None)

    def test_a_batch_holds_no_more_than_the_write_bucket_pays_for_at_once(self, pipeline_factory) -> None:
        """At 3 creates/s with a 20 % reserve one request can pay for 2 creates (24 tokens above the floor): three
        queued orders leave as a batch of two, then one, instead of one batch refused RATE_LIMITED."""
        p = pipeline_factory(exchange={"write_rate_per_s": 3.0}, **FAST)
        with p.held("order_placer") as held:
            futures = [held.order(ioc(t)) for t in (T0, T1, T2)]
        confs = [f.result(timeout=30) for f in futures]
        assert [c.status.value for c in confs] == ["FILLED"] * 3, confs
        assert (p.requests("batch_create"), p.requests("create_order")) == (1, 1)

    def test_coalescing_stops_at_any_other_message(self, pipeline_factory) -> None:
        """Orders queued either side of another message (here a heartbeat) are never taken past it: two
        batch requests, one per side, each with its own batch id."""
        p = pipeline_factory(**FAST)
        with p.held("order_placer") as held:
            before = [held.order(ioc(T0)), held.order(ioc(T1))]
            held.tell(Ping(0))
            after = [held.order(ioc(T2)), held.order(ioc(T0))]
        confs = [f.result(timeout=30) for f in before + after]
        assert [c.status.value for c in confs] == ["FILLED"] * 4, confs
        assert (p.requests("batch_create"), p.requests("create_order")) == (2, 0)
        a, b, c, d = batch_ids(p, confs)
        assert a == b
        assert c == d
        assert a != c
        p.assert_matches_exchange()


class TestSafety:
    def test_orders_queued_around_an_emergency_stop_never_leave(self, pipeline_factory) -> None:
        """Orders queued before and behind the Halt of an emergency stop: the gate closed first, so every one is
        refused GATE_HALTED, nothing is written or sent, and the placer took the Halt."""
        p = pipeline_factory(**FAST)
        with p.held("order_placer") as held:
            before = [held.order(ioc(T0)), held.order(ioc(T1))]
            p.sup.peers["guardian"].tell(EmergencyStop("test", "stop with orders queued"))
            held.waiting(3, "the Halt behind the queued orders")
            behind = [held.order(ioc(T2))]
        confs = [f.result(timeout=30) for f in before + behind]
        assert [(c.status.value, c.reason) for c in confs] == [("REJECTED", "GATE_HALTED")] * 3, confs
        assert all(p.status(c.client_order_id) is None for c in confs), "nothing written ahead"
        assert (p.requests("batch_create"), p.requests("create_order")) == (0, 0)
        assert p.sim.exchange.created_order_count() == 0
        p.wait(lambda: any("order_placer" in r.message for r in p.ledger.activity("HALT", limit=10)),
               what="the placer's HALT row")

    def test_a_pre_trade_refusal_in_a_batch_leaves_the_others_alone(self, pipeline_factory) -> None:
        """One of three queued orders is too large: it alone is REJECTED (SIZE_LIMIT, nothing written); the
        other two leave in one batch request and fill."""
        p = pipeline_factory(**FAST)
        bodies = [ioc(T0), ioc(T1, "101"), ioc(T2)]
        with p.held("order_placer") as held:
            futures = [held.order(b) for b in bodies]
        ok1, refused, ok2 = (f.result(timeout=30) for f in futures)
        assert (refused.status.value, refused.reason) == ("REJECTED", "SIZE_LIMIT"), refused
        assert p.status(refused.client_order_id) is None
        assert [ok1.status.value, ok2.status.value] == ["FILLED", "FILLED"], (ok1, ok2)
        assert (p.requests("batch_create"), p.requests("create_order")) == (1, 0)
        assert len(set(batch_ids(p, [ok1, ok2]))) == 1
        assert p.exchange_orders_for(refused.client_order_id) == []
        p.assert_matches_exchange()

    @pytest.mark.parametrize("fault", [
        {"timeout_after_accept": {"batch_create": 1}, "timeout_hold_s": 1.0},
        {"error_5xx_next": {"batch_create": 1}},
        {"error_5xx_after_accept": {"batch_create": 1}},
        {"reset_before": {"batch_create": 1}},
        {"reset_after_accept": {"batch_create": 1}},
    ], ids=["timeout_after_accept", "5xx_before", "5xx_after_accept", "reset_before", "reset_after_accept"])
    def test_an_ambiguous_coalesced_batch_ends_with_each_order_once(self, pipeline_factory, fault) -> None:
        """A coalesced batch whose request meets an ambiguous fault: each order goes UNKNOWN, is resolved from
        exchange evidence (found, or re-sent once with its own id), fills, and is on the exchange exactly once."""
        p = pipeline_factory(exchange=SHORT_CLIENT, **FAST)
        p.faults(**fault)
        with p.held("order_placer") as held:
            futures = [held.order(ioc(t)) for t in (T0, T1, T2)]
        confs = [f.result(timeout=30) for f in futures]
        assert [c.status.value for c in confs] == ["FILLED"] * 3, confs
        assert p.requests("batch_create") == 1
        for c in confs:
            assert "UNKNOWN" in p.history(c.client_order_id), p.history(c.client_order_id)
            assert len(p.exchange_orders_for(c.client_order_id)) == 1
            p.wait_status(c.client_order_id, "FILLED")
        p.assert_matches_exchange()
