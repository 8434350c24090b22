"""A fill is booked at the exchange's time, not at the moment the daemon hears of it: that time decides the
trading day whose P&L the fill counts to (a fill at 23:59:59 booked a second later would move a day).

The simulator's clock is set an hour back for the trade, so the two times cannot be confused. Checked by
restoring the daemon's wall clock in the untracked booking (``fill_booking._book_untracked``): that test
then fails by an hour."""

from __future__ import annotations

import time
import uuid
from datetime import UTC
from decimal import Decimal
from typing import Any

from sqlalchemy import create_engine, select

from kalshi_guard.config.endpoints import make_client
from kalshi_guard.exchange.wire import BookSide, CreateOrderRequest, TimeInForce
from kalshi_guard.ledger import OrderStatus
from kalshi_guard.ledger.schema import FillRow
from kalshi_guard.simulator.markets import DEFAULT_TICKERS

T0 = DEFAULT_TICKERS[0]
FAST = {"confirm_timeout_s": 3, "poll_interval_s": 0.2}


def wait_fill_channel(p: Any) -> None:
    """Until the daemon's stream is subscribed to the ``fill`` channel (a trade before that reaches it only
    through start-up resolution or reconciliation)."""
    p.wait(lambda: any(s.channel == "fill" for c in list(p.sim.ctx.hub.conns) for s in list(c.subs.values())),
           what="the daemon's fill subscription")


def booked_times(p: Any, coid: str) -> list[float]:
    """Unix seconds of every fill the ledger booked for ``coid``."""
    engine = create_engine(p.ledger_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(FillRow.ts).where(FillRow.client_order_id == coid)).all()
    finally:
        engine.dispose()
    return [r.ts.replace(tzinfo=UTC).timestamp() for r in rows]


class TestFillTime:
    def test_a_fill_of_a_known_untracked_order_keeps_the_exchanges_time(self, pipeline_factory) -> None:
        """A resting order the ledger knows but nobody tracks (left by a previous run) is filled by a
        stranger an hour ago by the exchange's clock: the stream's fill is booked at that hour."""
        p = pipeline_factory(**FAST)
        wait_fill_channel(p)
        coid = str(uuid.uuid4())
        p.ledger.insert_intent(client_order_id=coid, ticker=T0, event_ticker=None, book_side="bid", outcome="yes",
                               action="buy", count=Decimal(3), price=Decimal("0.10"),
                               time_in_force="good_till_canceled")
        with make_client(p.settings.exchange, p.sim.private_key) as c:
            oid = c.create_order(CreateOrderRequest(T0, BookSide.BID, Decimal(3), Decimal("0.10"), client_order_id=coid,
                                                    time_in_force=TimeInForce.GOOD_TILL_CANCELED)).order_id
        p.ledger.transition(coid, OrderStatus.RESTING, order_id=oid)
        traded_at = time.time() - 3600
        real = p.sim.exchange.clock
        p.sim.exchange.clock = lambda: traded_at
        try:
            p.counterparty(oid, 2)
        finally:
            p.sim.exchange.clock = real
        [ts] = p.wait(lambda: booked_times(p, coid), what="the stream's fill booked")
        assert abs(ts - traded_at) < 0.01, f"booked at {ts}, traded at {traded_at}"

    def test_a_fill_of_a_tracked_order_keeps_the_exchanges_time(self, pipeline_factory) -> None:
        """An IOC the placer sends fills at once, an hour ago by the exchange's clock: booked at that hour."""
        p = pipeline_factory(**FAST)
        traded_at = time.time() - 3600
        real = p.sim.exchange.clock
        p.sim.exchange.clock = lambda: traded_at
        try:
            conf = p.trading.place_and_confirm(T0, "yes", "buy", "1", "0.99", "ioc", wait_s=20)
        finally:
            p.sim.exchange.clock = real
        assert conf.status.value == "FILLED", conf
        [ts] = p.wait(lambda: booked_times(p, conf.client_order_id), what="the fill booked")
        assert abs(ts - traded_at) < 0.01, f"booked at {ts}, traded at {traded_at}"
