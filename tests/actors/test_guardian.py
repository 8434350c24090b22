"""Specification of the guardian's kill switches: each trips the gate HALTED, audits and stays latched."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_guard.actors.base import ActorContext, HeartbeatBoard
from kalshi_guard.actors.guardian import Guardian
from kalshi_guard.actors.messages import (
    ApiError,
    ApiSuccess,
    BalanceObserved,
    Discrepancy,
    DiscrepancyKind,
    EmergencyStop,
    FillBooked,
    Reset,
)
from kalshi_guard.actors.peers import Peers
from kalshi_guard.config.schema import Settings
from kalshi_guard.core.gate import GateState, TradingGate
from kalshi_guard.ledger import Ledger


class Rig:
    def __init__(self, tmp: Path, clock: Callable[[], float] = time.time, **limits: object) -> None:
        self.ledger = Ledger.open(f"sqlite:///{tmp / 'ledger.sqlite'}")
        self.gate = TradingGate(persist=self.ledger.save_gate)
        self.gate.mark_ready()
        base = Settings()
        self.settings = base.model_copy(update={"limits": base.limits.model_copy(update=limits)})
        peers = Peers(["guardian"])
        ctx = ActorContext("guardian", 1, self.gate, HeartbeatBoard(), queue.Queue(), peers,
                           {"ledger": self.ledger, "settings": self.settings}, clock=clock)
        self.ref = Guardian.start(ctx)
        peers["guardian"].ref = self.ref

    def send(self, *messages: object) -> None:
        for m in messages:
            self.ref.tell(m)
        self.ref.ask(ApiSuccess("sync", 0), timeout=10)  # an ask after the tells: they have been handled

    def kill_switch_rows(self) -> list:
        return self.ledger.activity("KILL_SWITCH", limit=10)


@pytest.fixture
def rig_factory(tmp_path: Path) -> Iterator:
    made: list[Rig] = []

    def make(clock: Callable[[], float] = time.time, **limits: object) -> Rig:
        r = Rig(tmp_path, clock, **limits)
        made.append(r)
        return r

    yield make
    for r in made:
        r.ref.stop()
        r.ledger.close()


class TestApiErrorRate:
    def test_trips_above_the_rate_with_enough_calls(self, rig_factory) -> None:
        """More than max_api_error_rate of the calls in the window failing halts trading."""
        r = rig_factory(max_api_error_rate=Decimal("0.5"), api_error_min_calls=10)
        r.send(ApiSuccess("order_placer", 4), *[ApiError("order_placer", "Ambiguous")] * 5)
        assert r.gate.state is GateState.ACTIVE, "9 calls: below the minimum sample"
        r.send(ApiError("order_placer", "Ambiguous"))
        assert r.gate.state is GateState.HALTED
        assert "api_error_rate" in r.kill_switch_rows()[0].message

    def test_a_healthy_rate_does_not_trip(self, rig_factory) -> None:
        """A few errors among many successes leave the gate open."""
        r = rig_factory(max_api_error_rate=Decimal("0.5"), api_error_min_calls=10)
        r.send(ApiSuccess("order_placer", 50), *[ApiError("order_placer", "Ambiguous")] * 10)
        assert r.gate.state is GateState.ACTIVE


    def test_calls_older_than_the_window_no_longer_count(self, rig_factory) -> None:
        """Failures that have left the window are forgotten with their calls: a later burst is judged on
        the window alone."""
        now = [1000.0]
        r = rig_factory(clock=lambda: now[0], max_api_error_rate=Decimal("0.5"), api_error_min_calls=10,
                        api_error_window_s=60)
        r.send(ApiSuccess("order_placer", 1), *[ApiError("order_placer", "Ambiguous")] * 8)
        assert r.gate.state is GateState.ACTIVE, "9 calls: below the minimum sample"
        now[0] += 61
        r.send(ApiSuccess("order_placer", 6), *[ApiError("order_placer", "Ambiguous")] * 4)
        assert r.gate.state is GateState.ACTIVE, "4 of 10 in the window (the 8 old failures left it)"
        r.send(ApiError("order_placer", "Ambiguous"), ApiError("order_placer", "Ambiguous"))
        assert r.gate.state is GateState.ACTIVE, "6 of 12: not above 0.5"
        r.send(ApiError("order_placer", "Ambiguous"))
        assert r.gate.state is GateState.HALTED, "7 of 13 in the window"


class TestLosses:
    def test_consecutive_losing_trades_trip(self, rig_factory) -> None:
        """max_consecutive_losses closing fills in a row with negative P&L halt; a win resets the streak."""
        r = rig_factory(max_consecutive_losses=3)
        loss = FillBooked("t", "c", "KX-A", Decimal(1), Decimal("0.5"), Decimal(0), Decimal("-0.10"))
        win = FillBooked("t", "c", "KX-A", Decimal(1), Decimal("0.5"), Decimal(0), Decimal("0.10"))
        r.send(loss, loss, win, loss, loss)
        assert r.gate.state is GateState.ACTIVE
        r.send(loss)
        assert r.gate.state is GateState.HALTED
        assert "consecutive_losses" in r.kill_switch_rows()[0].message

    def test_daily_loss_from_the_ledger_trips(self, rig_factory) -> None:
        """Realised P&L (net of fees) at or below -max_daily_loss halts; the figure is the ledger's."""
        from kalshi_guard.ledger import FillRecord

        r = rig_factory(max_daily_loss=Decimal("5"), max_consecutive_losses=100)
        now = datetime.now(UTC).timestamp()
        r.ledger.book_fill(FillRecord("b1", None, None, "KX-A", "bid", Decimal(10), Decimal("0.90"), Decimal(0),
                                      True, now))
        result = r.ledger.book_fill(FillRecord("s1", None, None, "KX-A", "ask", Decimal(10), Decimal("0.30"),
                                               Decimal(0), True, now))
        assert result.realized_pnl == Decimal("-6")
        r.send(FillBooked("s1", "", "KX-A", Decimal(10), Decimal("0.30"), Decimal(0), result.realized_pnl))
        assert r.gate.state is GateState.HALTED
        assert "daily_loss" in r.kill_switch_rows()[0].message


class TestBalanceAndDiscrepancies:
    def test_balance_drop_against_the_day_start_trips(self, rig_factory) -> None:
        """The first balance of the day is the anchor; a drop of max_balance_drop or more halts."""
        r = rig_factory(max_balance_drop=Decimal("0.2"))
        r.send(BalanceObserved(Decimal("1000")), BalanceObserved(Decimal("850")))
        assert r.gate.state is GateState.ACTIVE
        r.send(BalanceObserved(Decimal("799")))
        assert r.gate.state is GateState.HALTED
        assert "balance_drop" in r.kill_switch_rows()[0].message

    def test_an_orphan_halts_and_a_ghost_only_warns(self, rig_factory) -> None:
        """An orphaned fill halts at once; a ghost position is reported without halting."""
        r = rig_factory()
        r.send(Discrepancy(DiscrepancyKind.GHOST, "KX-A", "closed on the exchange"))
        assert r.gate.state is GateState.ACTIVE
        r.send(Discrepancy(DiscrepancyKind.ORPHAN, "KX-A", "fill of unknown order"))
        assert r.gate.state is GateState.HALTED


class TestLatch:
    def test_a_trip_stays_until_an_audited_reset(self, rig_factory) -> None:
        """After a trip, further good news does not reopen the gate; only Reset with a reason does."""
        r = rig_factory()
        r.send(EmergencyStop("test", "drill"), ApiSuccess("order_placer", 100))
        assert r.gate.state is GateState.HALTED
        with pytest.raises(ValueError, match="reason"):
            r.ref.ask(Reset("test", "  "), timeout=10)
        assert r.gate.state is GateState.HALTED
        r.ref.ask(Reset("test", "reviewed"), timeout=10)
        assert r.gate.state is GateState.ACTIVE
        assert r.ledger.activity("RESET", limit=1)[0].details["from"] == "HALTED"
