"""The fill watcher handles the hand-overs and stream messages waiting together in its mailbox as one group:
each order is confirmed as on its own, its fills booked once and committed before its confirmation is sent
(actors.fill_group; docs/architecture.md §6).

The fill watcher is made busy with the ``Hang`` test hook while the supervisor is paused
(``Pipeline.held``), so the placer's hand-overs and the stream's messages pile up in its mailbox; then it
is released.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from kalshi_guard.simulator.markets import DEFAULT_TICKERS

T0, T1, T2 = DEFAULT_TICKERS[0], DEFAULT_TICKERS[1], DEFAULT_TICKERS[2]
WHOLE = {"confirm_timeout_s": 5, "poll_interval_s": 0.2, "fill_threshold": Decimal(1)}


def ioc(ticker: str, count: str = "2") -> dict[str, str]:
    """An IOC YES buy at 0.99: it fills at once on the simulator's seeded book."""
    return {"ticker": ticker, "outcome": "yes", "action": "buy", "count": count, "price": "0.99",
            "time_in_force": "ioc", "client_order_id": str(uuid.uuid4())}


def placed_and_read(p: Any, body: dict[str, str]) -> tuple[Any, Any]:
    """A bot places ``body`` and, the moment its confirmation arrives, reads the order back from the ledger."""
    conf = p.trading.place(body, wait_s=20)
    return conf, p.ledger.get_order(body["client_order_id"])


class TestFillGroups:
    def test_a_backlog_of_orders_is_confirmed_each_after_its_fill_is_committed(self, pipeline_factory) -> None:
        """Three IOC orders whose hand-overs and fills wait behind a busy fill watcher: each is confirmed FILLED,
        and when its caller gets the confirmation the ledger already holds its fill; every trade booked once."""
        p = pipeline_factory(**WHOLE)
        bodies = [ioc(T0, "1"), ioc(T1, "2"), ioc(T2, "3")]
        with p.held("fill_watcher") as fw:
            futures = [fw.pool.submit(placed_and_read, p, b) for b in bodies]
            # per order: the placer's Track, the stream's fill and its user_orders update
            fw.waiting(9, "the hand-overs and the stream traffic of three orders", at_least=True)
        for body, fut in zip(bodies, futures, strict=True):
            conf, record = fut.result(timeout=30)
            assert conf.status.value == "FILLED", conf
            assert conf.client_order_id == body["client_order_id"]
            assert conf.filled_count == Decimal(body["count"])
            assert (record.status.value, record.filled_count) == ("FILLED", Decimal(body["count"]))
        p.assert_matches_exchange()

    def test_two_fills_of_one_order_in_a_group_are_booked_in_order(self, pipeline_factory) -> None:
        """A resting order filled by a stranger twice while the fill watcher is busy: both fills booked in the
        order they came (RESTING → PARTIAL → FILLED), one FILLED confirmation carrying both."""
        p = pipeline_factory(**WHOLE)
        coid = str(uuid.uuid4())
        body = {"ticker": T0, "outcome": "yes", "action": "buy", "count": "10", "price": "0.10",
                "time_in_force": "gtc", "client_order_id": coid}
        with ThreadPoolExecutor(1) as pool:
            fut = pool.submit(p.trading.place, body, wait_s=20)
            p.wait_status(coid, "RESTING")
            oid = p.ledger.get_order(coid).order_id
            with p.held("fill_watcher") as fw:
                p.counterparty(oid, 4)
                p.counterparty(oid, 6)
                fw.waiting(2, "the two fills", at_least=True)
            conf = fut.result(timeout=30)
        assert conf.status.value == "FILLED", conf
        assert [f.count for f in conf.fills] == [Decimal(4), Decimal(6)]
        assert p.history(coid) == ["INTENT", "RESTING", "PARTIAL", "FILLED"]
        p.assert_matches_exchange()
