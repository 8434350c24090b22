"""Tests of the per-order confirmation state machine (actors.confirmation.OrderTracker)."""

from __future__ import annotations

import random
from decimal import Decimal
from fractions import Fraction

import pytest

from kalshi_guard.actors.confirmation import (
    Ambiguous,
    BookFill,
    CancelOutcome,
    CancelRequested,
    CancelResult,
    ExchangeStatus,
    FillSeen,
    Finish,
    FlagDiscrepancy,
    OrderSnapshot,
    OrderTracker,
    OrderUpdate,
    ReadBack,
    ReadBackOrderAndFills,
    Rejected,
    RequestCancel,
    ResolveUnknown,
    RetrySend,
    Sending,
    Sent,
    StreamStale,
    TimeoutReached,
    TrackerState,
)
from kalshi_guard.actors.orders_api import ConfirmationStatus, parse_order_request

D = Decimal
S = TrackerState


def make(count="100", tif="gtc", outcome="yes", action="buy", price="0.50", ref=None) -> OrderTracker:
    body = {"ticker": "KX-A", "outcome": outcome, "action": action, "count": count, "price": price,
            "time_in_force": tif}
    if ref is not None:
        body["reference_price"] = ref
    return OrderTracker(parse_order_request(body), "cid-1", D("0.80"), created_ts=100.0)


def fill(tid: str, count, yes_price="0.50", fee="0.0100", ts=101.0, order_id="o1") -> FillSeen:
    return FillSeen(tid, D(count), D(yes_price), D(fee), ts, order_id)


def snap(status: str, filled, remaining="0", order_id="o1") -> OrderSnapshot:
    return OrderSnapshot(order_id, ExchangeStatus(status), D(filled), D(remaining), "cid-1")


def names(actions) -> list[str]:
    return [type(a).__name__ for a in actions]


def feed(t: OrderTracker, events) -> list:
    out = []
    for ev in events:
        out += t.handle(ev)
    return out


def finish_of(actions) -> Finish:
    found = [a for a in actions if isinstance(a, Finish)]
    assert found, f"no Finish in {names(actions)}"
    return found[-1]


SENT = [Sending(100.1)]
RESTING = [*SENT, Sent("o1", D(0), D(100), 100.2)]
PARTIAL = [*RESTING, fill("p1", "10")]
UNKNOWN = [*SENT, Ambiguous("read timeout", 100.5)]
CANCEL_PENDING = [*RESTING, CancelRequested(101.0)]
READING_BACK = [*CANCEL_PENDING, CancelResult(CancelOutcome.NOT_FOUND, 101.5)]
AWAITING = [*RESTING, OrderUpdate(ExchangeStatus.CANCELED, D(10), D(0), 101.0)]
FILLED = [*RESTING, fill("f1", "100")]
CANCELED = [*READING_BACK, ReadBack(snap("canceled", "0"), (), 102.0)]
REJECTED = [*SENT, Rejected("invalid_order", 100.3)]

PREFIX = {
    "INTENT": [], "SENT": SENT, "RESTING": RESTING, "PARTIAL": PARTIAL, "UNKNOWN": UNKNOWN,
    "CANCEL_PENDING": CANCEL_PENDING, "READING_BACK": READING_BACK, "AWAITING_FILLS": AWAITING,
    "FILLED": FILLED, "CANCELED": CANCELED, "REJECTED": REJECTED,
}

# (start state, event, next state, action kinds)
TRANSITIONS = [
    ("INTENT", Sending(100.1), S.SENT, []),
    ("INTENT", Sent("o1", D(0), D(100), 100.2), S.RESTING, []),
    ("INTENT", Ambiguous("reset", 100.2), S.UNKNOWN, ["ResolveUnknown"]),
    ("INTENT", Rejected("GATE_CLOSED", 100.2), S.REJECTED, ["Finish"]),
    ("INTENT", fill("x", "10"), S.INTENT, ["BookFill"]),
    ("INTENT", TimeoutReached(160.0), S.INTENT, []),
    ("SENT", Sent("o1", D(0), D(100), 100.2), S.RESTING, []),
    ("SENT", Sent("o1", D(30), D(70), 100.2), S.PARTIAL, []),
    ("SENT", Sent("o1", D(100), D(0), 100.2), S.AWAITING_FILLS, []),
    ("SENT", Ambiguous("timeout", 100.2), S.UNKNOWN, ["ResolveUnknown"]),
    ("SENT", Rejected("order_already_exists", 100.2), S.UNKNOWN, ["ResolveUnknown"]),
    ("SENT", Rejected("invalid_order", 100.2), S.REJECTED, ["Finish"]),
    ("SENT", CancelRequested(100.2), S.SENT, []),
    ("SENT", fill("x", "10"), S.SENT, ["BookFill"]),
    ("RESTING", fill("x", "10"), S.PARTIAL, ["BookFill"]),
    ("RESTING", fill("x", "80"), S.CANCEL_PENDING, ["BookFill", "RequestCancel"]),
    ("RESTING", fill("x", "100"), S.FILLED, ["BookFill", "Finish"]),
    ("RESTING", OrderUpdate(ExchangeStatus.RESTING, D(0), D(100), 101.0), S.RESTING, []),
    ("RESTING", OrderUpdate(ExchangeStatus.RESTING, D(85), D(15), 101.0), S.CANCEL_PENDING, ["RequestCancel"]),
    ("RESTING", OrderUpdate(ExchangeStatus.CANCELED, D(0), D(0), 101.0), S.CANCELED, ["Finish"]),
    ("RESTING", OrderUpdate(ExchangeStatus.EXECUTED, D(100), D(0), 101.0), S.AWAITING_FILLS, []),
    ("RESTING", OrderUpdate(ExchangeStatus.UNKNOWN, D(0), D(0), 101.0), S.RESTING, []),
    ("RESTING", CancelRequested(101.0), S.CANCEL_PENDING, ["RequestCancel"]),
    ("RESTING", TimeoutReached(160.0), S.CANCEL_PENDING, ["RequestCancel"]),
    ("RESTING", StreamStale(120.0), S.RESTING, ["ReadBackOrderAndFills"]),
    ("RESTING", ReadBack(snap("resting", "10", "90"), (fill("x", "10"),), 120.0), S.PARTIAL, ["BookFill"]),
    ("RESTING", ReadBack(snap("executed", "100"), (fill("x", "100"),), 120.0), S.FILLED, ["BookFill", "Finish"]),
    ("RESTING", CancelResult(CancelOutcome.OK, 120.0, D(100)), S.RESTING, []),
    ("PARTIAL", fill("y", "70"), S.CANCEL_PENDING, ["BookFill", "RequestCancel"]),
    ("PARTIAL", fill("y", "90"), S.FILLED, ["BookFill", "Finish"]),
    ("PARTIAL", fill("p1", "10"), S.PARTIAL, []),
    ("PARTIAL", TimeoutReached(160.0), S.CANCEL_PENDING, ["RequestCancel"]),
    ("PARTIAL", CancelRequested(101.0), S.CANCEL_PENDING, ["RequestCancel"]),
    ("PARTIAL", OrderUpdate(ExchangeStatus.CANCELED, D(10), D(0), 101.0), S.CANCELED, ["Finish"]),
    ("PARTIAL", StreamStale(120.0), S.PARTIAL, ["ReadBackOrderAndFills"]),
    ("UNKNOWN", fill("x", "10"), S.PARTIAL, ["BookFill", "ReadBackOrderAndFills"]),
    ("UNKNOWN", fill("x", "100"), S.FILLED, ["BookFill", "Finish"]),
    ("UNKNOWN", ReadBack(snap("resting", "0", "100"), (), 101.0), S.RESTING, []),
    ("UNKNOWN", ReadBack(snap("executed", "100"), (fill("x", "100"),), 101.0), S.FILLED, ["BookFill", "Finish"]),
    ("UNKNOWN", ReadBack(snap("canceled", "0"), (), 101.0), S.CANCELED, ["Finish"]),
    ("UNKNOWN", ReadBack(None, (), 101.0), S.UNKNOWN, ["RetrySend"]),
    ("UNKNOWN", Sent("o1", D(0), D(100), 101.0), S.RESTING, []),
    ("UNKNOWN", Rejected("order_already_exists", 101.0), S.UNKNOWN, ["ResolveUnknown"]),
    ("UNKNOWN", Rejected("available_balance_too_low", 101.0), S.UNKNOWN, ["ResolveUnknown"]),
    ("UNKNOWN", Ambiguous("again", 101.0), S.UNKNOWN, ["ResolveUnknown"]),
    ("UNKNOWN", TimeoutReached(160.0), S.UNKNOWN, ["Finish", "ResolveUnknown"]),
    ("UNKNOWN", StreamStale(120.0), S.UNKNOWN, ["ResolveUnknown"]),
    ("UNKNOWN", OrderUpdate(ExchangeStatus.RESTING, D(0), D(100), 101.0, "o1"), S.RESTING, []),
    ("UNKNOWN", CancelRequested(101.0), S.UNKNOWN, []),
    ("CANCEL_PENDING", CancelResult(CancelOutcome.OK, 102.0, D(100)), S.READING_BACK, ["ReadBackOrderAndFills"]),
    ("CANCEL_PENDING", CancelResult(CancelOutcome.NOT_FOUND, 102.0), S.READING_BACK, ["ReadBackOrderAndFills"]),
    ("CANCEL_PENDING", CancelResult(CancelOutcome.AMBIGUOUS, 102.0), S.READING_BACK, ["ReadBackOrderAndFills"]),
    ("CANCEL_PENDING", fill("x", "10"), S.CANCEL_PENDING, ["BookFill"]),
    ("CANCEL_PENDING", fill("x", "100"), S.FILLED, ["BookFill", "Finish"]),
    ("CANCEL_PENDING", TimeoutReached(160.0), S.CANCEL_PENDING, []),
    ("CANCEL_PENDING", OrderUpdate(ExchangeStatus.CANCELED, D(0), D(0), 102.0), S.CANCELED, ["Finish"]),
    ("READING_BACK", ReadBack(snap("canceled", "0"), (), 102.0), S.CANCELED, ["Finish"]),
    ("READING_BACK", ReadBack(snap("executed", "100"), (fill("x", "100"),), 102.0), S.FILLED,
     ["BookFill", "Finish"]),
    ("READING_BACK", ReadBack(snap("executed", "100"), (), 102.0), S.READING_BACK, ["ReadBackOrderAndFills"]),
    ("READING_BACK", ReadBack(snap("resting", "0", "100"), (), 102.0), S.CANCEL_PENDING, ["RequestCancel"]),
    ("READING_BACK", ReadBack(None, (), 102.0), S.READING_BACK, ["ReadBackOrderAndFills"]),
    ("READING_BACK", TimeoutReached(160.0), S.READING_BACK, ["ReadBackOrderAndFills"]),
    ("READING_BACK", fill("x", "100"), S.FILLED, ["BookFill", "Finish"]),
    ("AWAITING_FILLS", fill("x", "10"), S.CANCELED, ["BookFill", "Finish"]),
    ("AWAITING_FILLS", fill("x", "5"), S.AWAITING_FILLS, ["BookFill"]),
    ("AWAITING_FILLS", StreamStale(120.0), S.AWAITING_FILLS, ["ReadBackOrderAndFills"]),
    ("AWAITING_FILLS", TimeoutReached(160.0), S.READING_BACK, ["ReadBackOrderAndFills"]),
    ("AWAITING_FILLS", CancelRequested(101.0), S.AWAITING_FILLS, []),
    ("FILLED", fill("f1", "100"), S.FILLED, []),
    ("FILLED", fill("extra", "1"), S.FILLED, ["FlagDiscrepancy"]),
    ("FILLED", TimeoutReached(160.0), S.FILLED, []),
    ("CANCELED", fill("late", "5"), S.CANCELED, ["BookFill", "FlagDiscrepancy"]),
    ("CANCELED", CancelResult(CancelOutcome.OK, 103.0, D(0)), S.CANCELED, []),
    ("REJECTED", Sent("o1", D(0), D(100), 101.0), S.REJECTED, []),
    ("REJECTED", TimeoutReached(160.0), S.REJECTED, []),
]


class TestTransitionTable:
    @pytest.mark.parametrize(
        ("start", "event", "after", "actions"), TRANSITIONS,
        ids=[f"{s}-{type(e).__name__}-{i}" for i, (s, e, _, _) in enumerate(TRANSITIONS)],
    )
    def test_transition(self, start, event, after, actions):
        """Each (state, event) pair leads to the tabled state and emits exactly the tabled actions."""
        t = make()
        feed(t, PREFIX[start])
        assert t.state.value == start
        got = t.handle(event)
        assert (t.state, names(got)) == (after, actions)

    def test_every_state_is_covered(self):
        """The table starts from every tracker state at least once."""
        assert {row[0] for row in TRANSITIONS} == {s.value for s in TrackerState}


class TestThreshold:
    @pytest.mark.parametrize(("filled", "accepted"), [("79", False), ("80", True), ("81", True)])
    def test_partial_fill_threshold(self, filled, accepted):
        """With threshold 0.80 on 100 contracts, 79 keeps waiting while 80 and 81 cancel the rest."""
        t = make()
        feed(t, RESTING)
        got = t.handle(fill("a", filled))
        assert any(isinstance(a, RequestCancel) for a in got) is accepted
        if not accepted:
            assert t.state is S.PARTIAL
            return
        got = feed(t, [CancelResult(CancelOutcome.OK, 102.0, D(100) - D(filled)),
                       ReadBack(snap("canceled", filled), (fill("a", filled),), 103.0)])
        conf = finish_of(got).confirmation
        assert conf.status is ConfirmationStatus.PARTIAL
        assert (conf.filled_count, conf.unfilled_count, conf.remaining_count) == (D(filled), D(100) - D(filled), 0)
        assert conf.reason == "ACCEPTED_AT_THRESHOLD"

    def test_threshold_on_accumulated_fills(self):
        """Many small fills that together reach the threshold trigger the cancel of the rest."""
        t = make()
        feed(t, RESTING)
        cancels = [a for i in range(80) for a in t.handle(fill(f"t{i}", "1")) if isinstance(a, RequestCancel)]
        assert len(cancels) == 1

    def test_threshold_met_just_before_full_fill_reports_filled(self):
        """When the remainder fills while the acceptance cancel is in flight the order is FILLED."""
        t = make()
        feed(t, [*RESTING, fill("a", "85")])
        got = t.handle(fill("b", "15"))
        assert finish_of(got).confirmation.status is ConfirmationStatus.FILLED
        assert t.handle(CancelResult(CancelOutcome.NOT_FOUND, 103.0)) == []


class TestTimeout:
    def test_timeout_cancels_rereads_and_books(self):
        """At the timeout the remainder is cancelled, order and fills re-read, and what filled is booked."""
        t = make()
        feed(t, [*RESTING, fill("a", "30")])
        got = t.handle(TimeoutReached(160.0))
        assert names(got) == ["RequestCancel"]
        got = t.handle(CancelResult(CancelOutcome.OK, 160.5, D(60)))
        assert names(got) == ["ReadBackOrderAndFills"]
        got = t.handle(ReadBack(snap("canceled", "40"), (fill("a", "30"), fill("b", "10")), 161.0))
        assert names(got) == ["BookFill", "Finish"]
        conf = finish_of(got).confirmation
        assert (conf.status, conf.filled_count) == (ConfirmationStatus.TIMEOUT, D(40))

    def test_fill_racing_timeout_cancel_is_booked_and_filled(self):
        """A full fill landing while the timeout cancel is in flight ends FILLED, never cancelled."""
        t = make()
        feed(t, [*RESTING, TimeoutReached(160.0)])
        got = feed(t, [CancelResult(CancelOutcome.NOT_FOUND, 160.4)])
        assert names(got) == ["ReadBackOrderAndFills"]
        assert t.state is S.READING_BACK
        got = t.handle(ReadBack(snap("executed", "100"), (fill("race", "100"),), 160.8))
        assert finish_of(got).confirmation.status is ConfirmationStatus.FILLED
        assert feed(t, [fill("race", "100")]) == []

    def test_rest_lag_after_cancel_rereads_until_fills_appear(self):
        """When REST still shows fewer fills than the cancel proved, the tracker reads again."""
        t = make()
        feed(t, [*RESTING, TimeoutReached(160.0), CancelResult(CancelOutcome.OK, 160.4, D(50))])
        got = t.handle(ReadBack(snap("resting", "0", "100"), (), 161.0))
        assert names(got) == ["ReadBackOrderAndFills"]
        got = t.handle(ReadBack(snap("canceled", "50"), (fill("a", "20"),), 162.0))
        assert names(got) == ["BookFill", "ReadBackOrderAndFills"]
        got = t.handle(ReadBack(snap("canceled", "50"), (fill("a", "20"), fill("b", "30")), 163.0))
        conf = finish_of(got).confirmation
        assert (conf.status, conf.filled_count) == (ConfirmationStatus.TIMEOUT, D(50))

    def test_cancel_not_found_rereads_before_any_state_change(self):
        """A 404 on cancel (order just filled) re-reads order and fills instead of dropping the order."""
        t = make()
        feed(t, [*RESTING, CancelRequested(101.0)])
        got = t.handle(CancelResult(CancelOutcome.NOT_FOUND, 101.2))
        assert names(got) == ["ReadBackOrderAndFills"]
        assert not t.terminal


class TestCancel:
    def test_fill_after_cancel_request_is_booked(self):
        """A fill that arrives after the cancel request is booked and reported."""
        t = make()
        feed(t, [*RESTING, CancelRequested(101.0)])
        assert names(t.handle(fill("late", "10"))) == ["BookFill"]
        feed(t, [CancelResult(CancelOutcome.OK, 101.5, D(90))])
        got = t.handle(ReadBack(snap("canceled", "10"), (fill("late", "10"),), 102.0))
        conf = finish_of(got).confirmation
        assert (conf.status, conf.filled_count, conf.unfilled_count, conf.remaining_count) == (
            ConfirmationStatus.CANCELED, D(10), D(90), 0)
        assert conf.reason == "CANCEL_REQUESTED"

    def test_ambiguous_cancel_on_resting_order_cancels_again(self):
        """An ambiguous cancel whose read-back shows the order still resting sends another cancel."""
        t = make()
        feed(t, [*RESTING, CancelRequested(101.0), CancelResult(CancelOutcome.AMBIGUOUS, 101.5)])
        got = t.handle(ReadBack(snap("resting", "0", "100"), (), 102.0))
        assert names(got) == ["RequestCancel"]

    def test_cancel_requested_before_create_answer_is_sent_after(self):
        """A cancel asked for while the create is in flight is sent once the order id is known."""
        t = make()
        feed(t, [*SENT, CancelRequested(100.15)])
        assert names(t.handle(Sent("o1", D(0), D(100), 100.2))) == ["RequestCancel"]

    def test_exchange_cancel_with_partial_fill_reports_partial(self):
        """An exchange-side cancel (pause, close) after some fills reports PARTIAL with those fills."""
        t = make()
        got = feed(t, [*PARTIAL, OrderUpdate(ExchangeStatus.CANCELED, D(10), D(0), 101.0)])
        conf = finish_of(got).confirmation
        assert (conf.status, conf.filled_count) == (ConfirmationStatus.PARTIAL, D(10))

    def test_exchange_cancel_reported_before_its_fills_waits_for_them(self):
        """A cancel update that reports fills not yet booked waits for them instead of finishing."""
        t = make()
        got = feed(t, [*RESTING, OrderUpdate(ExchangeStatus.CANCELED, D(20), D(0), 101.0)])
        assert not any(isinstance(a, Finish) for a in got)
        got = t.handle(fill("a", "20"))
        assert finish_of(got).confirmation.filled_count == D(20)


class TestStreamFills:
    def test_duplicated_and_reordered_fills_book_once(self):
        """Any order and duplication of the same stream fills books each trade once, same result."""
        base = [fill(f"t{i}", c, f"0.4{i}00") for i, c in enumerate(["10", "25", "5", "30", "7"])]
        results = set()
        rng = random.Random(4)
        for _ in range(30):
            t = make()
            feed(t, RESTING)
            stream = base + rng.sample(base, 3)
            rng.shuffle(stream)
            booked = [a.trade_id for a in feed(t, stream) if isinstance(a, BookFill)]
            assert sorted(booked) == sorted(f.trade_id for f in base)
            c = t.confirmation(200.0, ConfirmationStatus.PARTIAL)
            results.add((c.filled_count, c.average_price, c.fees))
        assert len(results) == 1

    def test_conflicting_duplicate_is_flagged_not_booked(self):
        """A trade_id seen again with different figures is flagged and the first version kept."""
        t = make()
        feed(t, [*RESTING, fill("a", "10")])
        got = t.handle(fill("a", "12"))
        assert names(got) == ["FlagDiscrepancy"]
        assert t.booked == D(10)

    def test_overfill_is_flagged_not_booked(self):
        """A fill pushing the cumulative count above the order size is flagged loudly, never booked."""
        t = make()
        feed(t, [*RESTING, fill("a", "60")])
        got = t.handle(fill("b", "50"))
        assert names(got) == ["FlagDiscrepancy"]
        assert "overfill" in got[0].detail
        assert t.booked == D(60)

    def test_fill_for_another_order_is_not_booked(self):
        """A fill carrying another order_id is flagged and not booked against this order."""
        t = make()
        feed(t, RESTING)
        got = t.handle(fill("z", "5", order_id="other"))
        assert names(got) == ["FlagDiscrepancy"]
        assert t.booked == 0

    def test_fill_before_create_response_is_kept(self):
        """A stream fill that beats the create response is booked and counted when the response lands."""
        t = make(tif="ioc")
        feed(t, [*SENT, fill("a", "40")])
        got = t.handle(Sent("o1", D(40), D(0), 100.3))
        conf = finish_of(got).confirmation
        assert (conf.status, conf.filled_count) == (ConfirmationStatus.PARTIAL, D(40))


class TestUnknown:
    def test_fill_on_unknown_order_resolves_it(self):
        """A fill for an UNKNOWN order proves it exists: booked, state leaves UNKNOWN, order re-read."""
        t = make()
        feed(t, UNKNOWN)
        got = t.handle(fill("a", "10"))
        assert names(got) == ["BookFill", "ReadBackOrderAndFills"]
        assert (t.state, t.order_id) == (S.PARTIAL, "o1")

    def test_unknown_fill_after_timeout_cancels_remainder(self):
        """A fill on an UNKNOWN order after the timeout cancels the remainder right away."""
        t = make()
        feed(t, [*UNKNOWN, TimeoutReached(160.0)])
        assert names(t.handle(fill("a", "10"))) == ["BookFill", "RequestCancel"]

    def test_unresolved_unknown_stays_unknown(self):
        """Lookups that keep finding nothing leave the order UNKNOWN; it is never assumed dead."""
        t = make()
        feed(t, UNKNOWN)
        actions = feed(t, [ReadBack(None, (), 101.0 + i) for i in range(10)])
        assert t.state is S.UNKNOWN
        assert names(actions).count("RetrySend") == 1
        assert [a.attempt for a in actions if isinstance(a, ResolveUnknown)] == list(range(2, 11))

    def test_unknown_at_timeout_replies_unknown_and_keeps_tracking(self):
        """At the timeout an UNKNOWN order is reported UNKNOWN (not final) and later resolved."""
        t = make()
        feed(t, UNKNOWN)
        got = t.handle(TimeoutReached(160.0))
        first = finish_of(got)
        assert (first.confirmation.status, first.final) == (ConfirmationStatus.UNKNOWN, False)
        got = t.handle(ReadBack(snap("resting", "0", "100"), (), 161.0))
        assert names(got) == ["RequestCancel"]
        feed(t, [CancelResult(CancelOutcome.OK, 161.5, D(100))])
        last = finish_of(t.handle(ReadBack(snap("canceled", "0"), (), 162.0)))
        assert last.final
        assert last.confirmation.status is ConfirmationStatus.TIMEOUT

    def test_two_xx_without_order_is_unknown_not_success(self):
        """A 2xx without an order_id (classified Ambiguous) makes the order UNKNOWN, never filled."""
        t = make()
        got = feed(t, [*SENT, Ambiguous("201 without order_id", 100.2)])
        assert t.state is S.UNKNOWN
        assert names(got) == ["ResolveUnknown"]

    def test_retry_with_same_id_and_409_resolves_by_client_order_id(self):
        """Ambiguous create, nothing found, retry (same id) gets 409: resolved via the listing, one order."""
        t = make()
        feed(t, UNKNOWN)
        got = t.handle(ReadBack(None, (), 101.0))
        assert got == [RetrySend("cid-1")]
        got = t.handle(Rejected("order_already_exists", 101.2))
        assert isinstance(got[0], ResolveUnknown)
        assert got[0].client_order_id == "cid-1"
        got = t.handle(ReadBack(snap("resting", "0", "100", order_id="first"), (), 101.5))
        assert (t.state, t.order_id) == (S.RESTING, "first")
        assert feed(t, [ReadBack(None, (), 102.0)]) == [ReadBackOrderAndFills("first", 1)]

    def test_409_on_first_send_never_retries(self):
        """A 409 order_already_exists means the first attempt landed; the tracker never re-sends."""
        t = make()
        feed(t, [*SENT, Rejected("order_already_exists", 100.3)])
        actions = feed(t, [ReadBack(None, (), 101.0 + i) for i in range(3)])
        assert "RetrySend" not in names(actions)
        assert t.state is S.UNKNOWN

    def test_retry_that_lands_proceeds_normally(self):
        """A retry answered 201 turns the UNKNOWN order into a resting one."""
        t = make()
        feed(t, [*UNKNOWN, ReadBack(None, (), 101.0)])
        t.handle(Sent("o2", D(0), D(100), 101.3))
        assert (t.state, t.order_id) == (S.RESTING, "o2")


class TestImmediateOrders:
    def test_ioc_filled_instantly_found_through_fills(self):
        """An IOC that filled and never rested is confirmed from its fills, never marked rejected."""
        t = make(tif="ioc")
        feed(t, [*SENT, Sent("o1", D(100), D(0), 100.2), StreamStale(115.0)])
        got = t.handle(ReadBack(None, (fill("a", "60"), fill("b", "40")), 116.0))
        assert finish_of(got).confirmation.status is ConfirmationStatus.FILLED

    def test_ioc_without_fill_is_canceled(self):
        """An IOC that matched nothing finishes CANCELED at once."""
        t = make(tif="ioc")
        got = feed(t, [*SENT, Sent("o1", D(0), D(0), 100.2)])
        assert finish_of(got).confirmation.status is ConfirmationStatus.CANCELED

    def test_fok_waits_for_its_fills(self):
        """A FOK whose response reports 100 filled waits for the fills before finishing."""
        t = make(tif="fok")
        assert feed(t, [*SENT, Sent("o1", D(100), D(0), 100.2)]) == []
        assert finish_of(t.handle(fill("a", "100"))).confirmation.status is ConfirmationStatus.FILLED


class TestConfirmationFigures:
    def test_decimal_exactness(self):
        """Average price, fees and counts are exact decimals, rounded only on the wire."""
        t = make(count="100.00", price="0.35")
        fills = [fill("a", "33.33", "0.3333", "0.0052"), fill("b", "33.33", "0.3334", "0.0052"),
                 fill("c", "33.34", "0.3300", "0.0053")]
        conf = finish_of(feed(t, [*SENT, Sent("o1", D(0), D(100), 100.2), *fills])).confirmation
        expected = (Fraction("33.33") * Fraction("0.3333") + Fraction("33.33") * Fraction("0.3334")
                    + Fraction("33.34") * Fraction("0.33")) / 100
        assert Fraction(conf.average_price) == expected
        assert conf.fees == D("0.0157")
        assert conf.filled_count == D("100.00")
        body = conf.to_json()
        assert body["average_price"] == "0.3322"
        assert body["fees"] == "0.015700"
        assert body["filled_count"] == "100.00"
        assert body["remaining_count"] == "0.00"

    def test_no_outcome_prices_and_slippage(self):
        """A NO buy reports prices of NO and slippage against its limit and reference price."""
        t = make(outcome="no", price="0.40", ref="0.38", count="10")
        got = feed(t, [*SENT, Sent("o1", D(0), D(10), 100.2), fill("a", "10", yes_price="0.6100")])
        conf = finish_of(got).confirmation
        assert conf.average_price == D("0.3900")
        assert conf.slippage.vs_limit.cents_per_contract == D("-1.0000")
        assert conf.slippage.vs_reference.dollars == D("0.1000")

    def test_latency_from_creation(self):
        """latency_ms runs from tracker creation to the finishing event."""
        t = make()
        conf = finish_of(feed(t, [*RESTING, fill("a", "100", ts=100.25)])).confirmation
        assert conf.latency_ms == 250

    def test_rejection_carries_code(self):
        """A definitive rejection reports REJECTED with the exchange's code and nothing filled."""
        t = make()
        conf = finish_of(feed(t, [*SENT, Rejected("invalid_order", 100.3, "post only cross")])).confirmation
        body = conf.to_json()
        assert (body["status"], body["reason"], body["filled_count"]) == ("REJECTED", "invalid_order", "0.00")

    def test_order_state_maps_sub_states(self):
        """Internal sub-states report a ledger state of RESTING or PARTIAL."""
        t = make()
        feed(t, CANCEL_PENDING)
        assert t.order_state is S.RESTING
        t.handle(fill("a", "5"))
        assert t.order_state is S.PARTIAL

    def test_flag_detail_names_the_order(self):
        """Discrepancy details name the client order id so an operator can find it."""
        t = make()
        feed(t, FILLED)
        got = t.handle(fill("b", "1"))
        assert isinstance(got[0], FlagDiscrepancy)
        assert "cid-1" in got[0].detail


class TestNotFoundNeverDrops:
    def test_not_found_reads_keep_a_resting_order_tracked(self):
        """Repeated not-found read-backs of a known order keep it tracked and re-read, never cancelled."""
        t = make()
        feed(t, [*RESTING, StreamStale(120.0)])
        actions = feed(t, [ReadBack(None, (), 121.0 + i) for i in range(5)])
        assert t.state is S.RESTING
        assert names(actions) == ["ReadBackOrderAndFills"] * 5
        assert not any(isinstance(a, Finish) for a in actions)
