"""Contract suite: the real KalshiClient and KalshiStream against the real simulator over loopback."""

from __future__ import annotations

import queue
import random
import uuid
from decimal import Decimal

import pytest

from kalshi_guard.core.errors import Ambiguous, AuthError, NotFoundError, RateLimited, Rejected
from kalshi_guard.exchange.buckets import BucketKind, Priority, RateBuckets
from kalshi_guard.exchange.classify import classify
from kalshi_guard.exchange.keys import generate_private_key, public_pem
from kalshi_guard.exchange.rest import CancelSpec, KalshiClient
from kalshi_guard.exchange.signing import Signer
from kalshi_guard.exchange.stream import KalshiStream, StreamEvent
from kalshi_guard.exchange.stream_msgs import (
    MarketLifecycle,
    OrderbookSnapshot,
    OrderGroupUpdate,
    PositionUpdate,
    StreamFill,
    Subscribed,
    TickerUpdate,
    UserOrder,
)
from kalshi_guard.exchange.wire import AmendOrderRequest, BookSide, CreateOrderRequest, OrderStatus, TimeInForce
from kalshi_guard.simulator.markets import DEFAULT_TICKERS
from kalshi_guard.simulator.testing import SignedClient, running_simulator

T0, T1, T2 = DEFAULT_TICKERS[0], DEFAULT_TICKERS[1], DEFAULT_TICKERS[2]


@pytest.fixture(scope="module")
def sim():
    with running_simulator(seed=7) as s:
        yield s


@pytest.fixture(autouse=True)
def _clean_faults(sim):
    yield
    sim.exchange.faults.clear()
    sim.exchange.set_exchange_active(True)
    sim.exchange.set_trading_active(True)


@pytest.fixture
def client(sim):
    c = KalshiClient(sim.rest_url, Signer(sim.key_id, sim.private_key), read_retries=0, rng=random.Random(3),
                     backoff_base=0.001)
    yield c
    c.close()


def cid() -> str:
    return str(uuid.uuid4())


def rest(ticker=T0, price="0.20", count="3", side=BookSide.BID, **kw) -> CreateOrderRequest:
    """A resting order far from the touch."""
    return CreateOrderRequest(ticker, side, Decimal(count), Decimal(price), client_order_id=cid(), **kw)


def take(ticker=T0, count="2", side=BookSide.BID) -> CreateOrderRequest:
    """An IOC order that crosses the seeded liquidity."""
    price = "0.99" if side is BookSide.BID else "0.01"
    return CreateOrderRequest(ticker, side, Decimal(count), Decimal(price), client_order_id=cid(),
                              time_in_force=TimeInForce.IMMEDIATE_OR_CANCEL)


class TestReads:
    def test_exchange_and_account(self, client):
        """Status, schedule and limits parse into typed objects."""
        assert client.get_exchange_status().trading_active
        assert client.get_exchange_schedule().standard_hours_count >= 0
        assert client.get_account_limits().write.refill_rate > 0

    def test_markets_market_orderbook(self, client):
        """Markets list, one market and its book parse with Decimal prices; YES ask = 1 − best NO bid."""
        markets = client.get_markets()
        assert {m.ticker for m in markets} >= set(DEFAULT_TICKERS[:4])
        m = client.get_market(T0)
        assert m.status == "active"
        book = client.get_orderbook(T0)
        assert book.best_yes_ask == m.yes_ask
        assert isinstance(book.yes[0].count, Decimal)

    def test_portfolio_reads(self, client):
        """Balance, positions, settlements, orders and fills all parse (possibly empty)."""
        assert client.get_balance().balance > 0
        client.get_positions()
        client.get_settlements()
        client.list_orders(status=OrderStatus.RESTING)
        client.get_fills()

    def test_unknown_market_is_not_found(self, client):
        """An unknown ticker is NotFoundError."""
        with pytest.raises(NotFoundError):
            client.get_market("NO-SUCH-MARKET")

    def test_pagination_follows_cursor(self, client):
        """list_orders with a page size of 2 returns every order."""
        ids = {client.create_order(rest(T2, "0.05", "1")).order_id for _ in range(5)}
        found = {o.order_id for o in client.list_orders(ticker=T2, limit=2)}
        assert ids <= found
        client.batch_cancel_orders(ids)


class TestOrderWrites:
    def test_create_get_amend_decrease_cancel(self, client):
        """A resting order goes through the whole V2 write life cycle with typed results."""
        req = rest(count="5")
        created = client.create_order(req)
        assert (created.fill_count, created.remaining_count) == (Decimal("0.00"), Decimal("5.00"))
        order = client.get_order(created.order_id)
        assert (order.status, order.client_order_id, order.yes_price) == (
            OrderStatus.RESTING, req.client_order_id, Decimal("0.2000"))
        amended = client.amend_order(created.order_id, AmendOrderRequest(T0, BookSide.BID, Decimal("0.21"),
                                                                         Decimal(6)))
        assert amended.remaining_count == Decimal("6.00")
        assert client.decrease_order(created.order_id, reduce_to=Decimal(4)).remaining_count == Decimal("4.00")
        cancelled = client.cancel_order(created.order_id, market_ticker=T0)
        assert cancelled.reduced_by == Decimal("4.00")
        assert client.get_order(created.order_id).status is OrderStatus.CANCELED

    def test_recancel_is_not_found(self, client):
        """Cancelling a dead order is NotFoundError (proof it is dead)."""
        created = client.create_order(rest())
        client.cancel_order(created.order_id)
        with pytest.raises(NotFoundError):
            client.cancel_order(created.order_id)

    def test_immediate_fill_and_fills(self, client):
        """An IOC bid that crosses fills at once; the fill is listed by order id with its fee."""
        created = client.create_order(take(T1, "2"))
        assert created.fill_count == Decimal("2.00")
        assert created.average_fill_price is not None
        fills = client.get_fills(order_id=created.order_id)
        assert sum(f.count for f in fills) == Decimal("2.00")
        assert all(f.fee > 0 and f.book_side is BookSide.BID for f in fills)
        pos = {p.ticker: p for p in client.get_positions().market_positions}
        assert pos[T1].position >= Decimal("2.00")

    def test_ask_is_buy_no(self, client):
        """An ask (sell YES ≡ buy NO) that fills makes the position more negative."""
        before = {p.ticker: p.position for p in client.get_positions().market_positions}.get(T2, Decimal(0))
        created = client.create_order(take(T2, "1", BookSide.ASK))
        assert created.fill_count == Decimal("1.00")
        after = {p.ticker: p.position for p in client.get_positions().market_positions}[T2]
        assert after == before - 1

    def test_batch_create_and_cancel_with_item_errors(self, client):
        """Batch create/cancel return one item per request; bad items carry Rejected with Kalshi's code."""
        items = client.batch_create_orders([rest(), rest("NO-SUCH-MARKET")])
        assert items[0].result is not None
        assert items[1].error is not None
        assert items[1].error.code == "market_not_found"
        cancels = client.batch_cancel_orders([CancelSpec(items[0].result.order_id, T0), "no-such-order"])
        assert cancels[0].error is None
        assert cancels[0].reduced_by == Decimal("3.00")
        assert cancels[1].error.code == "not_found"

    def test_batch_create_room_is_what_the_write_bucket_can_pay(self, sim):
        """A batch may carry as many creates as the write bucket pays for at once (10 tokens each, above the
        reserve); without buckets there is no client-side bound."""
        signer = Signer(sim.key_id, sim.private_key)
        with KalshiClient(sim.rest_url, signer, buckets=RateBuckets.from_requests_per_s(20, 10, 0.2)) as c:
            assert c.batch_create_room() == 8
            assert c.batch_create_room(Priority.URGENT) == 10
        with KalshiClient(sim.rest_url, signer) as c:
            assert c.batch_create_room() is None

    def test_cancel_all(self, client):
        """Cancel-all leaves no resting order."""
        client.create_order(rest())
        client.create_order(rest(T1))
        client.cancel_all_orders()
        assert client.list_orders(status=OrderStatus.RESTING) == []

    def test_order_groups(self, client):
        """Order groups can be created, read, limited, triggered, reset and deleted."""
        gid = client.create_order_group(Decimal(10))
        assert client.get_order_group(gid).contracts_limit == Decimal("10.00")
        assert gid in {g.id for g in client.list_order_groups()}
        client.set_order_group_limit(gid, Decimal(20))
        client.trigger_order_group(gid)
        client.reset_order_group(gid)
        client.delete_order_group(gid)
        with pytest.raises(NotFoundError):
            client.get_order_group(gid)


class TestV2Semantics:
    def test_duplicate_client_order_id(self, client):
        """Reusing a client_order_id is Rejected('order_already_exists'): the first attempt landed."""
        req = rest()
        first = client.create_order(req)
        with pytest.raises(Rejected) as exc:
            client.create_order(req)
        assert exc.value.code == "order_already_exists"
        assert exc.value.status == 409
        client.cancel_order(first.order_id)

    def test_trading_pause_refuses_creates_allows_cancels(self, sim, client):
        """During a trading pause creates are Rejected('trading_is_paused') and cancels still work."""
        resting = client.create_order(rest())
        sim.exchange.set_trading_active(False)
        with pytest.raises(Rejected) as exc:
            client.create_order(rest())
        assert exc.value.code == "trading_is_paused"
        assert client.cancel_order(resting.order_id).reduced_by == Decimal("3.00")

    def test_exchange_pause_refuses_cancels(self, sim, client):
        """During an exchange pause even cancels are refused (Rejected 'exchange_paused' on a 503)."""
        resting = client.create_order(rest())
        sim.exchange.set_exchange_active(False)
        with pytest.raises(Rejected) as exc:
            client.cancel_order(resting.order_id)
        assert (exc.value.code, exc.value.status) == ("exchange_paused", 503)
        assert not client.get_exchange_status().exchange_active
        sim.exchange.set_exchange_active(True)
        client.cancel_order(resting.order_id)

    def test_market_pause(self, sim, client):
        """A paused market refuses creates with trading_is_paused."""
        sim.exchange.pause_market(T2)
        try:
            with pytest.raises(Rejected, match="trading_is_paused"):
                client.create_order(rest(T2))
        finally:
            sim.exchange.resume_market(T2)

    def test_post_only_cross(self, client):
        """A crossing post-only order is Rejected('invalid_order')."""
        req = CreateOrderRequest(T0, BookSide.BID, Decimal(1), Decimal("0.99"), client_order_id=cid(),
                                 post_only=True)
        with pytest.raises(Rejected) as exc:
            client.create_order(req)
        assert exc.value.code == "invalid_order"

    def test_reduce_only_needs_ioc(self, client):
        """reduce_only with GTC is Rejected (V2 allows it only with IOC)."""
        with pytest.raises(Rejected, match="invalid_order"):
            client.create_order(rest(reduce_only=True))

    def test_inexact_count_never_leaves_the_client(self, client):
        """A count finer than 0.01 raises ValueError before anything is sent."""
        with pytest.raises(ValueError, match="2 decimals"):
            client.create_order(rest(count="1.001"))

    def test_deprecated_v1_endpoint(self, sim, client):
        """The legacy create answers 410 deprecated_v1_order_endpoint, a Rejected."""
        with SignedClient(sim) as raw:
            err = classify(raw.post("/portfolio/orders", {"ticker": T0}))
        assert isinstance(err, Rejected)
        assert err.code == "deprecated_v1_order_endpoint"


class TestLifecycle:
    def test_closed_market_then_settlement(self):
        """After close every order op is Rejected('MARKET_INACTIVE'); after settlement it is listed."""
        with running_simulator(seed=11) as sim2:
            c = KalshiClient(sim2.rest_url, Signer(sim2.key_id, sim2.private_key), read_retries=0)
            c.create_order(take(T0, "1"))
            resting = c.create_order(rest())
            sim2.exchange.close_market(T0)
            with pytest.raises(Rejected) as exc:
                c.create_order(rest())
            assert exc.value.code == "MARKET_INACTIVE"
            with pytest.raises((Rejected, NotFoundError)):
                c.cancel_order(resting.order_id)
            sim2.exchange.determine(T0, "yes")
            sim2.exchange.settle(T0)
            settled = {s.ticker: s for s in c.get_settlements()}
            assert settled[T0].market_result == "yes"
            assert settled[T0].revenue == Decimal("1")
            c.close()


class TestErrorShapes:
    def test_nested_envelope(self, client):
        """The nested {"error": {...}} body yields Kalshi's code."""
        with pytest.raises(NotFoundError) as exc:
            client.get_order("no-such-order")
        assert exc.value.code == "not_found"

    def test_flat_body(self, sim):
        """The flat {"code","message"} body of a JSON-decode 400 is Rejected('bad_request')."""
        with SignedClient(sim) as raw:
            resp = raw.request("POST", "/portfolio/events/orders", content=b"{not json")
        err = classify(resp)
        assert isinstance(err, Rejected)
        assert err.code == "bad_request"

    def test_429_string_body(self, sim, client):
        """An injected 429 {"error":"too many requests"} is RateLimited, and a write is not retried."""
        sim.exchange.faults.configure({"rate_429": {"create_order": 1.0}})
        before = sim.exchange.created_order_count()
        with pytest.raises(RateLimited):
            client.create_order(rest())
        assert sim.exchange.created_order_count() == before

    def test_bad_signature_is_auth(self, sim):
        """A key the simulator does not know is AuthError (401)."""
        with KalshiClient(sim.rest_url, Signer(sim.key_id, generate_private_key())) as bad, \
                pytest.raises(AuthError) as exc:
            bad.get_balance()
        assert exc.value.status == 401

    def test_stale_clock_is_auth(self, sim):
        """A timestamp a minute old is refused as AuthError."""
        import time

        old = Signer(sim.key_id, sim.private_key, clock_ms=lambda: time.time_ns() // 1_000_000 - 60_000)
        with KalshiClient(sim.rest_url, old) as c, pytest.raises(AuthError):
            c.get_balance()

    def test_registered_key_works(self, sim):
        """A newly registered public key signs valid requests (same code, only the key differs)."""
        key = generate_private_key()
        key_id = sim.register_key(public_pem(key))
        with KalshiClient(sim.rest_url, Signer(key_id, key)) as c:
            assert c.get_exchange_status().exchange_active


class TestFaults:
    def test_5xx_on_write_is_ambiguous(self, sim, client):
        """An injected 500 on create is Ambiguous after exactly one attempt."""
        sim.exchange.faults.configure({"error_5xx_rate": {"create_order": 1.0}})
        with pytest.raises(Ambiguous) as exc:
            client.create_order(rest())
        assert exc.value.status == 500

    def test_5xx_on_read_is_retried(self, sim):
        """A read that meets 5xx every time is retried, then surfaces as Ambiguous."""
        sim.exchange.faults.configure({"error_5xx_rate": {"get_balance": 1.0}})
        with KalshiClient(sim.rest_url, Signer(sim.key_id, sim.private_key), read_retries=2,
                          backoff_base=0.001) as c, pytest.raises(Ambiguous):
            c.get_balance()

    def test_timeout_after_accept(self, sim):
        """A create that times out after the simulator accepted it is Ambiguous — and the order exists."""
        sim.exchange.faults.configure({"timeout_after_accept": {"create_order": 1}, "timeout_hold_s": 2.0})
        req = rest()
        with KalshiClient(sim.rest_url, Signer(sim.key_id, sim.private_key), timeout=0.5) as c:
            with pytest.raises(Ambiguous, match="timed out"):
                c.create_order(req)
            found = [o for o in c.list_orders(ticker=T0) if o.client_order_id == req.client_order_id]
            assert len(found) == 1
            with pytest.raises(Rejected, match="order_already_exists"):
                c.create_order(req)
            c.cancel_order(found[0].order_id)

    def test_reset_before_processing(self, sim, client):
        """A connection reset before processing is Ambiguous, and nothing was created."""
        sim.exchange.faults.configure({"reset_before": {"create_order": 1}})
        req = rest()
        with pytest.raises(Ambiguous):
            client.create_order(req)
        assert not [o for o in client.list_orders(ticker=T0) if o.client_order_id == req.client_order_id]

    def test_reset_after_accept(self, sim, client):
        """A reset after the order was accepted is Ambiguous, and the order exists."""
        sim.exchange.faults.configure({"reset_after_accept": {"create_order": 1}})
        req = rest()
        with pytest.raises(Ambiguous):
            client.create_order(req)
        found = [o for o in client.list_orders(ticker=T0) if o.client_order_id == req.client_order_id]
        assert len(found) == 1
        client.cancel_order(found[0].order_id)

    def test_2xx_without_order_id(self, sim, client):
        """A 201 without order_id is Ambiguous (the order may exist)."""
        sim.exchange.faults.configure({"no_order_id": {"create_order": 1}})
        with pytest.raises(Ambiguous, match="order_id") as exc:
            client.create_order(rest())
        assert exc.value.status == 201

    def test_client_bucket_refuses_before_sending(self, sim):
        """An empty client-side write bucket raises RateLimited without contacting the simulator."""
        buckets = RateBuckets(1000, 10, reserve_fraction=0.5)
        assert buckets.try_acquire(BucketKind.WRITE, 10, Priority.URGENT)
        before = sim.exchange.created_order_count()
        with KalshiClient(sim.rest_url, Signer(sim.key_id, sim.private_key), buckets=buckets,
                          bucket_timeout=0.0) as c, pytest.raises(RateLimited):
            c.create_order(rest())
        assert sim.exchange.created_order_count() == before

    def test_reserve_lets_cancels_through(self, sim):
        """With the bucket down to its reserve, a NORMAL create is refused but an URGENT cancel passes."""
        buckets = RateBuckets(1000, 20, reserve_fraction=0.5)
        with KalshiClient(sim.rest_url, Signer(sim.key_id, sim.private_key), buckets=buckets,
                          bucket_timeout=0.0) as c:
            created = c.create_order(rest())
            with pytest.raises(RateLimited):
                c.create_order(rest())
            assert c.cancel_order(created.order_id).reduced_by == Decimal("3.00")


class Collector:
    def __init__(self):
        self.messages: queue.Queue = queue.Queue()
        self.events: queue.Queue = queue.Queue()

    def wait_event(self, wanted, timeout=10.0):
        while True:
            if self.events.get(timeout=timeout) is wanted:
                return

    def wait_msg(self, pred, timeout=10.0):
        while True:
            m = self.messages.get(timeout=timeout)
            if pred(m):
                return m


class TestStream:
    @pytest.fixture
    def stream(self, sim):
        c = Collector()
        s = KalshiStream(sim.ws_url, Signer(sim.key_id, sim.private_key), c.messages.put, c.events.put,
                         rng=random.Random(5), backoff_initial=0.01, backoff_max=0.1, poll_interval=0.05)
        s.start()
        c.wait_event(StreamEvent.CONNECTED)
        yield s, c
        s.stop()

    def test_private_channels_after_a_fill(self, stream, client):
        """A crossing order produces a fill, a user order and a position update on the stream."""
        s, c = stream
        s.subscribe(["fill", "user_orders", "market_positions"])
        for _ in range(3):
            c.wait_msg(lambda m: isinstance(m, Subscribed))
        created = client.create_order(take(T1, "1"))
        seen: dict[type, object] = {}
        while len(seen) < 3:
            m = c.wait_msg(lambda m: (isinstance(m, StreamFill | UserOrder) and m.order_id == created.order_id)
                           or (isinstance(m, PositionUpdate) and m.ticker == T1))
            seen[type(m)] = m
        assert seen[StreamFill].count == Decimal("1.00")
        assert seen[StreamFill].fee > 0

    def test_orderbook_snapshot_and_ticker(self, stream, client):
        """orderbook_delta starts with a snapshot that matches REST; a resting order moves the book."""
        s, c = stream
        s.subscribe(["orderbook_delta", "ticker"], [T0])
        c.wait_msg(lambda m: isinstance(m, OrderbookSnapshot) and m.ticker == T0)
        assert s.book(T0).yes == client.get_orderbook(T0).yes
        created = client.create_order(rest(T0, "0.11", "7"))
        c.wait_msg(lambda m: getattr(m, "ticker", None) == T0 and type(m).__name__ == "OrderbookDelta")
        levels = {lv.price: lv.count for lv in s.book(T0).yes}
        assert levels[Decimal("0.11")] >= Decimal("7")
        client.cancel_order(created.order_id)
        _ = TickerUpdate

    def test_lifecycle_and_order_groups(self, stream, client, sim):
        """Order group and market lifecycle events arrive typed."""
        s, c = stream
        s.subscribe(["order_group_updates", "market_lifecycle_v2"])
        c.wait_msg(lambda m: isinstance(m, Subscribed))
        c.wait_msg(lambda m: isinstance(m, Subscribed))
        gid = client.create_order_group(Decimal(5))
        c.wait_msg(lambda m: isinstance(m, OrderGroupUpdate) and m.order_group_id == gid)
        sim.exchange.pause_market(DEFAULT_TICKERS[3])
        sim.exchange.resume_market(DEFAULT_TICKERS[3])
        c.wait_msg(lambda m: isinstance(m, MarketLifecycle) and m.ticker == DEFAULT_TICKERS[3])
        client.delete_order_group(gid)

    def test_forced_disconnect_reconnects_and_resubscribes(self, stream, sim, client):
        """After the simulator drops every connection the stream says RECONNECTED and fills flow again."""
        s, c = stream
        s.subscribe(["fill"])
        c.wait_msg(lambda m: isinstance(m, Subscribed))
        sim.ctx.hub.disconnect_all()
        c.wait_event(StreamEvent.RECONNECTED)
        c.wait_msg(lambda m: isinstance(m, Subscribed))
        created = client.create_order(take(T1, "1"))
        c.wait_msg(lambda m: isinstance(m, StreamFill) and m.order_id == created.order_id)
