"""Generated corpora of planted discrepancies (hypothesis): whatever mix of trades by the daemon, trades and
closes outside it, lost fill messages, orders by a second client, settlements and passes in between, one
more pass leaves the ledger agreeing with the exchange — positions, fills by trade_id, resting orders —
and a pass after that finds nothing and books nothing."""

from __future__ import annotations

import tempfile
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kalshi_guard.simulator.accounts import DEFAULT_ACCOUNT
from kalshi_guard.simulator.testing import ORDERS, SignedClient, order_body, running_simulator
from kalshi_guard.simulator.wire import ApiError
from tests.actors.reconcile_rig import T0, T1, T2, Rig, settings_with

TICKERS = st.sampled_from([T0, T1, T2])
SIDE = st.sampled_from(["yes", "no"])
COUNT = st.integers(1, 9).map(str)
PRICE = st.sampled_from(["0.20", "0.45", "0.70"])
OPS = st.lists(st.one_of(
    st.tuples(st.just("daemon"), TICKERS, SIDE, COUNT, PRICE),
    st.tuples(st.just("lost"), TICKERS, SIDE, COUNT, PRICE),
    st.tuples(st.just("external"), TICKERS, SIDE, COUNT, PRICE),
    st.tuples(st.just("close"), TICKERS),
    st.tuples(st.just("order"), TICKERS),
    st.tuples(st.just("settle"), TICKERS, SIDE),
    st.tuples(st.just("pass")),
), min_size=1, max_size=10)


def apply(rig: Rig, sim, op: tuple) -> None:
    kind, *args = op
    try:
        if kind in ("daemon", "lost"):
            rig.daemon_trade(*args, book=kind == "daemon")
        elif kind == "external":
            sim.exchange.external_trade(*args)
        elif kind == "close":
            sim.exchange.external_close(args[0])
        elif kind == "order":
            with SignedClient(sim) as other:
                other.post(ORDERS, order_body(args[0], "bid", "1.00", "0.02", client_order_id=str(uuid.uuid4())))
        elif kind == "settle":
            sim.exchange.settle(args[0], args[1])
        else:
            assert rig.reconcile("between").ok
    except (ApiError, ValueError):
        pass  # a closed or settled market refuses: nothing happened


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS)
def test_after_a_pass_the_ledger_agrees_with_the_exchange(ops: list[tuple]) -> None:
    with running_simulator() as sim, tempfile.TemporaryDirectory() as tmp:
        # alert only: a trip's cancel-all would change the exchange between the last two passes
        quiet = settings_with({"actions": {"orphan_fill": "alert", "orphan_order": "alert", "mismatch": "alert"}})
        rig = Rig(sim, f"sqlite:///{tmp}/ledger.sqlite", quiet, timeout=10.0)
        try:
            for op in ops:
                apply(rig, sim, op)
            final = rig.reconcile("final")
            assert final.ok
            assert rig.ledger_positions() == rig.exchange_positions()
            acct = sim.exchange.account(DEFAULT_ACCOUNT)
            assert rig.ledger.booked_trade_ids(f.fill_id for f in acct.fills) == {f.fill_id for f in acct.fills}
            resting = [o.order_id for o in sim.exchange.orders.values()
                       if o.account == DEFAULT_ACCOUNT and o.status.value == "resting"]
            assert set(rig.ledger.known_orders(resting, [])) >= set(resting)
            assert not [d for d in final.report["discrepancies"] if d["kind"] == "mismatch"]
            dump = rig.dump()
            again = rig.reconcile("after")
            assert again.clean
            assert again.report["discrepancies"] == []
            assert rig.dump() == dump
        finally:
            rig.stop()
