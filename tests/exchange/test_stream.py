"""The WebSocket stream against a scripted loopback server: handshake, subscriptions, books, reconnects."""

from __future__ import annotations

import queue
import random
from decimal import Decimal

import pytest

from kalshi_guard.exchange.signing import Signer
from kalshi_guard.exchange.stream import KalshiStream, StreamEvent
from kalshi_guard.exchange.stream_msgs import OrderbookDelta, StreamFill, Subscribed, SubscriptionList, UserOrder
from kalshi_guard.exchange.wire_base import BookSide, OrderStatus


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Collector:
    def __init__(self):
        self.messages: queue.Queue = queue.Queue()
        self.events: queue.Queue = queue.Queue()

    def msg(self, m):
        self.messages.put(m)

    def event(self, e):
        self.events.put(e)

    def wait_event(self, wanted, timeout=5.0):
        while True:
            e = self.events.get(timeout=timeout)
            if e is wanted:
                return e

    def wait_msg(self, cls, timeout=5.0):
        while True:
            m = self.messages.get(timeout=timeout)
            if isinstance(m, cls):
                return m


@pytest.fixture
def stream_factory(ws_server, ws_signer):
    made = []

    def make(signer: Signer | None = None, **kw):
        c = Collector()
        s = KalshiStream(ws_server.url, signer or ws_signer, c.msg, c.event, rng=random.Random(1),
                         backoff_initial=0.01, backoff_max=0.05, poll_interval=0.05, **kw)
        made.append(s)
        return s, c

    yield make
    for s in made:
        s.stop()


def _snapshot(sid, seq, ticker="MKT-A"):
    return {"type": "orderbook_snapshot", "sid": sid, "seq": seq,
            "msg": {"market_ticker": ticker, "market_id": "m", "yes_dollars_fp": [["0.4000", "10.00"]],
                    "no_dollars_fp": [["0.5000", "5.00"]]}}


def _delta(sid, seq, price="0.4000", delta="2.00", side="yes", ticker="MKT-A"):
    return {"type": "orderbook_delta", "sid": sid, "seq": seq,
            "msg": {"market_ticker": ticker, "market_id": "m", "price_dollars": price, "delta_fp": delta,
                    "side": side, "ts_ms": 1}}


class TestHandshake:
    def test_signed_handshake_connects(self, ws_server, stream_factory):
        """The upgrade carries a valid signature over the WS path and the owner hears CONNECTED."""
        s, c = stream_factory()
        s.start()
        assert ws_server.handshakes.get(timeout=5) is True
        c.wait_event(StreamEvent.CONNECTED)
        assert s.is_connected()

    def test_bad_key_is_refused_and_retried(self, ws_server, stream_factory):
        """A handshake refused with 401 reports CONNECT_FAILED and keeps retrying."""
        from kalshi_guard.exchange.keys import generate_private_key

        s, c = stream_factory(Signer("ws-key", generate_private_key()))
        s.start()
        c.wait_event(StreamEvent.CONNECT_FAILED)
        c.wait_event(StreamEvent.CONNECT_FAILED)
        assert not s.is_connected()


class TestSubscriptions:
    def test_subscribe_update_list_unsubscribe(self, ws_server, stream_factory):
        """Each owner call sends the documented command with a fresh id."""
        s, c = stream_factory()
        s.start()
        c.wait_event(StreamEvent.CONNECTED)
        h = s.subscribe(["fill", "user_orders"], ["MKT-A"])
        cmd = ws_server.next_command()
        assert cmd["cmd"] == "subscribe"
        assert cmd["params"] == {"channels": ["fill", "user_orders"], "market_tickers": ["MKT-A"]}
        c.wait_msg(Subscribed)
        c.wait_msg(Subscribed)
        s.update_subscription(h, "add_markets", ["MKT-B"])
        upd = [ws_server.next_command(), ws_server.next_command()]
        assert {u["cmd"] for u in upd} == {"update_subscription"}
        assert upd[0]["params"]["action"] == "add_markets"
        assert s.subscriptions()[0].market_tickers == ("MKT-A", "MKT-B")
        cid = s.list_subscriptions()
        assert ws_server.next_command()["id"] == cid
        s.unsubscribe(h)
        assert sorted(ws_server.next_command()["params"]["sids"]) == [1, 2]

    def test_list_answer_is_parsed(self, ws_server, stream_factory):
        """A list_subscriptions answer arrives as a SubscriptionList."""
        s, c = stream_factory()
        s.start()
        c.wait_event(StreamEvent.CONNECTED)
        ws_server.push({"id": 3, "type": "ok", "msg": [{"channel": "fill", "sid": 1}]})
        assert c.wait_msg(SubscriptionList).subscriptions == (("fill", 1),)


class TestPrivateChannels:
    def test_fill_and_user_order_are_typed(self, ws_server, stream_factory):
        """Private fill and user_order frames become dataclasses with Decimal counts and prices."""
        s, c = stream_factory()
        s.start()
        c.wait_event(StreamEvent.CONNECTED)
        ws_server.push({"type": "fill", "sid": 1, "msg": {
            "trade_id": "t1", "order_id": "o1", "market_ticker": "MKT-A", "is_taker": True,
            "outcome_side": "no", "book_side": "ask", "yes_price_dollars": "0.4500", "count_fp": "3.00",
            "fee_cost": "0.052000", "post_position_fp": "-3.00", "ts_ms": 5, "brand_new": 1}})
        f = c.wait_msg(StreamFill)
        assert (f.trade_id, f.book_side, f.count, f.price, f.fee) == (
            "t1", BookSide.ASK, Decimal("3.00"), Decimal("0.4500"), Decimal("0.052000"))
        ws_server.push({"type": "user_order", "sid": 2, "msg": {
            "order_id": "o1", "user_id": "u", "ticker": "MKT-A", "status": "canceled", "outcome_side": "yes",
            "book_side": "bid", "yes_price_dollars": "0.4500", "fill_count_fp": "1.00",
            "remaining_count_fp": "0.00", "initial_count_fp": "2.00", "client_order_id": "c1"}})
        u = c.wait_msg(UserOrder)
        assert (u.status, u.fill_count) == (OrderStatus.CANCELED, Decimal("1.00"))

    def test_callback_failure_does_not_kill_reader(self, ws_server, stream_factory):
        """An on_message that raises is logged; later frames still arrive."""
        s, c = stream_factory()
        boom = {"n": 0}
        orig = c.msg

        def flaky(m):
            boom["n"] += 1
            if boom["n"] == 1:
                raise RuntimeError("owner bug")
            orig(m)

        s._on_message = flaky
        s.start()
        c.wait_event(StreamEvent.CONNECTED)
        ws_server.push({"type": "ticker", "sid": 9, "msg": {"market_ticker": "A", "price_dollars": "0.5"}})
        ws_server.push({"id": 3, "type": "ok", "msg": []})
        c.wait_msg(SubscriptionList)


class TestOrderbook:
    def _subscribed(self, ws_server, stream_factory):
        s, c = stream_factory()
        s.start()
        c.wait_event(StreamEvent.CONNECTED)
        s.subscribe(["orderbook_delta"], ["MKT-A"])
        sub = c.wait_msg(Subscribed)
        ws_server.next_command()
        return s, c, sub.sid

    def test_snapshot_then_deltas(self, ws_server, stream_factory):
        """Deltas apply to the snapshot; a level that reaches zero disappears."""
        s, c, sid = self._subscribed(ws_server, stream_factory)
        ws_server.push(_snapshot(sid, 1))
        ws_server.push(_delta(sid, 2, "0.4000", "2.00"))
        ws_server.push(_delta(sid, 3, "0.5000", "-5.00", side="no"))
        c.wait_msg(OrderbookDelta)
        c.wait_msg(OrderbookDelta)
        book = s.book("MKT-A")
        assert [(lv.price, lv.count) for lv in book.yes] == [(Decimal("0.4000"), Decimal("12.00"))]
        assert book.no == ()

    def test_duplicate_seq_is_dropped(self, ws_server, stream_factory):
        """A repeated seq is not applied twice."""
        s, c, sid = self._subscribed(ws_server, stream_factory)
        ws_server.push(_snapshot(sid, 1))
        ws_server.push(_delta(sid, 2))
        ws_server.push(_delta(sid, 2))
        ws_server.push(_delta(sid, 3, "0.3000", "1.00"))
        c.wait_msg(OrderbookDelta)
        last = c.wait_msg(OrderbookDelta)
        assert last.seq == 3
        assert s.book("MKT-A").yes[-1].count == Decimal("12.00")

    def test_gap_discards_book_and_resubscribes(self, ws_server, stream_factory):
        """A seq gap discards the book, tells the owner BOOK_RESYNC and resubscribes for a new snapshot."""
        s, c, sid = self._subscribed(ws_server, stream_factory)
        ws_server.push(_snapshot(sid, 1))
        ws_server.push(_delta(sid, 3))
        c.wait_event(StreamEvent.BOOK_RESYNC)
        assert ws_server.next_command() == {"id": 2, "cmd": "unsubscribe", "params": {"sids": [sid]}}
        resub = ws_server.next_command()
        assert resub["cmd"] == "subscribe"
        assert s.book("MKT-A") is None
        new_sid = c.wait_msg(Subscribed).sid
        ws_server.push(_snapshot(new_sid, 1))
        ws_server.push(_delta(new_sid, 2))
        c.wait_msg(OrderbookDelta)
        assert s.book("MKT-A").yes[-1].count == Decimal("12.00")


class TestReconnect:
    def test_drop_reconnects_resubscribes_and_says_reconcile(self, ws_server, stream_factory):
        """After the server drops us the stream reconnects, re-sends subscriptions and emits RECONNECTED."""
        s, c = stream_factory()
        s.start()
        c.wait_event(StreamEvent.CONNECTED)
        s.subscribe(["fill"])
        ws_server.next_command()
        ws_server.drop()
        c.wait_event(StreamEvent.DISCONNECTED)
        c.wait_event(StreamEvent.RECONNECTED)
        again = ws_server.next_command()
        assert again == {"id": 1, "cmd": "subscribe", "params": {"channels": ["fill"]}}
        assert s.connections == 2

    def test_staleness_forces_reconnect(self, ws_server, stream_factory):
        """With nothing received for stale_after seconds the stream is stale and reconnects."""
        clock = FakeClock()
        s, c = stream_factory(clock=clock, stale_after=15.0, ping_interval=None)
        s.start()
        c.wait_event(StreamEvent.CONNECTED)
        assert not s.is_stale()
        clock.now += 16
        assert s.is_stale()
        c.wait_event(StreamEvent.STALE)
        c.wait_event(StreamEvent.RECONNECTED)

    def test_stop_reports_stopped(self, ws_server, stream_factory):
        """stop() closes the connection and the owner hears STOPPED."""
        s, c = stream_factory()
        s.start()
        c.wait_event(StreamEvent.CONNECTED)
        s.stop()
        c.wait_event(StreamEvent.STOPPED)
        assert s.is_stale()

