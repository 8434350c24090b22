"""Tests for write-ahead orders and the order lifecycle transitions."""

from __future__ import annotations

import itertools
import threading
from decimal import Decimal

import pytest

from kalshi_guard.core.errors import LedgerError
from kalshi_guard.ledger import OrderStatus
from kalshi_guard.ledger.orders import ALLOWED, can_transition

S = OrderStatus


def intent(ledger, coid="c1", **kw):
    args = dict(client_order_id=coid, ticker="KXA-26-T1", event_ticker="KXA-26", book_side="bid",
                outcome="yes", action="buy", count=Decimal("10"), price=Decimal("0.4200"),
                time_in_force="good_till_canceled", reference_price=Decimal("0.41"), intent="opening")
    args.update(kw)
    return ledger.insert_intent(**args)


def walk(ledger, coid, *path):
    rec = None
    for st in path:
        rec = ledger.transition(coid, st)
    return rec


# Every allowed edge, reached from INTENT by the shortest allowed prefix.
PREFIX = {S.INTENT: (), S.SENT: (S.SENT,), S.RESTING: (S.SENT, S.RESTING), S.UNKNOWN: (S.SENT, S.UNKNOWN),
          S.PARTIAL: (S.SENT, S.PARTIAL)}
EDGES = [(a, b) for a, targets in ALLOWED.items() for b in sorted(targets)]
ILLEGAL = [(a, b) for a, b in itertools.product(PREFIX, S) if a is not b and b not in ALLOWED[a]]


class TestInsertIntent:
    def test_writes_intent(self, ledger, clock):
        """insert_intent stores every field with status INTENT and nothing filled."""
        rec = intent(ledger, batch_id="b1")
        assert rec.status is S.INTENT
        assert (rec.count, rec.price, rec.reference_price) == (Decimal(10), Decimal("0.42"), Decimal("0.41"))
        assert (rec.filled_count, rec.open_count, rec.order_id, rec.batch_id) == (0, 10, None, "b1")
        assert rec.created_at == clock.t
        assert ledger.get_order("c1") == rec
        assert ledger.orders(batch_id="b1") == [rec]

    def test_duplicate_client_order_id_refused(self, ledger):
        """A second intent with the same client_order_id raises LedgerError and changes nothing."""
        first = intent(ledger)
        with pytest.raises(LedgerError, match="duplicate"):
            intent(ledger, count=Decimal(99))
        assert ledger.get_order("c1") == first

    def test_duplicate_leaves_no_event_and_racing_duplicates_write_one(self, ledger):
        """A refused duplicate (ON CONFLICT) writes no audit row, and of 6 racing same-id intents exactly 1 wins."""
        intent(ledger)
        with pytest.raises(LedgerError, match="duplicate"):
            intent(ledger)
        assert ledger.order_history("c1") == [(None, S.INTENT, "intent written")]
        barrier, outcomes = threading.Barrier(6), []

        def racer() -> None:
            barrier.wait(timeout=10)
            try:
                intent(ledger, "race")
                outcomes.append("won")
            except LedgerError as exc:
                outcomes.append(str(exc))

        threads = [threading.Thread(target=racer) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert sorted(outcomes)[-1] == "won"
        assert outcomes.count("won") == 1
        assert all("duplicate" in o for o in outcomes if o != "won")
        assert len(ledger.order_history("race")) == 1

    @pytest.mark.parametrize("bad", [{"count": Decimal(0)}, {"price": Decimal("1.5")}, {"book_side": "yes"},
                                     {"action": "hold"}, {"intent": "gamble"}, {"count": Decimal("0.001")},
                                     {"price": 0.42}])
    def test_invalid_fields_refused(self, ledger, bad):
        """Invalid counts, prices, sides, actions or intents raise LedgerError and write nothing."""
        with pytest.raises(LedgerError):
            intent(ledger, **bad)
        assert ledger.orders() == []


def fields(coid, **kw):
    args = dict(client_order_id=coid, ticker="KXA-26-T1", event_ticker="KXA-26", book_side="bid", outcome="yes",
                action="buy", count=Decimal("2"), price=Decimal("0.4200"), time_in_force="immediate_or_cancel",
                batch_id="b7")
    args.update(kw)
    return args


class TestInsertIntents:
    def test_writes_every_intent_of_a_batch(self, ledger, clock):
        """insert_intents writes each order as INTENT with its own history row and returns the records in order."""
        recs = ledger.insert_intents([fields("a"), fields("b", book_side="ask", count=Decimal(3))])
        assert [r.client_order_id for r in recs] == ["a", "b"]
        assert [ledger.get_order(c) for c in ("a", "b")] == recs
        assert (recs[1].book_side, recs[1].count, recs[1].status, recs[1].created_at) == ("ask", 3, S.INTENT, clock.t)
        assert ledger.order_history("b") == [(None, S.INTENT, "intent written")]
        assert sorted(r.client_order_id for r in ledger.orders(batch_id="b7")) == ["a", "b"]

    def test_a_used_client_order_id_is_none_and_the_others_are_written(self, ledger):
        """An order whose id was used before (here: earlier, and twice in the same batch) comes back None and is
        not written again; the rest of the batch is."""
        first = intent(ledger, "used")
        recs = ledger.insert_intents([fields("used"), fields("new"), fields("new")])
        assert recs[0] is None
        assert recs[1] is not None
        assert recs[2] is None
        assert ledger.get_order("used") == first
        assert len(ledger.order_history("new")) == 1

    def test_an_invalid_field_writes_nothing(self, ledger):
        """One order with an invalid field: LedgerError and no order of the batch written."""
        with pytest.raises(LedgerError, match="count"):
            ledger.insert_intents([fields("ok"), fields("bad", count=Decimal(0))])
        assert ledger.orders() == []


class TestTransitions:
    @pytest.mark.parametrize(("old", "new"), EDGES, ids=[f"{a}->{b}" for a, b in EDGES])
    def test_allowed(self, ledger, old, new):
        """Every transition in the table is accepted and recorded in the order's history."""
        intent(ledger)
        walk(ledger, "c1", *PREFIX[old])
        rec = ledger.transition("c1", new, reason="because")
        assert rec.status is new
        assert ledger.order_history("c1")[-1] == (old, new, "because")

    @pytest.mark.parametrize(("old", "new"), ILLEGAL, ids=[f"{a}->{b}" for a, b in ILLEGAL])
    def test_illegal(self, ledger, old, new):
        """A transition outside the table raises LedgerError and leaves the order as it was."""
        intent(ledger)
        before = walk(ledger, "c1", *PREFIX[old]) or ledger.get_order("c1")
        with pytest.raises(LedgerError, match="illegal"):
            ledger.transition("c1", new)
        assert ledger.get_order("c1") == before

    @pytest.mark.parametrize("final", [S.FILLED, S.CANCELED, S.REJECTED])
    def test_final_states_are_final(self, ledger, final):
        """Nothing leaves a final state; CANCELED -> FILLED in particular is refused."""
        intent(ledger)
        walk(ledger, "c1", S.SENT, final)
        for new in S:
            if new is not final:
                assert not can_transition(final, new)
                with pytest.raises(LedgerError):
                    ledger.transition("c1", new)

    def test_same_status_updates_counts(self, ledger):
        """A same-status transition records the exchange id and reported counts without a history row."""
        intent(ledger)
        ledger.transition("c1", S.SENT)
        rec = ledger.transition("c1", S.RESTING, order_id="ex-1")
        rec = ledger.transition("c1", S.RESTING, filled_count=Decimal(0), remaining_count=Decimal(10))
        assert (rec.order_id, rec.reported_filled_count, rec.remaining_count) == ("ex-1", 0, 10)
        assert ledger.get_order_by_exchange_id("ex-1") == rec
        assert [h[1] for h in ledger.order_history("c1")] == [S.INTENT, S.SENT, S.RESTING]

    def test_exchange_id_cannot_change(self, ledger):
        """Giving an order a different exchange id than it already has raises LedgerError."""
        intent(ledger)
        ledger.transition("c1", S.SENT, order_id="ex-1")
        with pytest.raises(LedgerError, match="already has"):
            ledger.transition("c1", S.RESTING, order_id="ex-2")
        assert ledger.get_order("c1").status is S.SENT

    def test_unknown_order(self, ledger):
        """Transitioning an order the ledger never saw raises LedgerError."""
        with pytest.raises(LedgerError, match="no order"):
            ledger.transition("nope", S.SENT)


class TestQueries:
    def test_non_final_and_status_filter(self, ledger):
        """non_final_orders lists exactly the orders not FILLED, CANCELED or REJECTED, oldest first."""
        for i, path in enumerate([(), (S.SENT, S.UNKNOWN), (S.SENT, S.FILLED), (S.SENT, S.REJECTED),
                                  (S.SENT, S.RESTING)]):
            intent(ledger, f"c{i}")
            walk(ledger, f"c{i}", *path)
        assert [o.client_order_id for o in ledger.non_final_orders()] == ["c0", "c1", "c4"]
        assert [o.client_order_id for o in ledger.orders([S.FILLED, S.REJECTED])] == ["c2", "c3"]
        assert ledger.get_order("missing") is None
        assert ledger.get_order_by_exchange_id("missing") is None
        assert ledger.orders([]) == []

    def test_hot_path_records_match_the_orm_view(self, ledger, clock):
        """Records returned by the hot-path writes equal what the ORM-mapped rows say after a reload."""
        from kalshi_guard.ledger.orders import to_record
        from kalshi_guard.ledger.schema import OrderRow

        rec = intent(ledger, reference_price=None, batch_id=None, event_ticker=None)
        clock.advance(1.234567)
        rec = ledger.transition("c1", S.RESTING, order_id="ex-1", reason="accepted", filled_count=Decimal("0.5"),
                                remaining_count=Decimal("9.5"))
        with ledger._read("reload") as s:
            assert to_record(s.query(OrderRow).filter_by(client_order_id="c1").one()) == rec
        assert ledger.get_order("c1") == rec == ledger.orders()[0]
        assert rec.updated_at == clock.t
        assert rec.created_at == pytest.approx(clock.t - 1.234567, abs=1e-6)


class TestListing:
    def test_newest_first_with_a_limit_gives_the_latest_orders(self, ledger):
        """``newest_first`` orders by insertion, descending, and ``limit`` keeps the newest."""
        for n in range(5):
            ledger.insert_intent(client_order_id=f"list-{n}", ticker="KX-L", event_ticker="KX", book_side="bid",
                                 outcome="yes", action="buy", count=Decimal("1"), price=Decimal("0.5"),
                                 time_in_force="gtc")
        newest = ledger.orders(limit=2, newest_first=True)
        assert [o.client_order_id for o in newest] == ["list-4", "list-3"]
        assert [o.client_order_id for o in ledger.orders(limit=2)] == ["list-0", "list-1"]
