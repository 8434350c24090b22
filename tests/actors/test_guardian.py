"""Specification of the guardian's six kill-switch triggers: each trips at its limit and not one step before,
acts through the kill switch (one KILL_SWITCH row), fails closed, and stays latched until a reset."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_guard.actors.base import ActorContext, HeartbeatBoard
from kalshi_guard.actors.guardian import Guardian
from kalshi_guard.actors.killswitch import KillSwitch
from kalshi_guard.actors.messages import (
    ApiError,
    ApiSuccess,
    BalanceObserved,
    Discrepancy,
    DiscrepancyKind,
    EmergencyStop,
    FillBooked,
    LimitsQuery,
    Reset,
)
from kalshi_guard.actors.peers import Peers
from kalshi_guard.actors.services import ServicesCell
from kalshi_guard.config.schema import Settings
from kalshi_guard.core.gate import GateState, TradingGate
from kalshi_guard.ledger import Ledger


class Rig:
    def __init__(self, tmp: Path, clock: Callable[[], float] = time.time, ledger: Ledger | None = None,
                 **limits: object) -> None:
        self.ledger = ledger or Ledger.open(f"sqlite:///{tmp / 'ledger.sqlite'}")
        saved = self.ledger.load_gate()
        self.gate = TradingGate(saved, persist=self.ledger.save_gate)
        self.gate.mark_ready()
        base = Settings()
        self.settings = base.model_copy(update={"limits": base.limits.model_copy(update=limits)})
        peers = Peers(["guardian"])
        services = ServicesCell({"ledger": self.ledger, "settings": self.settings})
        self.switch = KillSwitch(self.gate, peers, services, targets=tuple)
        services.swap(killswitch=self.switch)
        ctx = ActorContext("guardian", 1, self.gate, HeartbeatBoard(), queue.Queue(), peers, services, clock=clock)
        self.ref = Guardian.start(ctx)
        peers["guardian"].ref = self.ref

    def send(self, *messages: object) -> None:
        for m in messages:
            self.ref.tell(m)
        self.ref.ask(ApiSuccess("sync", 0), timeout=10)  # an ask after the tells: they have been handled

    def kill_switch_rows(self) -> list:
        """The KILL_SWITCH rows, once the stop under way (if any) has run every step."""
        if self.switch.last is not None:
            assert self.switch.last.wait(10)
        return self.ledger.activity("KILL_SWITCH", limit=10)

    def round_trip(self, n: int, buy: str, sell: str, fee: str = "0", at: float | None = None) -> None:
        """Book a long-YES round trip of one contract in the ledger (buy, then sell), and tell the guardian."""
        from kalshi_guard.ledger import FillRecord

        at = at if at is not None else time.time()
        self.ledger.book_fill(FillRecord(f"b{n}", None, None, "KX-A", "bid", Decimal(1), Decimal(buy), Decimal(fee),
                                         True, at))
        res = self.ledger.book_fill(FillRecord(f"s{n}", None, None, "KX-A", "ask", Decimal(1), Decimal(sell),
                                               Decimal(fee), True, at))
        self.send(FillBooked(f"s{n}", "", "KX-A", Decimal(1), Decimal(sell), Decimal(fee) * 2, res.realized_pnl))


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
    def test_trips_at_the_rate_with_enough_calls_and_not_before(self, rig_factory) -> None:
        """At max_api_error_rate of the calls in the window (with the minimum sample) trading halts; one
        call short of the sample, the same failures do not."""
        r = rig_factory(max_api_error_rate=Decimal("0.5"), api_error_min_calls=10)
        r.send(ApiSuccess("order_placer", 5), *[ApiError("order_placer", "Ambiguous")] * 4)
        assert r.gate.state is GateState.ACTIVE, "9 calls: below the minimum sample"
        r.send(ApiError("order_placer", "Ambiguous"))
        assert r.gate.state is GateState.HALTED, "5 of 10 failed: at the limit"
        assert r.kill_switch_rows()[0].details["code"] == "API_ERROR_RATE"

    def test_a_healthy_rate_does_not_trip(self, rig_factory) -> None:
        """A few errors among many successes leave the gate open."""
        r = rig_factory(max_api_error_rate=Decimal("0.5"), api_error_min_calls=10)
        r.send(ApiSuccess("order_placer", 50), *[ApiError("order_placer", "Ambiguous")] * 10)
        assert r.gate.state is GateState.ACTIVE

    def test_calls_older_than_the_window_no_longer_count(self, rig_factory) -> None:
        """Failures that have left the window are forgotten with their calls."""
        now = [1000.0]
        r = rig_factory(clock=lambda: now[0], max_api_error_rate=Decimal("0.5"), api_error_min_calls=10,
                        api_error_window_s=60)
        r.send(ApiSuccess("order_placer", 1), *[ApiError("order_placer", "Ambiguous")] * 8)
        assert r.gate.state is GateState.ACTIVE, "9 calls: below the minimum sample"
        now[0] += 61
        r.send(ApiSuccess("order_placer", 7), *[ApiError("order_placer", "Ambiguous")] * 4)
        assert r.gate.state is GateState.ACTIVE, "4 of 11 in the window (the 8 old failures left it)"
        r.send(ApiError("order_placer", "Ambiguous"), ApiError("order_placer", "Ambiguous"))
        assert r.gate.state is GateState.ACTIVE, "6 of 13"
        r.send(ApiError("order_placer", "Ambiguous"))
        assert r.gate.state is GateState.HALTED, "7 of 14 in the window: at 0.5"


class TestLosses:
    def test_a_streak_of_losing_round_trips_trips_at_the_limit(self, rig_factory) -> None:
        """Four losing round trips in a row (the default) halt; three do not; a win restarts the count.
        The streak is the ledger's: round trips net of fees."""
        r = rig_factory(max_daily_loss=Decimal("1000"))
        assert r.settings.limits.max_consecutive_losses == 4
        r.round_trip(1, "0.50", "0.40")
        r.round_trip(2, "0.50", "0.40")
        r.round_trip(3, "0.50", "0.60")  # a win
        for n in (4, 5, 6):
            r.round_trip(n, "0.50", "0.45")
        assert r.gate.state is GateState.ACTIVE, "three losses in a row"
        r.round_trip(7, "0.50", "0.50", fee="0.01")  # flat price, but the fees make it a loss
        assert r.gate.state is GateState.HALTED
        assert r.kill_switch_rows()[0].details["code"] == "LOSING_STREAK"

    def test_daily_loss_trips_at_the_limit_and_not_a_cent_before(self, rig_factory) -> None:
        """Realised P&L net of fees reaching -max_daily_loss halts; a cent less does not."""
        r = rig_factory(max_daily_loss=Decimal("0.30"), max_consecutive_losses=100)
        r.round_trip(1, "0.60", "0.40")  # -0.20
        r.round_trip(2, "0.50", "0.41")  # -0.09: -0.29 today
        assert r.gate.state is GateState.ACTIVE
        reading = {x["code"]: x for x in r.ref.ask(LimitsQuery(), timeout=10)}["DAILY_LOSS"]
        assert (Decimal(reading["value"]), Decimal(reading["distance"])) == (Decimal("0.29"), Decimal("0.01"))
        r.round_trip(3, "0.50", "0.49")  # -0.01: -0.30
        assert r.gate.state is GateState.HALTED
        assert r.kill_switch_rows()[0].details["code"] == "DAILY_LOSS"

    def test_a_throwing_trigger_halts(self, rig_factory) -> None:
        """An exception while evaluating a trigger trips it (fail closed): here the ledger is closed."""
        r = rig_factory()
        r.ledger.close()
        r.send(FillBooked("x", "", "KX-A", Decimal(1), Decimal("0.5"), Decimal(0), Decimal(0)))
        assert r.gate.state is GateState.HALTED
        assert r.switch.last is not None
        assert r.switch.last.code == "DAILY_LOSS", "the first trigger the fill moves"
        assert "evaluation failed" in r.switch.last.reason


class TestBalanceAndDiscrepancies:
    def test_portfolio_drop_against_the_day_anchor_trips_at_the_limit(self, rig_factory) -> None:
        """The first portfolio reading of the day anchors it; a drop of max_balance_drop halts, less does not."""
        r = rig_factory(max_balance_drop=Decimal("0.2"))
        r.send(BalanceObserved(Decimal("1000")), BalanceObserved(Decimal("801")))
        assert r.gate.state is GateState.ACTIVE
        r.send(BalanceObserved(Decimal("800")))
        assert r.gate.state is GateState.HALTED
        assert r.kill_switch_rows()[0].details["code"] == "PORTFOLIO_DROP"

    def test_an_orphan_halts_and_a_ghost_only_warns(self, rig_factory) -> None:
        """An orphaned fill halts at once; a ghost position is reported without halting."""
        r = rig_factory()
        r.send(Discrepancy(DiscrepancyKind.GHOST, "KX-A", "closed on the exchange"))
        assert r.gate.state is GateState.ACTIVE
        r.send(Discrepancy(DiscrepancyKind.ORPHAN, "KX-A", "fill of unknown order"))
        assert r.gate.state is GateState.HALTED
        assert r.kill_switch_rows()[0].details["code"] == "ORPHAN"

    def test_a_reduce_action_moves_the_gate_to_reducing(self, rig_factory) -> None:
        """guardian.orphan_action = reduce: the gate goes REDUCING (not HALTED), audited."""
        from kalshi_guard.config.schema import TriggerAction

        r = rig_factory()
        g = r.settings.guardian
        r.settings = r.settings.model_copy(update={"guardian": g.model_copy(update={
            "orphan_action": TriggerAction.REDUCE})})
        r.ref.proxy().ctx.get().services.swap(settings=r.settings)
        r.send(Discrepancy(DiscrepancyKind.ORPHAN, "KX-A", "fill of unknown order"))
        assert r.gate.state is GateState.REDUCING
        assert r.ledger.activity("KILL_SWITCH", limit=1)[0].details["action"] == "reduce"


class TestLatch:
    def test_a_trip_stays_until_an_audited_reset(self, rig_factory) -> None:
        """After a trip, further good news does not reopen the gate; only Reset with a reason does."""
        r = rig_factory()
        r.switch.stop("drill", "test")
        r.send(EmergencyStop("test", "drill"), ApiSuccess("order_placer", 100))
        assert r.gate.state is GateState.HALTED
        with pytest.raises(ValueError, match="reason"):
            r.ref.ask(Reset("test", "  "), timeout=10)
        assert r.gate.state is GateState.HALTED
        r.ref.ask(Reset("test", "reviewed"), timeout=10)
        assert r.gate.state is GateState.ACTIVE
        assert r.ledger.activity("RESET", limit=1)[0].details["from"] == "HALTED"
        assert len(r.kill_switch_rows()) == 1, "one stop, one KILL_SWITCH row"


class TestLedgerDerived:
    def test_a_losing_settlement_counts_in_daily_loss_and_the_streak(self, rig_factory) -> None:
        """A position closed by a settlement at 0 is a losing round trip and today's realised loss, read
        from the ledger's settlement records (whoever booked them)."""
        from kalshi_guard.ledger import FillRecord

        r = rig_factory(max_daily_loss=Decimal("3"), max_consecutive_losses=2)
        r.round_trip(1, "0.50", "0.40")
        r.ledger.book_fill(FillRecord("b9", None, None, "KX-S", "bid", Decimal(5), Decimal("0.50"), Decimal(0), True,
                                      time.time()))
        assert r.gate.state is GateState.ACTIVE
        r.ledger.close_position_on_evidence("KX-S", "settled NO", exit_price=Decimal(0))
        r.send(FillBooked("probe", "", "KX-S", Decimal(1), Decimal(0), Decimal(0), Decimal(0)))
        assert r.gate.state is GateState.HALTED
        assert r.switch.last is not None
        assert r.switch.last.code == "LOSING_STREAK"
        readings = {x["code"]: x for x in r.ref.ask(LimitsQuery(), timeout=10)}
        assert Decimal(readings["LOSING_STREAK"]["value"]) == 2

    def test_the_streak_survives_a_restart_and_a_reset_restarts_it(self, rig_factory, tmp_path: Path) -> None:
        """Three losses, a new guardian on the same ledger, the fourth halts; after an audited reset a new
        guardian starts the count again from the reset (its RESET row marks the tape)."""
        r = rig_factory(max_daily_loss=Decimal(1000))
        for n in range(1, 4):
            r.round_trip(n, "0.50", "0.40")
        r.ref.stop()
        r2 = Rig(tmp_path, time.time, max_daily_loss=Decimal(1000), ledger=r.ledger)
        r2.round_trip(4, "0.50", "0.40")
        assert r2.gate.state is GateState.HALTED
        r2.ref.ask(Reset("test", "reviewed"), timeout=10)
        r2.ref.stop()
        r3 = Rig(tmp_path, time.time, max_daily_loss=Decimal(1000), ledger=r.ledger)
        r3.round_trip(5, "0.50", "0.40")
        readings = {x["code"]: x for x in r3.ref.ask(LimitsQuery(), timeout=10)}
        assert Decimal(readings["LOSING_STREAK"]["value"]) == 1
        assert r3.gate.state is GateState.ACTIVE
        r3.ref.stop()
