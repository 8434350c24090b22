"""Batches (one item refused by the exchange, an ambiguous batch) and the start-up resolution of non-final
ledger orders against the exchange (docs/architecture.md §6: orders left open across a restart)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from kalshi_guard.actors.messages import ResolveOpenOrders
from kalshi_guard.config.endpoints import make_client
from kalshi_guard.exchange.wire import BookSide, CreateOrderRequest, TimeInForce
from kalshi_guard.ledger import OrderStatus
from kalshi_guard.simulator.markets import DEFAULT_TICKERS

T0, T1 = DEFAULT_TICKERS[0], DEFAULT_TICKERS[1]
FAST = {"confirm_timeout_s": 3, "poll_interval_s": 0.2}


def _ioc(ticker: str) -> dict[str, str]:
    return {"ticker": ticker, "outcome": "yes", "action": "buy", "count": "2", "price": "0.99",
            "time_in_force": "ioc"}


class TestBatch:
    def test_one_item_rejected_by_the_exchange(self, pipeline_factory) -> None:
        """In one batch request the item for a paused market is REJECTED and the other fills; one batch id."""
        p = pipeline_factory(**FAST)
        warm = p.trading.place_and_confirm(T1, "yes", "buy", "1000", "0.10", "gtc", wait_s=10)
        assert warm.status.value == "REJECTED"  # pre-trade: caches T1's facts, writes nothing
        p.sim.exchange.pause_market(T1)
        ok, refused = p.trading.place_batch_and_confirm([_ioc(T0), _ioc(T1)], wait_s=20)
        assert ok.status.value == "FILLED", ok
        assert refused.status.value == "REJECTED", refused
        assert refused.reason == "trading_is_paused"
        a, b = p.ledger.get_order(ok.client_order_id), p.ledger.get_order(refused.client_order_id)
        assert a.batch_id is not None
        assert a.batch_id == b.batch_id
        p.wait_status(ok.client_order_id, "FILLED")
        assert b.status is OrderStatus.REJECTED
        assert p.exchange_orders_for(refused.client_order_id) == []
        p.assert_matches_exchange()

    def test_ambiguous_batch_resolves_each_order_once(self, pipeline_factory) -> None:
        """A batch request that times out after the exchange accepted it: each order found and booked once."""
        p = pipeline_factory(exchange={"request_timeout_s": 0.5}, **FAST)
        p.faults(timeout_after_accept={"batch_create": 1}, timeout_hold_s=1.0)
        confs = p.trading.place_batch_and_confirm([_ioc(T0), _ioc(T1)], wait_s=20)
        assert [c.status.value for c in confs] == ["FILLED", "FILLED"], confs
        for c in confs:
            assert len(p.exchange_orders_for(c.client_order_id)) == 1
            p.wait_status(c.client_order_id, "FILLED")
        p.assert_matches_exchange()


def _intent(p, coid: str, count: str, price: str, tif: str = "good_till_canceled") -> None:
    p.ledger.insert_intent(client_order_id=coid, ticker=T0, event_ticker=None, book_side="bid", outcome="yes",
                           action="buy", count=Decimal(count), price=Decimal(price), time_in_force=tif)


class TestStartupResolution:
    def test_every_non_final_status_is_settled_from_the_exchange(self, pipeline_factory) -> None:
        """Orders a previous run left INTENT / SENT / RESTING / PARTIAL / UNKNOWN are settled: resting ones
        cancelled, fills booked, the missing one REJECTED; an activity row records it; ledger = exchange."""
        p = pipeline_factory(**FAST)
        ids = {name: str(uuid.uuid4()) for name in ("intent_filled", "sent_resting", "resting_partial",
                                                      "partial_filled", "unknown_missing", "unknown_resting")}
        with make_client(p.settings.exchange, p.sim.private_key) as c:
            def create(coid: str, count: str, price: str, tif: TimeInForce) -> str:
                return c.create_order(CreateOrderRequest(T0, BookSide.BID, Decimal(count), Decimal(price),
                                                         client_order_id=coid, time_in_force=tif)).order_id

            gtc, ioc = TimeInForce.GOOD_TILL_CANCELED, TimeInForce.IMMEDIATE_OR_CANCEL
            # crashed after the send, before the response: the ledger says INTENT, the IOC filled
            _intent(p, ids["intent_filled"], "2", "0.99", "immediate_or_cancel")
            create(ids["intent_filled"], "2", "0.99", ioc)
            # SENT, still resting untouched
            _intent(p, ids["sent_resting"], "5", "0.10")
            oid = create(ids["sent_resting"], "5", "0.10", gtc)
            p.ledger.transition(ids["sent_resting"], OrderStatus.SENT, order_id=oid)
            # RESTING in the ledger, 3 of 10 filled by a stranger while we were down
            _intent(p, ids["resting_partial"], "10", "0.11")
            oid = create(ids["resting_partial"], "10", "0.11", gtc)
            p.ledger.transition(ids["resting_partial"], OrderStatus.RESTING, order_id=oid)
            p.counterparty(oid, 3)
            # PARTIAL in the ledger (no fill booked yet), fully filled since
            _intent(p, ids["partial_filled"], "4", "0.12")
            oid = create(ids["partial_filled"], "4", "0.12", gtc)
            p.ledger.transition(ids["partial_filled"], OrderStatus.PARTIAL, order_id=oid)
            p.counterparty(oid, 4)
            # UNKNOWN and never landed
            _intent(p, ids["unknown_missing"], "1", "0.10")
            p.ledger.transition(ids["unknown_missing"], OrderStatus.UNKNOWN, reason="ambiguous: test")
            # UNKNOWN but resting (found by client_order_id)
            _intent(p, ids["unknown_resting"], "1", "0.13")
            create(ids["unknown_resting"], "1", "0.13", gtc)
            p.ledger.transition(ids["unknown_resting"], OrderStatus.UNKNOWN, reason="ambiguous: test")

        # the stream may book a stranger's fill on a known, untracked order first (partial_filled): fine
        summary = p.sup.peers["fill_watcher"].ask(ResolveOpenOrders("test start-up"), timeout=30)
        assert "open orders resolved" in summary
        final = {name: p.status(coid) for name, coid in ids.items()}
        assert final == {"intent_filled": "FILLED", "sent_resting": "CANCELED", "resting_partial": "CANCELED",
                         "partial_filled": "FILLED", "unknown_missing": "REJECTED", "unknown_resting": "CANCELED"}
        assert p.ledger.get_order(ids["resting_partial"]).filled_count == 3
        assert not [o for o in p.exchange_orders() if o.status.value == "resting"]
        assert p.ledger.non_final_orders() == []
        [row] = p.ledger.activity("STARTUP_RESOLUTION")
        assert row.level == "WARNING"
        assert {ids["unknown_missing"], ids["sent_resting"]} <= {line.split(":")[0] for line in row.details["orders"]}
        p.assert_matches_exchange()

    def test_nothing_open_is_an_info_row(self, pipeline_factory) -> None:
        """With nothing open the resolution sends nothing and still writes its activity row."""
        p = pipeline_factory(**FAST)
        summary = p.sup.peers["fill_watcher"].ask(ResolveOpenOrders("test"), timeout=30)
        assert summary.startswith("0 open orders resolved")
        [row] = p.ledger.activity("STARTUP_RESOLUTION")
        assert row.level == "INFO"
        assert p.sim.exchange.created_order_count() == 0

    def test_unlisted_order_with_unattributable_fills_stays_unknown_and_halts(self, pipeline_factory) -> None:
        """An IOC the orders listing no longer shows, while fills of no known order exist in its market, is
        never REJECTED: it stays UNKNOWN (its market blocked) and the fills are reported as orphans, which
        halts trading (nautilus_trader#3870; freqtrade's start-up 'assume cancelled' finding). REST fills
        carry no client_order_id since 2026-03-30, so guessing them ours could book a stranger's trade."""
        p = pipeline_factory(**FAST)
        coid = str(uuid.uuid4())
        p.faults(stream_drop_rate=1.0, unlisted=[coid])
        _intent(p, coid, "2", "0.99", "immediate_or_cancel")
        with make_client(p.settings.exchange, p.sim.private_key) as c:
            c.create_order(CreateOrderRequest(T0, BookSide.BID, Decimal(2), Decimal("0.99"), client_order_id=coid,
                                              time_in_force=TimeInForce.IMMEDIATE_OR_CANCEL))
        p.sup.peers["fill_watcher"].ask(ResolveOpenOrders("test start-up"), timeout=30)
        assert p.status(coid) == "UNKNOWN"
        assert p.ledger.get_order(coid).filled_count == 0, "nothing guessed"
        rows = p.wait(lambda: p.ledger.activity("KILL_SWITCH", limit=5), what="the orphan halting trading")
        assert p.gate.state.value == "HALTED"
        assert "orphan" in rows[0].message
